package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/citus"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/internal/citustest"
	"github.com/historiaehr/historia/refserver/internal/demo"
	"github.com/historiaehr/historia/refserver/internal/syncbuf"
	"github.com/historiaehr/historia/refserver/internal/web"
)

func TestMain(m *testing.M) { citustest.Main(m) }

// onCitus makes testDB give a database on the Citus test cluster,
// distributed with the server's plan (TestWorkflowsOnCitus sets it).
var onCitus bool

// testDB returns a pool on a fresh database migrated for the server (ehr
// and auth), from ehrtest: HISTORIA_TEST_DATABASE_URL, else a container
// from HISTORIA_TEST_PG_IMAGE (dockertest), else the installed binaries.
// Without a server the test is skipped, or fails under CI=true.
func testDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	var dbURL string
	if onCitus {
		dbURL = citustest.New(t).NewDatabase(t, citustest.Options{})
	} else {
		dbURL = ehrtest.NewURL(t)
	}
	mc, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, mc); err != nil {
		t.Fatal(err)
	}
	if onCitus {
		// Few shards: the same routing as the default 32, created faster.
		if _, err := mc.Exec(ctx, "SET citus.shard_count = 8"); err != nil {
			t.Fatal(err)
		}
		if rep, err := citus.Apply(ctx, mc, DistributionPlan()); err != nil || !rep.Changed() {
			t.Fatalf("distribute on the cluster: %v\n%v", err, rep)
		}
	}
	mc.Close(ctx)
	pool, err := OpenPool(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

const testPassword = "demo-password-for-tests"

type fixture struct {
	h        http.Handler
	logs     *syncbuf.Buffer
	a, b     demo.Result
	patientB string // a second patient of tenant A
	pool     *pgxpool.Pool
	keys     *auth.KeySet // the signing keys, for another replica
	cfg      Config
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureWith(t, func(*Config) {})
}

// newFixtureWith is newFixture with the server's Config adjusted by fn.
func newFixtureWith(t testing.TB, fn func(*Config)) *fixture {
	t.Helper()
	ctx := t.Context() // ends the revocation listener with the test
	pool := testDB(t)
	logs := &syncbuf.Buffer{}
	log := slog.New(web.NewLogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	slog.SetDefault(log)
	a, err := demo.Seed(ctx, pool, 3, testPassword, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b, err := demo.Seed(ctx, pool, 1, testPassword, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var other string
	if err := pool.QueryRow(ctx, "SELECT patient_id::text FROM patients WHERE tenant_id = $1 AND patient_id <> $2 LIMIT 1", a.TenantID, a.PatientID).Scan(&other); err != nil {
		t.Fatal(err)
	}
	keys, err := Keys("", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Issuer: "test", IdleTimeout: time.Minute, LoginLimiter: allowAll{}}
	fn(&cfg)
	h, err := Handler(ctx, log, pool, keys, cfg, a.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	// The names a page shows are read in one statement (app.Directory);
	// a failure there leaves ids on the page and only a warning: no
	// workflow may cause one.
	t.Cleanup(func() {
		if strings.Contains(logs.String(), `"msg":"names"`) {
			t.Errorf("reading the names of a page failed: %s", logs.String())
		}
	})
	return &fixture{h: h, logs: logs, a: a, b: b, patientB: other, pool: pool, keys: keys, cfg: cfg}
}

func (f *fixture) serve(r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w.Result()
}

// browserLogin signs in through the login form and returns the cookies
// and the redirect target.
func (f *fixture) browserLogin(t *testing.T, tenant, user string) ([]*http.Cookie, string) {
	t.Helper()
	form := url.Values{"username": {user}, "password": {testPassword}, "tenant": {tenant}}
	r := httptest.NewRequest("POST", "/auth", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "text/html")
	res := f.serve(r)
	if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) == 0 {
		t.Fatalf("login %s: status %d, location %q", user, res.StatusCode, res.Header.Get("Location"))
	}
	return res.Cookies(), res.Header.Get("Location")
}

// token signs in through the OAuth2 password grant and returns the
// access token.
func (f *fixture) token(t testing.TB, tenant, user string) string {
	t.Helper()
	form := url.Values{"username": {user}, "password": {testPassword}, "tenant": {tenant}}
	r := httptest.NewRequest("POST", "/auth", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res := f.serve(r)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" || tok.TokenType != "bearer" {
		t.Fatalf("token %s: status %d %v", user, res.StatusCode, err)
	}
	return tok.AccessToken
}

func (f *fixture) get(path string, cookies []*http.Cookie, bearer string) *http.Response {
	r := httptest.NewRequest("GET", path, nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	return f.serve(r)
}

func TestRolePages(t *testing.T) {
	f := newFixture(t)
	pages := []string{"/paciente/" + f.a.PatientID, "/medico", "/admisionista", "/secretaria", "/admin", "/auditor"}
	owner := map[string]string{pages[0]: "paciente", "/medico": "medico", "/admisionista": "admisionista",
		"/secretaria": "secretaria", "/admin": "admin", "/auditor": "auditor"}
	for _, role := range demo.Roles {
		cookies, home := f.browserLogin(t, f.a.TenantID, role)
		tok := f.token(t, f.a.TenantID, role)
		wantHome := "/" + role
		if role == "paciente" {
			wantHome = "/paciente/" + f.a.PatientID
		}
		if home != wantHome {
			t.Errorf("%s lands on %q, want %q", role, home, wantHome)
		}
		for _, page := range pages {
			want := http.StatusForbidden
			if owner[page] == role {
				want = http.StatusOK
			}
			for _, how := range []string{"cookie", "bearer"} {
				var res *http.Response
				if how == "cookie" {
					res = f.get(page, cookies, "")
				} else {
					res = f.get(page, nil, tok)
				}
				if res.StatusCode != want {
					t.Errorf("%s GET %s by %s: %d, want %d", role, page, how, res.StatusCode, want)
				}
			}
		}
	}
	// Anonymous: the login page.
	if res := f.get("/medico", nil, ""); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Errorf("anonymous /medico: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res := f.get("/api/v1/me", nil, ""); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous API: %d", res.StatusCode)
	}
}

func TestIDORAndOtherTenant(t *testing.T) {
	f := newFixture(t)
	cookies, _ := f.browserLogin(t, f.a.TenantID, "paciente")
	tok := f.token(t, f.a.TenantID, "paciente")
	// Own chart: allowed, by page and API.
	if res := f.get("/paciente/"+f.a.PatientID, cookies, ""); res.StatusCode != 200 {
		t.Errorf("own chart page: %d", res.StatusCode)
	}
	if res := f.get("/api/v1/patients/"+f.a.PatientID, nil, tok); res.StatusCode != 200 {
		t.Errorf("own chart API: %d", res.StatusCode)
	}
	// Another patient of the same tenant: not found (a patient learns
	// nothing by probing ids), by page and API.
	for _, path := range []string{"/api/v1/patients/" + f.patientB, "/api/v1/patients/" + f.patientB + "/access-log",
		"/api/v1/patients/" + f.patientB + "/chart", "/api/v1/patients/" + f.patientB + "/appointments"} {
		if res := f.get(path, nil, tok); res.StatusCode != http.StatusNotFound {
			t.Errorf("IDOR %s: %d, want 404", path, res.StatusCode)
		}
	}
	if res := f.get("/paciente/"+f.patientB, cookies, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("IDOR page: %d, want 404", res.StatusCode)
	}
	// Another tenant's patient: not found, for the patient and for staff.
	for _, role := range []string{"paciente", "medico", "admisionista"} {
		tokB := f.token(t, f.b.TenantID, role)
		cB, _ := f.browserLogin(t, f.b.TenantID, role)
		want := http.StatusNotFound
		if res := f.get("/api/v1/patients/"+f.a.PatientID, nil, tokB); res.StatusCode != want {
			t.Errorf("%s of tenant B reads tenant A's patient by API: %d, want %d", role, res.StatusCode, want)
		}
		page := "/paciente/" + f.a.PatientID
		if role == "medico" {
			page = "/medico/pacientes/" + f.a.PatientID
		}
		if role == "admisionista" {
			continue
		}
		if res := f.get(page, cB, ""); res.StatusCode != want {
			t.Errorf("%s of tenant B GET %s: %d, want %d", role, page, res.StatusCode, want)
		}
	}
}

func TestRegisterPatientFormAndNoPHIInLogs(t *testing.T) {
	f := newFixture(t)
	cookies, _ := f.browserLogin(t, f.a.TenantID, "admisionista")
	post := func(form url.Values) *http.Response {
		r := httptest.NewRequest("POST", "/admisionista/pacientes", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		for _, c := range cookies {
			r.AddCookie(c)
		}
		return f.serve(r)
	}
	// Missing names and a future birth date: 422 with errors at the fields.
	res := post(url.Values{"document_type": {"DNI"}, "document_number": {"55555555K"}, "birth_date": {"2999-01-01"}, "sex": {"female"}})
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("invalid form: %d", res.StatusCode)
	}
	for _, id := range []string{`id="given_names-error"`, `id="family_names-error"`, `id="birth_date-error"`} {
		if !bytes.Contains(body, []byte(id)) {
			t.Errorf("422 page lacks %s", id)
		}
	}
	good := url.Values{"document_type": {"DNI"}, "document_number": {"55555555K"}, "given_names": {"Remedios"},
		"family_names": {"Zubizarreta Olabarrieta"}, "birth_date": {"1980-05-17"}, "sex": {"female"}}
	res = post(good)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/admisionista?created=") {
		t.Fatalf("register: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	page := f.get(res.Header.Get("Location"), cookies, "")
	pb, _ := io.ReadAll(page.Body)
	if !bytes.Contains(pb, []byte("Zubizarreta")) {
		t.Error("the new patient is not shown")
	}
	// The message offers to admit the new patient straight away.
	created := strings.TrimPrefix(res.Header.Get("Location"), "/admisionista?created=")
	if link := `id="admit-created" href="/admisionista?patient=` + created + `#admit"`; !bytes.Contains(pb, []byte(link)) {
		t.Errorf("the success message has no admit link (%s)", link)
	}
	admit, _ := io.ReadAll(f.get("/admisionista?patient="+created, cookies, "").Body)
	if !bytes.Contains(admit, []byte(`id="admit-form"`)) || !bytes.Contains(admit, []byte(`value="`+created+`"`)) {
		t.Error("the admit link does not open the admit form for the new patient")
	}
	// Same document again: 409 with the error on the document field.
	if res := post(good); res.StatusCode != http.StatusConflict {
		t.Errorf("duplicate document: %d, want 409", res.StatusCode)
	}
	// A search by name (the name travels in the query string).
	f.get("/admisionista?q=Zubizarreta", cookies, "")
	logs := f.logs.String()
	for _, phi := range []string{"Zubizarreta", "Olabarrieta", "Remedios", "55555555K", testPassword} {
		if strings.Contains(logs, phi) {
			t.Errorf("logs contain %q", phi)
		}
	}
	if !strings.Contains(logs, `"request_id"`) {
		t.Error("logs lack request ids")
	}
}

func TestReadyz(t *testing.T) {
	f := newFixture(t)
	if res := f.get("/readyz", nil, ""); res.StatusCode != 200 {
		t.Errorf("readyz: %d", res.StatusCode)
	}
}

// allowAll lets every login attempt through: the tests sign in many times
// from one address.
type allowAll struct{}

func (allowAll) Allow(string) bool { return true }
