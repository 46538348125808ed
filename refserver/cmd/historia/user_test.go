package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
)

const cliPassword = "caballo correcto grapa 7"

// userDB is a migrated database with one tenant; it returns the URL and the
// tenant id.
func userDB(t *testing.T) (string, string) {
	t.Helper()
	url := migratedURL(t)
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"tenant", "add", "--database-url", url, "Hospital CLI"}, nil, &out, &errOut, noEnv); err != nil {
		t.Fatal(err)
	}
	return url, strings.TrimSpace(out.String())
}

func count(t *testing.T, url, sql string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUserLifecycle: add a physician (with the practitioner record), reset
// the password, disable the account; each step shows in the store.
func TestUserLifecycle(t *testing.T) {
	ctx := context.Background()
	url, tenant := userDB(t)
	var out, errOut bytes.Buffer
	add := []string{"user", "add", "--database-url", url, "--tenant", tenant, "--username", "dra.ruiz", "--role", "medico", "--name", "Dra. Elena Ruiz"}
	if err := run(ctx, add, strings.NewReader(cliPassword+"\n"), &out, &errOut, noEnv); err != nil {
		t.Fatalf("user add: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "practitioner") {
		t.Fatalf("user add printed %q", out.String())
	}
	if n := count(t, url, `SELECT count(*) FROM practitioners p JOIN users u ON u.id = p.user_id WHERE u.username = 'dra.ruiz' AND p.name = 'Dra. Elena Ruiz'`); n != 1 {
		t.Fatalf("practitioner records for the new physician: %d, want 1", n)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := auth.NewStore(pool, auth.StoreConfig{})
	key, err := auth.GenerateKey(auth.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewKeySet(auth.EdDSA, key)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(pool, keys, auth.Config{Issuer: "cli-test", Audience: "cli-test"})
	if err != nil {
		t.Fatal(err)
	}
	login := func(pw string) error {
		_, err := svc.Login(ctx, tenant, "dra.ruiz", pw, "127.0.0.1")
		return err
	}
	if err := login(cliPassword); err != nil {
		t.Fatalf("new user cannot authenticate: %v", err)
	}

	const newPassword = "otra clave larga 2026"
	reset := []string{"user", "reset-password", "--database-url", url, "--tenant", tenant, "--username", "dra.ruiz"}
	if err := run(ctx, reset, strings.NewReader(newPassword+"\n"), &out, &errOut, noEnv); err != nil {
		t.Fatalf("reset-password: %v", err)
	}
	if err := login(newPassword); err != nil {
		t.Fatalf("after reset the new password fails: %v", err)
	}
	if err := login(cliPassword); err == nil {
		t.Fatal("after reset the old password still works")
	}

	disable := []string{"user", "disable", "--database-url", url, "--tenant", tenant, "--username", "dra.ruiz"}
	if err := run(ctx, disable, nil, &out, &errOut, noEnv); err != nil {
		t.Fatalf("disable: %v", err)
	}
	u, err := store.UserByUsername(ctx, tenant, "dra.ruiz")
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != auth.StatusDisabled {
		t.Fatalf("status after disable = %q", u.Status)
	}
}

// TestUserAddRejectsBadInput: each mistake is named and nothing is written.
func TestUserAddRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	url, tenant := userDB(t)
	base := func(extra ...string) []string {
		return append([]string{"user", "add", "--database-url", url, "--username", "nuevo"}, extra...)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"unknown role", base("--tenant", tenant, "--role", "cirujano"), cliPassword, "unknown role"},
		{"paciente without patient", base("--tenant", tenant, "--role", "paciente"), cliPassword, "user activation-code"},
		{"paciente with a patient", base("--tenant", tenant, "--role", "paciente", "--patient", "0190a1b2-0000-7000-8000-000000000001"), cliPassword, "user activation-code"},
		{"patient for staff", base("--tenant", tenant, "--role", "secretaria", "--patient", "0190a1b2-0000-7000-8000-000000000001"), cliPassword, "only for role paciente"},
		{"medico without name", base("--tenant", tenant, "--role", "medico"), cliPassword, "--name"},
		{"unknown tenant", base("--tenant", "0190a1b2-0000-7000-8000-0000000000ff", "--role", "secretaria"), cliPassword, "no tenant"},
		{"weak password", base("--tenant", tenant, "--role", "secretaria"), "corta", "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(ctx, tc.args, strings.NewReader(tc.stdin+"\n"), &out, &errOut, noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
			if tc.name != "weak password" && !errors.Is(err, errUsage) && tc.name != "unknown tenant" {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if n := count(t, url, `SELECT count(*) FROM users`); n != 0 {
				t.Fatalf("%d users written after a rejected add", n)
			}
		})
	}
}

// TestUserActivationCode: the operator issues a patient's activation code
// only for a patient of the tenant, and the issue is on the patient's
// chain under the operator's name.
func TestUserActivationCode(t *testing.T) {
	ctx := context.Background()
	url, tenant := userDB(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	repo := ehr.NewRepository(pool)
	p, err := repo.RegisterPatient(app.NewContext(ctx, app.Operator(tenant, app.RoleAdmisionista)), ehr.Patient{DocumentType: "DNI",
		DocumentNumber: "12345678Z", GivenNames: "Ana", FamilyNames: "Prueba", BirthDate: time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC), Sex: "female"})
	if err != nil {
		t.Fatal(err)
	}
	code := func(patient string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, []string{"user", "activation-code", "--database-url", url, "--tenant", tenant, "--patient", patient}, nil, &out, &errOut, noEnv)
		return out.String(), err
	}
	for _, bad := range []string{"0190a1b2-0000-7000-8000-000000000001", "no-uuid", ""} {
		if out, err := code(bad); err == nil {
			t.Errorf("--patient %q: no error, printed %q", bad, out)
		}
	}
	if n := count(t, url, `SELECT count(*) FROM portal_activations`); n != 0 {
		t.Fatalf("%d codes after refusals", n)
	}
	out, err := code(p.ID)
	if err != nil || !strings.Contains(out, "expires") {
		t.Fatalf("activation-code: %q %v", out, err)
	}
	if n := count(t, url, `SELECT count(*) FROM audit_events WHERE patient_id = $1 AND kind = 'portal-activation' AND action = 'create' AND user_id = $2`,
		p.ID, app.OperatorUser); n != 1 {
		t.Fatalf("issue events on the patient's chain: %d, want 1", n)
	}
}
