package containertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/dockertest/v3/docker"
)

// client has a timeout: a request the server never answers is counted as
// a hang, not waited for.
var client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

func do(ctx context.Context, method, u, token, contentType string, body io.Reader) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, resp.Header, err
}

func get(ctx context.Context, u, token string) (int, []byte, error) {
	code, b, _, err := do(ctx, http.MethodGet, u, token, "", nil)
	return code, b, err
}

// login signs in as the user of role through POST /auth and returns the
// access token.
func login(tb testing.TB, role string) string {
	tb.Helper()
	tok, err := authenticate(context.Background(), env.base, env.users[role], env.password)
	if err != nil {
		tb.Fatalf("as %s: %v", role, err)
	}
	return tok
}

// authenticate signs in as username on the server at base through POST
// /auth (the OAuth2 password grant) and returns the access token.
func authenticate(ctx context.Context, base, username, password string) (string, error) {
	form := url.Values{"username": {username}, "password": {password}}
	code, body, _, err := do(ctx, http.MethodPost, base+"/auth", "", "application/x-www-form-urlencoded",
		strings.NewReader(form.Encode()))
	if err != nil || code != http.StatusOK {
		return "", fmt.Errorf("POST /auth as %s: %d %v %s", username, code, err, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		return "", fmt.Errorf("POST /auth as %s: not a bearer token: %s", username, body)
	}
	return tok.AccessToken, nil
}

// patientJSON is the API's patient (the fields this suite sets).
type patientJSON struct {
	ID             string `json:"id,omitempty"`
	DocumentType   string `json:"document_type"`
	DocumentNumber string `json:"document_number"`
	GivenNames     string `json:"given_names"`
	FamilyNames    string `json:"family_names"`
	BirthDate      string `json:"birth_date"`
	Sex            string `json:"sex"`
}

func newPatient(doc string) patientJSON {
	return patientJSON{DocumentType: "CC", DocumentNumber: doc, GivenNames: "Lucía", FamilyNames: "Contenedor Prueba",
		BirthDate: "1984-03-07", Sex: "female"}
}

// register posts a patient to the API; it returns the HTTP status and,
// on 201, the created patient.
func register(ctx context.Context, token string, p patientJSON) (int, patientJSON, error) {
	return registerAt(ctx, env.base, token, p)
}

// registerAt is register on the server at base.
func registerAt(ctx context.Context, base, token string, p patientJSON) (int, patientJSON, error) {
	body, _ := json.Marshal(p)
	code, out, _, err := do(ctx, http.MethodPost, base+"/api/v1/patients", token, "application/json", bytes.NewReader(body))
	var created patientJSON
	if err == nil && code == http.StatusCreated {
		err = json.Unmarshal(out, &created)
	}
	return code, created, err
}

// activatePatient has admisión (token adm) issue an activation code for
// patient and redeems it as the patient, username "paciente".
func activatePatient(ctx context.Context, base, adm, tenant, patient, password string) error {
	code, out, _, err := do(ctx, http.MethodPost, base+"/api/v1/patients/"+patient+"/activation-code", adm, "application/json", strings.NewReader("{}"))
	if err != nil || code != http.StatusCreated {
		return fmt.Errorf("issue a code: %d %v %.200s", code, err, out)
	}
	var issued struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(out, &issued); err != nil || issued.Code == "" {
		return fmt.Errorf("issue a code: %v %.200s", err, out)
	}
	body, _ := json.Marshal(map[string]string{"tenant": tenant, "code": issued.Code, "username": "paciente", "password": password})
	code, out, _, err = do(ctx, http.MethodPost, base+"/api/v1/activate", "", "application/json", bytes.NewReader(body))
	if err != nil || code != http.StatusCreated {
		return fmt.Errorf("activate: %d %v %.200s", code, err, out)
	}
	return nil
}

// TestSmoke walks the deployment as its users do: health and metrics,
// a login per role through POST /auth, each role's page, the API, and
// role separation.
func TestSmoke(t *testing.T) {
	if env == nil {
		t.Skip("no container environment (see TestMain's message)")
	}
	ctx := context.Background()
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		code, body, err := get(ctx, env.base+path, "")
		if err != nil || code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %v %.200s", path, code, err, body)
		}
	}
	// Metrics are not on the public listener, but on their own.
	if code, _, err := get(ctx, env.base+"/metrics", ""); err != nil || code != http.StatusNotFound {
		t.Errorf("GET /metrics on the main listener: %d %v; want 404", code, err)
	}
	if code, body, err := get(ctx, env.metrics+"/metrics", ""); err != nil || code != 200 || !strings.Contains(string(body), "# TYPE") {
		t.Errorf("GET /metrics on the metrics listener: %d %v %.200s", code, err, body)
	}

	adm := login(t, "admisionista")
	code, p, err := register(ctx, adm, newPatient("SMOKE-"+randHex(4)))
	if err != nil || code != http.StatusCreated || p.ID == "" {
		t.Fatalf("admisionista registers a patient: %d %v", code, err)
	}
	if env.patient == "" {
		// A patient's login comes from a one-time code that admisión
		// issues and the patient redeems (no staff account links one).
		if err := activatePatient(ctx, env.base, adm, env.tenant, p.ID, env.password); err != nil {
			t.Fatalf("patient activation: %v", err)
		}
		env.users["paciente"] = "paciente"
		env.patient = p.ID
	}

	pages := map[string]string{
		"medico":       "/medico",
		"admisionista": "/admisionista",
		"secretaria":   "/secretaria",
		"admin":        "/admin",
		"auditor":      "/auditor",
		"paciente":     "/paciente/" + env.patient,
	}
	tokens := map[string]string{}
	for role, page := range pages {
		t.Run(role, func(t *testing.T) {
			tok := login(t, role)
			tokens[role] = tok
			req, _ := http.NewRequest(http.MethodGet, env.base+page, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Accept", "text/html")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte("<html")) {
				t.Errorf("GET %s as %s: %d %s", page, role, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			code, me, err := get(ctx, env.base+"/api/v1/me", tok)
			if err != nil || code != 200 || !strings.Contains(string(me), role) {
				t.Errorf("GET /api/v1/me as %s: %d %v %s", role, code, err, me)
			}
		})
	}
	// Roles are kept apart: a secretaria may not open the admin page, a
	// paciente may not register patients.
	if tok := tokens["secretaria"]; tok != "" {
		if code, _, err := get(ctx, env.base+"/admin", tok); err != nil || code != http.StatusForbidden {
			t.Errorf("GET /admin as secretaria: %d %v, want 403", code, err)
		}
	}
	if tok := tokens["paciente"]; tok != "" {
		// Refused (403, or 404 where the policy hides what lies outside
		// the caller's reach), never created.
		if code, _, err := register(ctx, tok, newPatient("DENIED-"+randHex(4))); err != nil || code != http.StatusForbidden && code != http.StatusNotFound {
			t.Errorf("POST /api/v1/patients as paciente: %d %v, want 403 or 404", code, err)
		}
	}
	if code, _, err := get(ctx, env.base+"/api/v1/patients/"+p.ID, ""); err != nil || code != http.StatusUnauthorized {
		t.Errorf("GET a patient without a token: %d %v, want 401", code, err)
	}
}

// outcome counts the answers to the writers during a phase.
type outcome struct {
	acked, serverErr, otherStatus, transport, hang atomic.Int64
}

// TestDatabaseOutage stops PostgreSQL under write traffic and starts it
// again. The server must report unready and then ready again by itself,
// answer every request during the outage promptly with a 5xx (no hang,
// no crash), and keep every write it acknowledged.
func TestDatabaseOutage(t *testing.T) {
	if env == nil {
		t.Skip("no container environment (see TestMain's message)")
	}
	token := login(t, "admisionista")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var (
		mu      sync.Mutex
		ackedBy = map[string]string{} // patient id -> document number
		phase   atomic.Pointer[outcome]
		seq     atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	phase.Store(&outcome{})
	writer := func(w int) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			doc := fmt.Sprintf("OUT-%d-%06d", w, seq.Add(1))
			o := phase.Load()
			start := time.Now()
			code, p, err := register(ctx, token, newPatient(doc))
			switch {
			case err != nil && errors.Is(err, context.DeadlineExceeded) || err != nil && strings.Contains(err.Error(), "Client.Timeout"):
				o.hang.Add(1)
				t.Logf("writer %d: no answer after %s", w, time.Since(start).Round(time.Millisecond))
			case err != nil:
				o.transport.Add(1)
				t.Logf("writer %d: %v", w, err)
			case code == http.StatusCreated:
				o.acked.Add(1)
				mu.Lock()
				ackedBy[p.ID] = doc
				mu.Unlock()
			case code >= 500:
				o.serverErr.Add(1)
			default:
				o.otherStatus.Add(1)
				t.Logf("writer %d: status %d", w, code)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	const writers = 3
	for w := range writers {
		wg.Add(1)
		go writer(w)
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	readyz := func() int {
		code, _, err := get(ctx, env.base+"/readyz", "")
		if err != nil {
			return 0
		}
		return code
	}
	// waitReady polls /readyz until it answers want, up to limit.
	waitReady := func(want int, limit time.Duration) (time.Duration, bool) {
		start := time.Now()
		for time.Since(start) < limit {
			if readyz() == want {
				return time.Since(start), true
			}
			time.Sleep(200 * time.Millisecond)
		}
		return time.Since(start), false
	}

	// Phase 1: traffic with the database up.
	before := phase.Load()
	time.Sleep(3 * time.Second)
	if before.acked.Load() == 0 {
		t.Fatalf("no write acknowledged before the outage (server errors %d, transport %d)", before.serverErr.Load(), before.transport.Load())
	}

	// Phase 2: the database stops (fast shutdown, as "docker stop" of the
	// official image does).
	during := &outcome{}
	phase.Store(during)
	if err := env.pool.Client.KillContainer(docker.KillContainerOptions{ID: env.db.Container.ID, Signal: docker.SIGINT}); err != nil {
		t.Fatalf("stop postgres: %v", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	_, err := env.pool.Client.WaitContainerWithContext(env.db.Container.ID, wctx)
	wcancel()
	if err != nil {
		t.Fatalf("postgres did not stop: %v", err)
	}
	if d, ok := waitReady(http.StatusServiceUnavailable, 20*time.Second); !ok {
		t.Errorf("/readyz did not turn 503 within %s of the database stopping", d.Round(time.Millisecond))
	} else {
		t.Logf("/readyz turned 503 after %s", d.Round(time.Millisecond))
	}
	time.Sleep(4 * time.Second)
	if !env.running(env.server) {
		t.Fatal("the server exited while the database was down")
	}

	// Phase 3: the database starts again; the server recovers by itself.
	after := &outcome{}
	phase.Store(after)
	if err := env.pool.Client.StartContainer(env.db.Container.ID, nil); err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	if d, ok := waitReady(http.StatusOK, 90*time.Second); !ok {
		t.Errorf("/readyz did not turn 200 again within %s of the database starting", d.Round(time.Millisecond))
	} else {
		t.Logf("/readyz ready again after %s", d.Round(time.Millisecond))
	}
	recovered := &outcome{}
	phase.Store(recovered)
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	t.Logf("before: %d acked; during: %d acked, %d 5xx, %d transport errors, %d hangs, %d other; restart: %d acked, %d 5xx; after: %d acked, %d 5xx",
		before.acked.Load(), during.acked.Load(), during.serverErr.Load(), during.transport.Load(), during.hang.Load(), during.otherStatus.Load(),
		after.acked.Load(), after.serverErr.Load(), recovered.acked.Load(), recovered.serverErr.Load())
	if during.serverErr.Load() == 0 {
		t.Errorf("no request failed with a 5xx while the database was down (the outage was not exercised)")
	}
	for _, o := range []*outcome{before, during, after, recovered} {
		if n := o.hang.Load(); n > 0 {
			t.Errorf("%d requests got no answer within %s", n, client.Timeout)
		}
		if n := o.transport.Load(); n > 0 {
			t.Errorf("%d requests failed below HTTP (connection refused or reset: did the server crash?)", n)
		}
		if n := o.otherStatus.Load(); n > 0 {
			t.Errorf("%d requests got an unexpected status (not 201 nor 5xx)", n)
		}
	}
	if recovered.acked.Load() == 0 {
		t.Errorf("no write acknowledged after the database came back")
	}
	if !env.running(env.server) {
		t.Fatal("the server is not running after the outage")
	}
	c, err := env.pool.Client.InspectContainer(env.server.Container.ID)
	if err == nil && c.RestartCount != 0 {
		t.Errorf("the server container restarted %d times", c.RestartCount)
	}

	// Every acknowledged write is there.
	mu.Lock()
	defer mu.Unlock()
	token = login(t, "admisionista")
	missing := 0
	for id, doc := range ackedBy {
		code, body, err := get(ctx, env.base+"/api/v1/patients/"+id, token)
		var p patientJSON
		if err == nil && code == 200 {
			err = json.Unmarshal(body, &p)
		}
		if err != nil || code != 200 || p.DocumentNumber != doc {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged patient %s (%s): %d %v %s", id, doc, code, err, body)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged writes are missing", missing, len(ackedBy))
	}
	t.Logf("%d acknowledged writes, all present", len(ackedBy)-missing)
}
