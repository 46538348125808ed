package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/historiaehr/historia/internal/pgtest"
)

// syncBuffer is a bytes.Buffer that a running command writes to while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runningDemo is `historia demo` running in the test binary.
type runningDemo struct {
	base   string // http://host:port
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

var runningAt = regexp.MustCompile(`running at (http://\S+)/login`)

// startDemo runs `historia demo args...` until it serves, and returns it;
// when it ends before serving it returns its error instead.
func startDemo(t *testing.T, args ...string) (*runningDemo, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &runningDemo{out: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	var errOut syncBuffer
	go func() { d.done <- run(ctx, append([]string{"demo"}, args...), nil, d.out, &errOut, noEnv) }()
	deadline := time.After(5 * time.Minute)
	for {
		if m := runningAt.FindStringSubmatch(d.out.String()); m != nil {
			d.base = m[1]
			t.Cleanup(func() { d.stop(t) })
			return d, nil
		}
		select {
		case err := <-d.done:
			cancel()
			if err == nil {
				t.Fatalf("demo %v ended without serving:\n%s", args, d.out.String())
			}
			return nil, err
		case <-deadline:
			cancel()
			t.Fatalf("demo %v did not serve within 5 minutes:\n%s\n%s", args, d.out.String(), errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop cancels the demo (Ctrl-C) and requires a clean exit; it may be
// called twice.
func (d *runningDemo) stop(t *testing.T) {
	t.Helper()
	if d.done == nil {
		return
	}
	d.cancel()
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("demo ended with %v after Ctrl-C", err)
		}
	case <-time.After(time.Minute):
		t.Error("demo did not stop within a minute")
	}
	d.done = nil
}

// login signs in through the login form and returns the status and the
// redirect.
func login(t *testing.T, base, user, password string) (int, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", base+"/auth", strings.NewReader(url.Values{"username": {user}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

// emptyURL is a fresh, empty database (no schema) on the test server.
func emptyURL(t *testing.T) string {
	t.Helper()
	return pgtest.NewDB(t, "empty", nil)
}

const demoUsers = `SELECT count(*) FROM users u JOIN tenants t ON t.id::text = u.tenant_id::text WHERE t.name = 'Hospital Demo'`

// TestDemoOnDatabase: `historia demo --database-url` migrates and seeds an
// empty database and serves it; a second run is refused without --reuse
// and changes nothing; --reuse serves it again, without re-seeding, with
// the passwords reset to --demo-password; a database holding another
// tenant, or another application's tables, is refused even with --reuse.
func TestDemoOnDatabase(t *testing.T) {
	ctx := context.Background()
	dbURL := emptyURL(t)
	u, _ := url.Parse(dbURL)
	secret, _ := u.User.Password()
	const pw = "demo-password-123"

	d, err := startDemo(t, "--database-url", dbURL, "--addr", "127.0.0.1:0", "--patients", "3", "--demo-password", pw)
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if n := count(t, dbURL, `SELECT count(*) FROM tenants WHERE name = 'Hospital Demo'`); n != 1 {
		t.Fatalf("demo tenants: %d, want 1", n)
	}
	if n := count(t, dbURL, demoUsers); n != 7 {
		t.Errorf("demo users: %d, want 7 (one per role and medico2)", n)
	}
	if n := count(t, dbURL, `SELECT count(*) FROM patients`); n != 3 {
		t.Errorf("patients: %d, want 3", n)
	}
	if code, loc := login(t, d.base, "medico", pw); code != http.StatusSeeOther || loc != "/medico" {
		t.Errorf("login as medico: %d %q", code, loc)
	}
	out := d.out.String()
	for _, want := range []string{"using database", "Seeding", "medico2", pw} {
		if !strings.Contains(out, want) {
			t.Errorf("first run output lacks %q:\n%s", want, out)
		}
	}
	d.stop(t)

	// Again, without --reuse: refused, naming the database without the
	// password, nothing written.
	before := count(t, dbURL, `SELECT count(*) FROM audit_events`)
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"demo", "--database-url", dbURL, "--addr", "127.0.0.1:0", "--patients", "3"}, nil, &stdout, &stderr, noEnv)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "--reuse") {
		t.Fatalf("second run without --reuse: %v, want a refusal naming --reuse", err)
	}
	t.Logf("refusal: %v", err)
	if !strings.Contains(err.Error(), strings.TrimPrefix(u.Path, "/")) || !strings.Contains(err.Error(), u.Host) {
		t.Errorf("refusal does not name the database %s%s: %v", u.Host, u.Path, err)
	}
	if secret != "" && strings.Contains(err.Error()+stdout.String()+stderr.String(), secret) {
		t.Errorf("refusal shows the database password: %v", err)
	}
	if n := count(t, dbURL, `SELECT count(*) FROM tenants`); n != 1 {
		t.Errorf("tenants after the refusal: %d, want 1", n)
	}
	if n := count(t, dbURL, `SELECT count(*) FROM audit_events`); n != before {
		t.Errorf("audit events after the refusal: %d, want %d", n, before)
	}

	// --reuse with a new password: served as it is, passwords reset.
	const pw2 = "otra-clave-demo-456"
	d, err = startDemo(t, "--database-url", dbURL, "--addr", "127.0.0.1:0", "--reuse", "--demo-password", pw2)
	if err != nil {
		t.Fatalf("--reuse: %v", err)
	}
	if !strings.Contains(d.out.String(), "no re-seed") {
		t.Errorf("--reuse output:\n%s", d.out.String())
	}
	if n := count(t, dbURL, `SELECT count(*) FROM patients`); n != 3 {
		t.Errorf("patients after --reuse: %d, want 3", n)
	}
	if code, loc := login(t, d.base, "admisionista", pw2); code != http.StatusSeeOther || loc == "/login" {
		t.Errorf("login with the reset password: %d %q", code, loc)
	}
	if code, loc := login(t, d.base, "medico", pw); code == http.StatusSeeOther && loc == "/medico" {
		t.Error("the old password still signs in after --reuse --demo-password")
	}
	d.stop(t)

	// Another tenant: refused even with --reuse.
	stdout.Reset()
	if err := run(ctx, []string{"tenant", "add", "--database-url", dbURL, "Hospital Real"}, nil, &stdout, &stderr, noEnv); err != nil {
		t.Fatal(err)
	}
	for _, reuse := range []bool{false, true} {
		args := []string{"demo", "--database-url", dbURL, "--addr", "127.0.0.1:0"}
		if reuse {
			args = append(args, "--reuse")
		}
		err := run(ctx, args, nil, &stdout, &stderr, noEnv)
		if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "in use") {
			t.Errorf("reuse=%v on a database with another tenant: %v, want a refusal", reuse, err)
		}
	}
	if n := count(t, dbURL, `SELECT count(*) FROM tenants`); n != 2 {
		t.Errorf("tenants after the refusals: %d, want 2", n)
	}

	// Another application's database: refused, no Historia table made.
	other := emptyURL(t)
	conn := connectT(t, other)
	if _, err := conn.Exec(ctx, `CREATE TABLE facturas (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"demo", "--database-url", other, "--reuse"}, nil, &stdout, &stderr, noEnv)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "another application") {
		t.Errorf("database of another application: %v, want a refusal", err)
	}
	var tenants *string
	if err := conn.QueryRow(ctx, `SELECT to_regclass('tenants')::text`).Scan(&tenants); err != nil || tenants != nil {
		t.Errorf("the refused database got a tenants table (%v, %v)", tenants, err)
	}
}

// TestDemoUsageErrors: flag mistakes of demo are usage errors, before any
// database is started or touched.
func TestDemoUsageErrors(t *testing.T) {
	const unreachable = "postgres://nobody:secret@127.0.0.1:1/none"
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--bogus"}, "bogus"},
		{[]string{"--patients", "0"}, "--patients"},
		{[]string{"--reuse"}, "--reuse"},
		{[]string{"--database-url", unreachable, "--data-dir", t.TempDir()}, "--data-dir"},
		{[]string{"--database-url", unreachable, "extra"}, "argument"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"demo"}, tc.args...), nil, &out, &errOut, noEnv)
		if !errors.Is(err, errUsage) || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("demo %v: %v (exit %d), want a usage error naming %s", tc.args, err, exitCode(err), tc.flag)
		}
		if out.Len() > 0 {
			t.Errorf("demo %v printed %q before refusing", tc.args, out.String())
		}
	}
}

// TestDemoHistories: `historia demo --patients N` beyond the featured
// patients imports a past history for each (ehr's bulk import): every
// patient has a chart of at least ten records and on average more than
// 30 resources, every appointment slot is claimed once, every chain
// verifies, and the progress bar shows the rate.
func TestDemoHistories(t *testing.T) {
	dbURL := emptyURL(t)
	const n = 600
	d, err := startDemo(t, "--database-url", dbURL, "--addr", "127.0.0.1:0", "--patients", fmt.Sprint(n), "--demo-password", "demo-password-123")
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	d.stop(t)
	if got := count(t, dbURL, `SELECT count(*) FROM patients`); got != n {
		t.Fatalf("patients: %d, want %d", got, n)
	}
	const perPatient = `SELECT 1 + (SELECT count(*) FROM encounters e WHERE e.patient_id = p.patient_id)
  + (SELECT count(*) FROM appointments a WHERE a.patient_id = p.patient_id)
  + (SELECT count(*) FROM observations o WHERE o.patient_id = p.patient_id)
  + (SELECT count(*) FROM clinical_notes c WHERE c.patient_id = p.patient_id)
  + (SELECT count(*) FROM conditions c WHERE c.patient_id = p.patient_id)
  + (SELECT count(*) FROM allergies a WHERE a.patient_id = p.patient_id)
  + (SELECT count(*) FROM medication_requests m WHERE m.patient_id = p.patient_id) AS n
FROM patients p WHERE p.updated_by = 'historia-cli' OR p.updated_by = 'hc-anterior'`
	if few := count(t, dbURL, `SELECT count(*) FROM (`+perPatient+`) x WHERE n < 10`); few != 0 {
		t.Errorf("%d imported patients with fewer than 10 resources", few)
	}
	if avg := count(t, dbURL, `SELECT floor(avg(n)) FROM (`+perPatient+`) x`); avg < 30 {
		t.Errorf("imported patients average %d resources, want at least 30", avg)
	}
	if imported := count(t, dbURL, `SELECT count(*) FROM patients WHERE updated_by = 'hc-anterior'`); imported < n-200 {
		t.Errorf("%d patients imported with a history, want at least %d", imported, n-200)
	}
	if dup := count(t, dbURL, `SELECT count(*) FROM (SELECT practitioner_id, slot_start FROM appointment_slots GROUP BY 1, 2 HAVING count(*) > 1) s`); dup != 0 {
		t.Errorf("%d slots claimed twice", dup)
	}
	verifyAll(t, dbURL)
	if out := d.out.String(); !strings.Contains(out, "pacientes/s") || !strings.Contains(out, fmt.Sprintf("%d/%d", n, n)) {
		t.Errorf("progress output:\n%s", out)
	}
}
