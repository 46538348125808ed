package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// Security probes of the reference server: object references that do not
// belong together or to the caller's tenant, cross-origin posts on every
// route, bad input, and the headers of every answer.

const randomUUID = "5b0c8a2e-3f4d-4e6a-9b1c-7d2e8f9a0b1c"

// recordState is the version and status of one row, to show that a refused
// request wrote nothing.
func (f *fixture) recordState(t *testing.T, table, id string) string {
	t.Helper()
	var v int
	var st string
	if err := f.pool.QueryRow(context.Background(), "SELECT version, status FROM "+table+" WHERE id = $1", id).Scan(&v, &st); err != nil {
		t.Fatalf("%s %s: %v", table, id, err)
	}
	return fmt.Sprintf("%d/%s", v, st)
}

// chainLength is the number of audit events of a chain (a patient's).
func (f *fixture) chainLength(t *testing.T, chain string) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_events WHERE patient_id::text = $1", chain).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// trailLength is the number of events on the tenant's own chains, all its
// lanes (ehr.TenantChains).
func (f *fixture) trailLength(t *testing.T, tenant string) int {
	t.Helper()
	lanes, err := ehr.TenantChains(tenant)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := f.pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND patient_id = ANY($2::uuid[])",
		tenant, lanes).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// targets of patient pid of tenant A: a note, an open admission and a
// booked appointment (booked here when the demo has none).
type targets struct {
	note, enc, appt    string
	noteV, encV, apptV int
}

func (f *fixture) targetsOf(t *testing.T, pid string) targets {
	t.Helper()
	ctx := context.Background()
	var x targets
	if err := f.pool.QueryRow(ctx, "SELECT id::text, version FROM clinical_notes WHERE patient_id = $1 ORDER BY created_at LIMIT 1", pid).Scan(&x.note, &x.noteV); err != nil {
		t.Fatalf("note of %s: %v", pid, err)
	}
	if err := f.pool.QueryRow(ctx, "SELECT id::text, version FROM encounters WHERE patient_id = $1 AND class = 'inpatient' AND status = 'in-progress'", pid).Scan(&x.enc, &x.encV); err != nil {
		t.Fatalf("admission of %s: %v", pid, err)
	}
	sec := f.token(t, f.a.TenantID, "secretaria")
	start := time.Now().AddDate(0, 0, 30).Truncate(time.Hour)
	var ap struct {
		ID      string
		Version int
	}
	if st := f.api(t, "POST", "/api/v1/appointments", sec, map[string]any{"patient_id": pid, "practitioner_id": f.practitioner(t, f.a.TenantID),
		"start": start, "end": start.Add(20 * time.Minute)}, &ap); st != http.StatusCreated {
		t.Fatalf("book for %s: %d", pid, st)
	}
	x.appt, x.apptV = ap.ID, ap.Version
	return x
}

func (f *fixture) snapshot(t *testing.T, x targets) string {
	return f.recordState(t, "clinical_notes", x.note) + " " + f.recordState(t, "encounters", x.enc) + " " + f.recordState(t, "appointments", x.appt)
}

// TestMismatchedIDsActOnNothing: a record id of patient X under patient Y's
// URL (or with Y's id in the form) is not found, by page and by API, and X's
// record is left as it was. Y is on the same physician's care team, so the
// policy alone would allow the request.
func TestMismatchedIDsActOnNothing(t *testing.T) {
	f := newFixture(t)
	x, y := f.a.PatientID, f.patientB
	tx := f.targetsOf(t, x)
	before := f.snapshot(t, tx)
	v := itoa
	med, _ := f.browserLogin(t, f.a.TenantID, "medico")
	sec, _ := f.browserLogin(t, f.a.TenantID, "secretaria")
	adm, _ := f.browserLogin(t, f.a.TenantID, "admisionista")
	medTok := f.token(t, f.a.TenantID, "medico")
	secTok := f.token(t, f.a.TenantID, "secretaria")
	admTok := f.token(t, f.a.TenantID, "admisionista")
	forms := []struct {
		cookies []*http.Cookie
		path    string
		form    url.Values
	}{
		{med, "/medico/pacientes/" + y + "/notas/" + tx.note + "/firmar", url.Values{"version": {v(tx.noteV)}}},
		{med, "/medico/pacientes/" + y + "/notas/" + tx.note + "/enmendar", url.Values{"version": {v(tx.noteV)}, "body": {"Otro texto"}, "reason": {"Corrección cruzada"}}},
		{med, "/medico/pacientes/" + y + "/error", url.Values{"kind": {"note"}, "record": {tx.note}, "version": {v(tx.noteV)}, "reason": {"Paciente equivocado"}}},
		{sec, "/secretaria/citas/" + tx.appt + "/mover", url.Values{"patient_id": {y}, "version": {v(tx.apptV)}, "date": {time.Now().AddDate(0, 0, 31).Format("2006-01-02")}, "time": {"10:00"}, "minutes": {"20"}}},
		{sec, "/secretaria/citas/" + tx.appt + "/llegada", url.Values{"patient_id": {y}, "version": {v(tx.apptV)}}},
		{sec, "/secretaria/citas/" + tx.appt + "/cancelar", url.Values{"patient_id": {y}, "version": {v(tx.apptV)}, "reason": {"cruzada"}}},
		{adm, "/admisionista/ingresos/" + tx.enc + "/traslado", url.Values{"patient_id": {y}, "version": {v(tx.encV)}, "ward": {"UCI"}, "bed": {"9"}}},
		{adm, "/admisionista/ingresos/" + tx.enc + "/alta", url.Values{"patient_id": {y}, "version": {v(tx.encV)}, "disposition": {"home"}}},
	}
	for _, p := range forms {
		if res := f.post(p.path, p.cookies, p.form); res.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s with patient %s: %d, want 404", p.path, y, res.StatusCode)
		}
	}
	if res := f.get("/medico/pacientes/"+y+"/notas/"+tx.note+"/historial", med, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("history of X's note under Y: %d, want 404", res.StatusCode)
	}
	moved := time.Now().AddDate(0, 0, 32).Truncate(time.Hour)
	calls := []struct {
		tok, path string
		body      map[string]any
	}{
		{medTok, "/api/v1/patients/" + y + "/notes/" + tx.note + "/sign", map[string]any{"version": tx.noteV}},
		{medTok, "/api/v1/patients/" + y + "/notes/" + tx.note + "/amend", map[string]any{"version": tx.noteV, "body": "b", "reason": "Corrección cruzada"}},
		{medTok, "/api/v1/patients/" + y + "/entered-in-error", map[string]any{"kind": "note", "id": tx.note, "version": tx.noteV, "reason": "Paciente equivocado"}},
		{medTok, "/api/v1/patients/" + y + "/entered-in-error", map[string]any{"kind": "encounter", "id": tx.enc, "version": tx.encV, "reason": "Paciente equivocado"}},
		{secTok, "/api/v1/appointments/" + tx.appt + "/reschedule", map[string]any{"patient_id": y, "version": tx.apptV, "start": moved, "end": moved.Add(20 * time.Minute)}},
		{secTok, "/api/v1/appointments/" + tx.appt + "/check-in", map[string]any{"patient_id": y, "version": tx.apptV}},
		{secTok, "/api/v1/appointments/" + tx.appt + "/cancel", map[string]any{"patient_id": y, "version": tx.apptV, "reason": "cruzada"}},
		{admTok, "/api/v1/admissions/" + tx.enc + "/transfer", map[string]any{"patient_id": y, "version": tx.encV, "ward": "UCI"}},
		{admTok, "/api/v1/admissions/" + tx.enc + "/discharge", map[string]any{"patient_id": y, "version": tx.encV, "disposition": "home"}},
	}
	for _, c := range calls {
		if st := f.api(t, "POST", c.path, c.tok, c.body, nil); st != http.StatusNotFound {
			t.Errorf("API POST %s with patient %s: %d, want 404", c.path, y, st)
		}
	}
	if st := f.api(t, "GET", "/api/v1/patients/"+y+"/notes/"+tx.note+"/history", medTok, nil, nil); st != http.StatusNotFound {
		t.Errorf("API history of X's note under Y: %d, want 404", st)
	}
	if after := f.snapshot(t, tx); after != before {
		t.Errorf("X's records changed through Y's ids: %s -> %s", before, after)
	}
	f.noPHI(t, "Otro texto", "Corrección cruzada", "Paciente equivocado")
}

// TestOtherTenantIDsActOnNothing: every route with an id, used by the
// matching role of tenant B with tenant A's ids, answers exactly as for an
// id that exists nowhere (so it tells nothing), and changes nothing in A.
func TestOtherTenantIDsActOnNothing(t *testing.T) {
	f := newFixture(t)
	pa := f.a.PatientID
	ta := f.targetsOf(t, pa)
	before := f.snapshot(t, ta)
	chainBefore := f.chainLength(t, pa)
	var ua struct{ ID string }
	if err := f.pool.QueryRow(context.Background(), "SELECT id::text FROM users WHERE username = 'secretaria' AND tenant_id = $1", f.a.TenantID).Scan(&ua.ID); err != nil {
		t.Fatal(err)
	}
	var hashBefore string
	f.pool.QueryRow(context.Background(), "SELECT password_hash FROM users WHERE id = $1", ua.ID).Scan(&hashBefore)
	prB := f.practitioner(t, f.b.TenantID)
	v := itoa
	cookie := map[string][]*http.Cookie{}
	tok := map[string]string{}
	for _, role := range []string{"medico", "secretaria", "admisionista", "admin", "auditor", "paciente"} {
		cookie[role], _ = f.browserLogin(t, f.b.TenantID, role)
		tok[role] = f.token(t, f.b.TenantID, role)
	}
	type probe struct {
		role, method, path string
		form               url.Values     // a page form (POST) or nil
		json               map[string]any // an API body, or nil
	}
	// ids is A's ids; the same probe is repeated with random ids.
	probes := func(pid, note, enc, appt, user string) []probe {
		return []probe{
			{"medico", "GET", "/medico/pacientes/" + pid, nil, nil},
			{"medico", "GET", "/medico/pacientes/" + pid + "/notas/" + note + "/historial", nil, nil},
			{"medico", "POST", "/medico/pacientes/" + pid + "/notas/" + note + "/firmar", url.Values{"version": {v(ta.noteV)}}, nil},
			{"medico", "POST", "/medico/pacientes/" + pid + "/notas/" + note + "/enmendar", url.Values{"version": {v(ta.noteV)}, "body": {"x"}, "reason": {"Motivo suficiente"}}, nil},
			{"medico", "POST", "/medico/pacientes/" + pid + "/error", url.Values{"kind": {"note"}, "record": {note}, "version": {v(ta.noteV)}, "reason": {"Motivo suficiente"}}, nil},
			{"medico", "POST", "/medico/pacientes/" + pid + "/alergias", url.Values{"substance": {"Látex"}, "severity": {"mild"}}, nil},
			{"medico", "POST", "/medico/pacientes/" + pid + "/medicacion", url.Values{"medication": {"Paracetamol"}, "dose": {"1"}, "dose_unit": {"g"}, "route": {"oral"}, "frequency": {"8h"}}, nil},
			{"secretaria", "GET", "/secretaria?patient=" + pid, nil, nil},
			{"secretaria", "POST", "/secretaria/citas", url.Values{"patient_id": {pid}, "practitioner": {prB}, "date": {time.Now().AddDate(0, 0, 40).Format("2006-01-02")}, "time": {"10:00"}, "minutes": {"20"}}, nil},
			{"secretaria", "POST", "/secretaria/citas/" + appt + "/mover", url.Values{"patient_id": {pid}, "version": {v(ta.apptV)}, "date": {time.Now().AddDate(0, 0, 41).Format("2006-01-02")}, "time": {"10:00"}, "minutes": {"20"}}, nil},
			{"secretaria", "POST", "/secretaria/citas/" + appt + "/llegada", url.Values{"patient_id": {pid}, "version": {v(ta.apptV)}}, nil},
			{"secretaria", "POST", "/secretaria/citas/" + appt + "/cancelar", url.Values{"patient_id": {pid}, "version": {v(ta.apptV)}}, nil},
			{"admisionista", "POST", "/admisionista/ingresos/" + enc + "/traslado", url.Values{"patient_id": {pid}, "version": {v(ta.encV)}, "ward": {"UCI"}}, nil},
			{"admisionista", "POST", "/admisionista/ingresos/" + enc + "/alta", url.Values{"patient_id": {pid}, "version": {v(ta.encV)}, "disposition": {"home"}}, nil},
			{"admisionista", "POST", "/admisionista/equipo", url.Values{"patient_id": {pid}, "practitioner": {prB}, "role": {"consultant"}}, nil},
			{"admin", "POST", "/admin/usuarios/" + user + "/activar", url.Values{}, nil},
			{"admin", "POST", "/admin/usuarios/" + user + "/desactivar", url.Values{}, nil},
			{"admin", "POST", "/admin/usuarios/" + user + "/clave", url.Values{"password": {"una-clave-nueva-y-larga"}}, nil},
			{"paciente", "GET", "/paciente/" + pid, nil, nil},
			// The API.
			{"medico", "GET", "/api/v1/patients/" + pid, nil, nil},
			{"medico", "GET", "/api/v1/patients/" + pid + "/chart", nil, nil},
			{"medico", "GET", "/api/v1/patients/" + pid + "/notes/" + note + "/history", nil, nil},
			{"medico", "POST", "/api/v1/patients/" + pid + "/notes/" + note + "/sign", nil, map[string]any{"version": ta.noteV}},
			{"medico", "POST", "/api/v1/patients/" + pid + "/entered-in-error", nil, map[string]any{"kind": "note", "id": note, "version": ta.noteV, "reason": "Motivo suficiente"}},
			{"medico", "POST", "/api/v1/patients/" + pid + "/break-glass", nil, map[string]any{"reason": "Urgencia vital en otra sede"}},
			{"secretaria", "GET", "/api/v1/patients/" + pid + "/appointments", nil, nil},
			{"secretaria", "POST", "/api/v1/appointments/" + appt + "/cancel", nil, map[string]any{"patient_id": pid, "version": ta.apptV}},
			{"admisionista", "POST", "/api/v1/admissions/" + enc + "/discharge", nil, map[string]any{"patient_id": pid, "version": ta.encV, "disposition": "home"}},
			{"admisionista", "POST", "/api/v1/patients/" + pid + "/care-team", nil, map[string]any{"practitioner_id": prB, "role": "consultant"}},
			{"admin", "POST", "/api/v1/users/" + user + "/disable", nil, map[string]any{}},
			{"admin", "POST", "/api/v1/users/" + user + "/enable", nil, map[string]any{}},
			{"admin", "POST", "/api/v1/users/" + user + "/password", nil, map[string]any{"password": "una-clave-nueva-y-larga"}},
			{"auditor", "GET", "/api/v1/patients/" + pid + "/access-log", nil, nil},
			{"paciente", "GET", "/api/v1/patients/" + pid + "/chart", nil, nil},
		}
	}
	send := func(p probe) (int, string) {
		var res *http.Response
		switch {
		case p.method == "GET" && strings.HasPrefix(p.path, "/api/"):
			res = f.get(p.path, nil, tok[p.role])
		case p.method == "GET":
			res = f.get(p.path, cookie[p.role], "")
		case p.json != nil:
			st := f.api(t, p.method, p.path, tok[p.role], p.json, nil)
			return st, ""
		default:
			res = f.post(p.path, cookie[p.role], p.form)
		}
		return res.StatusCode, res.Header.Get("Location")
	}
	rnd := func(i int) string { return fmt.Sprintf("%s%04d", randomUUID[:32], i) }
	real := probes(pa, ta.note, ta.enc, ta.appt, ua.ID)
	fake := probes(rnd(1), rnd(2), rnd(3), rnd(4), rnd(5))
	for i := range real {
		st, loc := send(real[i])
		stFake, _ := send(fake[i])
		if st != http.StatusNotFound {
			t.Errorf("%s of tenant B %s %s with tenant A's ids: %d %s, want 404", real[i].role, real[i].method, real[i].path, st, loc)
		}
		if st != stFake {
			t.Errorf("%s of tenant B %s %s: %d for A's ids, %d for ids of no one: existence leaks", real[i].role, real[i].method, real[i].path, st, stFake)
		}
	}
	// The auditor of B verifying A's patient's chain learns what it would of
	// an id of no one, and A's chain gets no event of B.
	aud := cookie["auditor"]
	resA := f.post("/auditor/verify", aud, url.Values{"chain": {pa}})
	resX := f.post("/auditor/verify", aud, url.Values{"chain": {rnd(6)}})
	bodyA := strings.ReplaceAll(body(t, resA), pa, "ID")
	bodyX := strings.ReplaceAll(body(t, resX), rnd(6), "ID")
	if resA.StatusCode != resX.StatusCode || verifyResult(bodyA) != verifyResult(bodyX) {
		t.Errorf("auditor of B verifying A's chain: %d %q, an id of no one: %d %q", resA.StatusCode, verifyResult(bodyA), resX.StatusCode, verifyResult(bodyX))
	}
	var vA, vX map[string]any
	f.api(t, "POST", "/api/v1/audit/verify", tok["auditor"], map[string]any{"chain_id": pa}, &vA)
	f.api(t, "POST", "/api/v1/audit/verify", tok["auditor"], map[string]any{"chain_id": rnd(6)}, &vX)
	if fmt.Sprint(vA["ok"], vA["events"]) != fmt.Sprint(vX["ok"], vX["events"]) {
		t.Errorf("API verify of A's chain by B: %v, of no one's: %v", vA, vX)
	}
	if n := f.chainLength(t, pa); n != chainBefore {
		t.Errorf("A's patient chain went from %d to %d events through tenant B's requests", chainBefore, n)
	}
	if after := f.snapshot(t, ta); after != before {
		t.Errorf("A's records changed by tenant B: %s -> %s", before, after)
	}
	var hashAfter string
	f.pool.QueryRow(context.Background(), "SELECT password_hash FROM users WHERE id = $1", ua.ID).Scan(&hashAfter)
	if hashAfter != hashBefore {
		t.Error("the admin of tenant B reset the password of a user of tenant A")
	}
	if st := f.api(t, "GET", "/api/v1/me", f.token(t, f.a.TenantID, "secretaria"), nil, nil); st != http.StatusOK {
		t.Errorf("A's secretaria after B's admin probes: %d", st)
	}
}

// verifyResult is the verification block of an auditor page.
func verifyResult(page string) string {
	i := strings.Index(page, `id="verify-result"`)
	if i < 0 {
		return ""
	}
	j := strings.Index(page[i:], "</div>")
	if j < 0 {
		j = len(page) - i
	}
	return page[i : i+j]
}

// TestForeignTokensRefused: a token signed with another key, or by a server
// with another issuer (same key), opens neither a page nor the API.
func TestForeignTokensRefused(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	keys, err := Keys("", "")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(issuer string) http.Handler {
		h, err := Handler(ctx, f.logger(), f.pool, keys, Config{Issuer: issuer, IdleTimeout: time.Minute, LoginLimiter: allowAll{}}, f.a.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	ours, other := mk("test"), mk("other")
	// Sanity: the same login works on ours.
	g := &fixture{h: ours, logs: f.logs, a: f.a, b: f.b, pool: f.pool}
	if res := g.get("/api/v1/me", nil, g.token(t, f.a.TenantID, "medico")); res.StatusCode != 200 {
		t.Fatalf("own token: %d", res.StatusCode)
	}
	foreign := map[string]*fixture{
		"another key":    f, // f signs with its own ephemeral key
		"another issuer": {h: other, logs: f.logs, a: f.a, b: f.b, pool: f.pool},
	}
	for name, src := range foreign {
		tok := src.token(t, f.a.TenantID, "medico")
		cookies, _ := src.browserLogin(t, f.a.TenantID, "medico")
		var access []*http.Cookie
		for _, c := range cookies {
			if !strings.Contains(strings.ToLower(c.Name), "refresh") {
				access = append(access, c)
			}
		}
		if res := g.get("/api/v1/patients/"+f.a.PatientID+"/chart", nil, tok); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: API with its bearer token: %d, want 401", name, res.StatusCode)
		}
		if res := g.get("/medico/pacientes/"+f.a.PatientID, nil, tok); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: page with its bearer token: %d, want 401", name, res.StatusCode)
		}
		if res := g.get("/medico/pacientes/"+f.a.PatientID, access, ""); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("%s: page with its access cookie: %d %q, want a redirect to /login", name, res.StatusCode, res.Header.Get("Location"))
		}
	}
}

func (f *fixture) logger() *slog.Logger {
	return slog.New(web.NewLogHandler(slog.NewJSONHandler(f.logs, nil)))
}

// fillPattern turns a route pattern into a path with ids.
func fillPattern(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	for _, p := range []string{"{id}", "{note}", "{lang}"} {
		path = strings.ReplaceAll(path, p, randomUUID)
	}
	path = strings.TrimSuffix(strings.ReplaceAll(path, "{$}", ""), "/")
	return method, path
}

// TestCrossOriginRefusedOnEveryPost: every state-changing route of the mux
// refuses a cross-origin browser request (Sec-Fetch-Site, or Origin alone)
// before it acts, also with a valid session.
func TestCrossOriginRefusedOnEveryPost(t *testing.T) {
	f := newFixture(t)
	srv := f.h.(*web.Router)
	cookies, _ := f.browserLogin(t, f.a.TenantID, "admin")
	n := 0
	for _, pattern := range srv.Routes() {
		method, path := fillPattern(pattern)
		if method == "GET" || method == "HEAD" || !strings.HasPrefix(pattern, method+" ") {
			if pattern != "/" {
				continue
			}
			method, path = "POST", "/"
		}
		if method == "OPTIONS" {
			continue // the CORS preflight of /fhir: changes nothing
		}
		// The FHIR API takes bearer tokens only and answers CORS: a
		// cross-site request with the session cookies is not
		// authenticated there (401), so it acts on nothing either.
		want := http.StatusForbidden
		if strings.HasPrefix(path, "/fhir/") {
			want = http.StatusUnauthorized
		}
		n++
		for _, hdr := range [][2]string{{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}, {"Origin", "https://evil.example"}} {
			r := httptest.NewRequest(method, path, strings.NewReader("username=x&password=y&chain=&role=admin"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set(hdr[0], hdr[1])
			for _, c := range cookies {
				r.AddCookie(c)
			}
			if res := f.serve(r); res.StatusCode != want {
				t.Errorf("%s %s with %s: %s: %d, want %d", method, path, hdr[0], hdr[1], res.StatusCode, want)
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d state-changing routes found", n)
	}
}

// TestBadInputRefused: oversized bodies, invalid UTF-8 and NUL bytes,
// negative and huge numbers and malformed cursors answer 4xx with a clear
// error (never 500) and write nothing.
func TestBadInputRefused(t *testing.T) {
	f := newFixture(t)
	pid := f.a.PatientID
	notes := func() int {
		var n int
		f.pool.QueryRow(context.Background(), "SELECT count(*) FROM clinical_notes WHERE patient_id = $1", pid).Scan(&n)
		return n
	}
	notesBefore := notes()
	big := strings.Repeat("a", 200<<10)
	cookie := map[string][]*http.Cookie{}
	tok := map[string]string{}
	for _, role := range []string{"medico", "secretaria", "admisionista", "admin", "auditor"} {
		cookie[role], _ = f.browserLogin(t, f.a.TenantID, role)
		tok[role] = f.token(t, f.a.TenantID, role)
	}
	is4xx := func(st int) bool { return st >= 400 && st < 500 }
	// Oversized forms: 400 on every form route of the roles.
	srv := f.h.(*web.Router)
	owner := map[string]string{"/medico": "medico", "/secretaria": "secretaria", "/admisionista": "admisionista", "/admin": "admin", "/auditor": "auditor",
		"/cuenta": "medico", "/auth/webauthn/register": "medico"}
	for _, pattern := range srv.Routes() {
		method, path := fillPattern(pattern)
		if method != "POST" || strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/fhir/") || path == "/auth" || path == "/logout" {
			continue
		}
		path = strings.ReplaceAll(path, "/pacientes/"+randomUUID, "/pacientes/"+pid)
		role := ""
		for prefix, r := range owner {
			if strings.HasPrefix(path, prefix) {
				role = r
			}
		}
		res := f.post(path, cookie[role], url.Values{"reason": {big}, "title": {big}, "chain": {big}, "password": {big}, "ward": {big}})
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %s with a 200 KiB form: %d, want 400", path, res.StatusCode)
		}
	}
	// Oversized JSON.
	if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/notes", tok["medico"], map[string]any{"title": "t", "body": big}, nil); st != http.StatusBadRequest {
		t.Errorf("200 KiB JSON note: %d, want 400", st)
	}
	if st := f.api(t, "POST", "/api/v1/audit/verify", tok["auditor"], map[string]any{"chain_id": big}, nil); !is4xx(st) {
		t.Errorf("200 KiB JSON verify: %d, want 4xx", st)
	}
	// Invalid UTF-8 and NUL bytes in a form, a query and a JSON body.
	for _, bad := range []string{"Nota \xff\xfe", "Nota \x00 nula"} {
		if res := f.post("/medico/pacientes/"+pid+"/notas", cookie["medico"], url.Values{"title": {bad}, "body": {"Texto"}}); !is4xx(res.StatusCode) {
			t.Errorf("note titled %q by form: %d, want 4xx", bad, res.StatusCode)
		}
		if res := f.post("/admisionista/pacientes", cookie["admisionista"], url.Values{"document_type": {"DNI"}, "document_number": {"12121212X"},
			"given_names": {bad}, "family_names": {"Prueba"}, "birth_date": {"1970-01-01"}, "sex": {"female"}}); !is4xx(res.StatusCode) {
			t.Errorf("patient named %q by form: %d, want 4xx", bad, res.StatusCode)
		}
		q := url.QueryEscape(bad)
		for _, p := range []struct{ path, role string }{{"/medico?q=" + q, "medico"}, {"/secretaria?q=" + q, "secretaria"}, {"/auditor?chain=" + q, "auditor"}} {
			if res := f.get(p.path, cookie[p.role], ""); !is4xx(res.StatusCode) {
				t.Errorf("GET %s: %d, want 4xx", p.path, res.StatusCode)
			}
		}
		for _, p := range []string{"/api/v1/patients?name=" + q, "/api/v1/patients?document=" + q, "/api/v1/patients?cursor=" + q} {
			if res := f.get(p, nil, tok["medico"]); !is4xx(res.StatusCode) {
				t.Errorf("GET %s: %d, want 4xx", p, res.StatusCode)
			}
		}
		// JSON as sent, the bad bytes raw (json.Marshal would replace them).
		jsonText := strings.ReplaceAll(bad, "\x00", `\u0000`)
		for _, c := range []struct{ tok, path, body string }{
			{tok["medico"], "/api/v1/patients/" + pid + "/notes", `{"title": "` + jsonText + `", "body": "Texto"}`},
			{tok["admisionista"], "/api/v1/patients", `{"document_type": "DNI", "document_number": "13131313X", "given_names": "` + jsonText +
				`", "family_names": "Prueba", "birth_date": "1970-01-01", "sex": "female"}`},
			{tok["auditor"], "/api/v1/audit/verify", `{"chain_id": "` + jsonText + `"}`},
		} {
			r := httptest.NewRequest("POST", c.path, strings.NewReader(c.body))
			r.Header.Set("Authorization", "Bearer "+c.tok)
			r.Header.Set("Content-Type", "application/json")
			if res := f.serve(r); !is4xx(res.StatusCode) {
				t.Errorf("POST %s with %q: %d, want 4xx", c.path, bad, res.StatusCode)
			}
		}
	}
	// Malformed cursors.
	for _, p := range []string{"/api/v1/patients?name=a&cursor=zzz", "/api/v1/audit/events?cursor=zzz"} {
		who := "medico"
		if strings.Contains(p, "audit") {
			who = "auditor"
		}
		if res := f.get(p, nil, tok[who]); !is4xx(res.StatusCode) {
			t.Errorf("GET %s: %d, want 4xx", p, res.StatusCode)
		}
	}
	// Negative and huge numbers.
	if res := f.post("/secretaria/citas", cookie["secretaria"], url.Values{"patient_id": {pid}, "practitioner": {f.practitioner(t, f.a.TenantID)},
		"date": {time.Now().AddDate(0, 0, 50).Format("2006-01-02")}, "time": {"10:00"}, "minutes": {"-30"}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("appointment of -30 minutes: %d, want 422", res.StatusCode)
	}
	if res := f.post("/secretaria/citas", cookie["secretaria"], url.Values{"patient_id": {pid}, "practitioner": {f.practitioner(t, f.a.TenantID)},
		"date": {time.Now().AddDate(0, 0, 50).Format("2006-01-02")}, "time": {"10:00"}, "minutes": {"999999999999"}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("appointment of 999999999999 minutes: %d, want 422", res.StatusCode)
	}
	other := f.newPatient(t, "14141414H", "Goikoetxea")
	for _, minutes := range []int64{-5, 100000, 3074457345618258633} {
		if st := f.api(t, "POST", "/api/v1/patients/"+other+"/break-glass", tok["medico"], map[string]any{"reason": "Urgencia vital en la guardia", "minutes": minutes}, nil); st != http.StatusUnprocessableEntity {
			t.Errorf("break-glass for %d minutes: %d, want 422", minutes, st)
		}
	}
	if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/notes/"+randomUUID+"/sign", tok["medico"], map[string]any{"version": -1}, nil); !is4xx(st) {
		t.Errorf("sign version -1: %d, want 4xx", st)
	}
	if n := notes(); n != notesBefore {
		t.Errorf("refused requests wrote %d notes", n-notesBefore)
	}
	if strings.Contains(f.logs.String(), `"level":"ERROR"`) {
		for _, l := range strings.Split(f.logs.String(), "\n") {
			if strings.Contains(l, `"level":"ERROR"`) {
				t.Errorf("bad input logged an error: %s", l)
			}
		}
	}
}

// TestHeadersOnEveryAnswer: the security headers are on every answer
// (pages, errors, redirects, static files, the API and its errors), and
// every answer about a patient, or to a signed-in user, is not stored.
func TestHeadersOnEveryAnswer(t *testing.T) {
	f := newFixture(t)
	srv := f.h.(*web.Router)
	pid := f.a.PatientID
	med, _ := f.browserLogin(t, f.a.TenantID, "medico")
	tok := f.token(t, f.a.TenantID, "medico")
	pac, _ := f.browserLogin(t, f.a.TenantID, "paciente")
	type req struct {
		method, path string
		cookies      []*http.Cookie
		bearer       string
		hdr          [2]string
		body         string
	}
	var reqs []req
	for _, pattern := range srv.Routes() {
		method, path := fillPattern(pattern)
		if !strings.HasPrefix(pattern, method+" ") {
			method, path = "GET", "/nowhere"
		}
		path = strings.ReplaceAll(path, randomUUID, pid)
		if path == "/lang/"+pid {
			path = "/lang/es"
		}
		reqs = append(reqs,
			req{method: method, path: path, cookies: med, hdr: [2]string{"Sec-Fetch-Site", "same-origin"}, body: "{}"},
			req{method: method, path: path, bearer: tok, body: "{}"},
			req{method: method, path: path},
			req{method: method, path: path, cookies: pac, hdr: [2]string{"Sec-Fetch-Site", "same-origin"}})
	}
	reqs = append(reqs, req{method: "POST", path: "/medico", cookies: med, hdr: [2]string{"Sec-Fetch-Site", "cross-site"}},
		req{method: "PUT", path: "/api/v1/patients/" + pid, bearer: tok},
		req{method: "POST", path: "/medico/pacientes/" + pid + "/notas", cookies: med, hdr: [2]string{"Sec-Fetch-Site", "same-origin"}, body: strings.Repeat("a=b&", 50<<10)},
		req{method: "GET", path: "/api/v1/patients/" + pid, bearer: "not.a.token"},
		req{method: "GET", path: "/static/nothing.css"})
	for _, q := range reqs {
		r := httptest.NewRequest(q.method, q.path, strings.NewReader(q.body))
		if strings.HasPrefix(q.path, "/api/") {
			r.Header.Set("Content-Type", "application/json")
		} else {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if q.hdr[0] != "" {
			r.Header.Set(q.hdr[0], q.hdr[1])
		}
		for _, c := range q.cookies {
			r.AddCookie(c)
		}
		if q.bearer != "" {
			r.Header.Set("Authorization", "Bearer "+q.bearer)
		}
		res := f.serve(r)
		b, _ := io.ReadAll(res.Body)
		h := res.Header
		who := fmt.Sprintf("%s %s (cookies %v, bearer %v): %d", q.method, q.path, q.cookies != nil, q.bearer != "", res.StatusCode)
		if h.Get("Content-Security-Policy") != web.ContentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: security headers missing: %v", who, h)
		}
		if res.StatusCode >= 500 {
			t.Errorf("%s: server error %s", who, b)
		}
		private := false
		for _, prefix := range []string{"/api/", "/medico", "/paciente/", "/secretaria", "/admisionista", "/admin", "/auditor"} {
			private = private || strings.HasPrefix(q.path, prefix)
		}
		if (strings.Contains(string(b), pid) || private && res.StatusCode < 300) && !strings.Contains(h.Get("Cache-Control"), "no-store") {
			t.Errorf("%s: Cache-Control %q, want no-store", who, h.Get("Cache-Control"))
		}
	}
}

// TestLogoutRevokesAtOnceOnEveryReplica: a browser session logged out on
// one replica can no longer use its access token on another replica of
// the same database at the next request (it used to work for up to the
// token's 5 minutes). The other replica learns of it through PostgreSQL's
// notifications (auth's revocation listener, started by Handler).
func TestLogoutRevokesAtOnceOnEveryReplica(t *testing.T) {
	f := newFixture(t)
	other, err := Handler(t.Context(), f.logger(), f.pool, f.keys, f.cfg, f.a.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	serveOn := func(h http.Handler, r *http.Request) *http.Response {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}
	cookies, _ := f.browserLogin(t, f.a.TenantID, "medico")
	var access string
	for _, c := range cookies {
		if c.Name == auth.DefaultAccessCookie {
			access = c.Value
		}
	}
	if access == "" {
		t.Fatal("no access token cookie")
	}
	me := func() int {
		r := httptest.NewRequest("GET", "/api/v1/me", nil)
		r.Header.Set("Authorization", "Bearer "+access)
		return serveOn(other, r).StatusCode
	}
	if st := me(); st != http.StatusOK {
		t.Fatalf("the other replica before logout: %d", st)
	}
	r := httptest.NewRequest("POST", "/logout", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	if res := f.serve(r); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	// The notification is asynchronous (milliseconds); the bound only
	// keeps a broken listener from hanging the test.
	deadline := time.Now().Add(10 * time.Second)
	for me() != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the other replica still accepts the access token of a logged-out session")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
