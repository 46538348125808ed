package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// activationCodeRE finds an activation code on a page.
var activationCodeRE = regexp.MustCompile(`[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}`)

// TestPortalActivationHTTP: an admin cannot link an account to a patient
// (API and page); the admissions desk issues a code (API and page), the
// patient activates the account once at /activar, and both steps are in
// the patient's access log. Refusals write no account.
func TestPortalActivationHTTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	users := func() int {
		var n int
		if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := users()
	pw := testPassword // the new patient signs in with f.token

	// The probe: admin creates a paciente account on any patient.
	admin := f.token(t, f.a.TenantID, "admin")
	r := httptest.NewRequest("POST", "/api/v1/users", strings.NewReader(`{"username":"espia","role":"paciente","password":"`+pw+`","patient_id":"`+f.patientB+`"}`))
	r.Header.Set("Authorization", "Bearer "+admin)
	r.Header.Set("Content-Type", "application/json")
	res := f.serve(r)
	var e struct {
		Error  string
		Fields map[string]string
	}
	json.NewDecoder(res.Body).Decode(&e)
	if res.StatusCode != http.StatusUnprocessableEntity || e.Fields["role"] != "patient_activation" {
		t.Errorf("admin creates a paciente by API: %d %+v", res.StatusCode, e)
	}
	adminCookies, _ := f.browserLogin(t, f.a.TenantID, "admin")
	res = f.post("/admin/usuarios", adminCookies, url.Values{"username": {"espia"}, "role": {"paciente"}, "password": {pw}, "patient_id": {f.patientB}})
	if b := body(t, res); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(b, `id="role-error"`) {
		t.Errorf("admin creates a paciente by page: %d", res.StatusCode)
	}
	if st := f.api(t, "POST", "/api/v1/patients/"+f.patientB+"/activation-code", admin, map[string]string{}, nil); st != http.StatusForbidden {
		t.Errorf("admin issues an activation code: %d, want 403", st)
	}
	if n := users(); n != before {
		t.Fatalf("%d accounts written by refusals", n-before)
	}

	// The admissions desk issues a code by the API and by its page.
	adm := f.token(t, f.a.TenantID, "admisionista")
	var act struct {
		ID, PatientID, Code string
		ExpiresAt           string `json:"expires_at"`
	}
	if st := f.api(t, "POST", "/api/v1/patients/"+f.patientB+"/activation-code", adm, map[string]string{}, &act); st != http.StatusCreated || act.Code == "" {
		t.Fatalf("admisionista issues a code: %d %+v", st, act)
	}
	admCookies, _ := f.browserLogin(t, f.a.TenantID, "admisionista")
	res = f.post("/admisionista/pacientes/"+f.patientB+"/activacion", admCookies, nil)
	page := body(t, res)
	pageCode := activationCodeRE.FindString(page)
	if res.StatusCode != http.StatusOK || pageCode == "" {
		t.Fatalf("activation code page: %d", res.StatusCode)
	}

	// The public page: refused codes, then the activation, once.
	activate := func(code, username string) *http.Response {
		return f.post("/activar", nil, url.Values{"code": {code}, "username": {username}, "password": {pw}})
	}
	if res := f.serve(httptest.NewRequest("GET", "/activar", nil)); res.StatusCode != http.StatusOK {
		t.Errorf("GET /activar: %d", res.StatusCode)
	}
	if res := activate("AAAAA-AAAAA-AAAAA-AAAAA", "leocadia"); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("wrong code: %d", res.StatusCode)
	}
	cross := httptest.NewRequest("POST", "/activar", strings.NewReader(url.Values{"code": {pageCode}, "username": {"x.y"}, "password": {pw}}.Encode()))
	cross.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	cross.Header.Set("Sec-Fetch-Site", "cross-site")
	if res := f.serve(cross); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site activation: %d", res.StatusCode)
	}
	if n := users(); n != before {
		t.Fatalf("%d accounts written by refusals", n-before)
	}
	if res := activate(pageCode, "leocadia"); res.StatusCode != http.StatusOK {
		t.Fatalf("activate: %d", res.StatusCode)
	}
	if res := activate(pageCode, "leocadia2"); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("second use: %d", res.StatusCode)
	}
	// The API's code, in another tenant: refused.
	var ae struct{ Fields map[string]string }
	r = httptest.NewRequest("POST", "/api/v1/activate", strings.NewReader(`{"tenant":"`+f.b.TenantID+`","code":"`+act.Code+`","username":"otro","password":"`+pw+`"}`))
	r.Header.Set("Content-Type", "application/json")
	res = f.serve(r)
	json.NewDecoder(res.Body).Decode(&ae)
	if res.StatusCode != http.StatusUnprocessableEntity || ae.Fields["code"] != "activation_code" {
		t.Errorf("code of tenant A in tenant B: %d %+v", res.StatusCode, ae)
	}
	if n := users(); n != before+1 {
		t.Fatalf("%d accounts made, want 1", n-before)
	}

	// The patient signs in to their own chart and sees who linked it.
	tok := f.token(t, f.a.TenantID, "leocadia")
	var log struct {
		Entries []struct{ Kind, Action string }
	}
	if st := f.api(t, "GET", "/api/v1/patients/"+f.patientB+"/access-log", tok, nil, &log); st != http.StatusOK {
		t.Fatalf("access log: %d", st)
	}
	var issued, redeemed int
	for _, e := range log.Entries {
		if e.Kind == "portal-activation" {
			switch e.Action {
			case "create":
				issued++
			case "update":
				redeemed++
			}
		}
	}
	if issued != 2 || redeemed != 1 {
		t.Errorf("access log shows %d issues and %d activations, want 2 and 1: %+v", issued, redeemed, log.Entries)
	}
	if st := f.api(t, "GET", "/api/v1/patients/"+f.a.PatientID+"/chart", tok, nil, nil); st != http.StatusNotFound {
		t.Errorf("the new patient reads another chart: %d", st)
	}
	f.noPHI(t, pw, pageCode, act.Code)
}
