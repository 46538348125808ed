package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestPortalShowsSignedNotesOnly: a patient reads what their physician
// signed. A draft is absent from the portal page, from the chart of the
// API and from the note history of the API; a draft entered in error too;
// a signed note entered in error is shown marked as such.
func TestPortalShowsSignedNotesOnly(t *testing.T) {
	f := newFixture(t)
	pid := f.a.PatientID
	med := f.token(t, f.a.TenantID, "medico")
	type noteRef struct {
		ID      string
		Version int
	}
	write := func(title, body string, sign bool) noteRef {
		t.Helper()
		var n noteRef
		if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/notes", med, map[string]any{"title": title, "body": body, "sign": sign}, &n); st != 201 {
			t.Fatalf("note %q: %d", title, st)
		}
		return n
	}
	eie := func(n noteRef) {
		t.Helper()
		if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/entered-in-error", med,
			map[string]any{"kind": "note", "id": n.ID, "version": n.Version, "reason": "paciente equivocado"}, nil); st != 200 {
			t.Fatalf("entered in error: %d", st)
		}
	}
	const (
		draftBody     = "Sospecha sin confirmar: pendiente de biopsia"
		draftEIEBody  = "Borrador anotado en la historia equivocada"
		signedBody    = "Evolución favorable, se firma el informe"
		signedEIEBody = "Informe firmado por error en esta historia"
	)
	draft := write("Borrador privado", draftBody, false)
	eie(write("Borrador erróneo", draftEIEBody, false))
	write("Informe firmado", signedBody, true)
	signedEIE := write("Informe erróneo", signedEIEBody, true)
	eie(signedEIE)

	// The physician's chart shows all four.
	medCookies, _ := f.browserLogin(t, f.a.TenantID, "medico")
	chart := body(t, f.get("/medico/pacientes/"+pid, medCookies, ""))
	for _, want := range []string{draftBody, draftEIEBody, signedBody, signedEIEBody} {
		if !strings.Contains(chart, want) {
			t.Fatalf("the physician's chart lacks %q", want)
		}
	}

	// The portal page.
	cookies, _ := f.browserLogin(t, f.a.TenantID, "paciente")
	res := f.get("/paciente/"+pid, cookies, "")
	page := body(t, res)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("portal: %d", res.StatusCode)
	}
	for _, hidden := range []string{draftBody, draftEIEBody, "Borrador privado", "Plan de alta", `class="badge draft"`, "note-" + draft.ID} {
		if strings.Contains(page, hidden) {
			t.Errorf("the portal shows %q", hidden)
		}
	}
	if !strings.Contains(page, signedBody) {
		t.Errorf("the portal lacks the signed note")
	}
	i := strings.Index(page, `id="note-`+signedEIE.ID+`"`)
	if i < 0 || !strings.Contains(page[i:min(len(page), i+2000)], `class="badge eie"`) {
		t.Errorf("the signed note entered in error is not shown marked as such")
	}

	// The portal API.
	tok := f.token(t, f.a.TenantID, "paciente")
	var c chartOut
	if st := f.api(t, "GET", "/api/v1/patients/"+pid+"/chart", tok, nil, &c); st != 200 {
		t.Fatalf("own chart by API: %d", st)
	}
	statuses := map[string]string{}
	for _, n := range c.Notes {
		statuses[n.Body] = n.Status
		if n.Status == "draft" || n.ID == draft.ID {
			t.Errorf("the API gives the patient a draft: %+v", n)
		}
	}
	for _, hidden := range []string{draftBody, draftEIEBody} {
		if _, ok := statuses[hidden]; ok {
			t.Errorf("the API gives the patient the note %q", hidden)
		}
	}
	if statuses[signedBody] != "signed" || statuses[signedEIEBody] != "entered-in-error" {
		t.Errorf("the API gives the patient %v", statuses)
	}
	// The history of a draft is not found; a signed note's history has
	// its signed version only.
	if st := f.api(t, "GET", "/api/v1/patients/"+pid+"/notes/"+draft.ID+"/history", tok, nil, nil); st != http.StatusNotFound {
		t.Errorf("the history of a draft by the patient: %d, want 404", st)
	}
	var h struct {
		Versions []struct {
			Version int
			Data    struct{ Status, Body string }
		}
	}
	if st := f.api(t, "GET", "/api/v1/patients/"+pid+"/notes/"+signedEIE.ID+"/history", tok, nil, &h); st != 200 || len(h.Versions) == 0 {
		t.Errorf("the history of a signed note by the patient: %d, %d versions", st, len(h.Versions))
	}
	for _, v := range h.Versions {
		if v.Data.Status == "draft" {
			t.Errorf("the patient reads a draft version: %+v", v)
		}
	}
	// The physician still reads the draft's history.
	if st := f.api(t, "GET", "/api/v1/patients/"+pid+"/notes/"+draft.ID+"/history", med, nil, nil); st != 200 {
		t.Errorf("the history of a draft by the physician: %d", st)
	}
}

// TestLoginFailedKeepsUsername: after wrong credentials the form comes
// back with the username filled in and the password empty.
func TestLoginFailedKeepsUsername(t *testing.T) {
	f := newFixture(t)
	const wrong = "no-es-la-clave-123"
	form := url.Values{"username": {"medico"}, "password": {wrong}, "tenant": {f.a.TenantID}}
	r := httptest.NewRequest("POST", "/auth", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "text/html")
	res := f.serve(r)
	b := body(t, res)
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", res.StatusCode)
	}
	if !strings.Contains(b, `id="login-error"`) || !strings.Contains(b, `name="username" id="username" value="medico"`) {
		t.Errorf("the form does not keep the username:\n%s", b)
	}
	if strings.Contains(b, wrong) {
		t.Error("the page sends the password back")
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}
}
