package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/demo"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// post sends a form as a browser of this site would (Sec-Fetch-Site:
// same-origin), with the session cookies.
func (f *fixture) post(path string, cookies []*http.Cookie, form url.Values) *http.Response {
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return f.serve(r)
}

// api calls the JSON API with a bearer token.
func (f *fixture) api(t *testing.T, method, path, tok string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r := httptest.NewRequest(method, path, rd)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Content-Type", "application/json")
	res := f.serve(r)
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return res.StatusCode
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type chartOut struct {
	Patient struct {
		ID string `json:"id"`
	} `json:"patient"`
	Notes []struct {
		ID, Status, Body string
		Version          int
	} `json:"notes"`
	Conditions []struct {
		ID, Code, Status string
		Version          int
	} `json:"conditions"`
	Observations []struct {
		Code string
	} `json:"observations"`
	Appointments []struct {
		ID, Status string
	} `json:"appointments"`
	Withheld   []string `json:"withheld"`
	BreakGlass bool     `json:"break_glass"`
	// Sections counts each section (the chart shows the most recent
	// rows of each).
	Sections map[string]struct {
		Total int `json:"total"`
	} `json:"sections"`
}

// newPatient registers a patient of tenant A (as the admissions desk,
// through the API) who is on nobody's care team.
func (f *fixture) newPatient(t *testing.T, doc, family string) string {
	t.Helper()
	tok := f.token(t, f.a.TenantID, "admisionista")
	var p struct{ ID string }
	if st := f.api(t, "POST", "/api/v1/patients", tok, map[string]string{"document_type": "DNI", "document_number": doc,
		"given_names": "Leocadia", "family_names": family, "birth_date": "1961-03-09", "sex": "female"}, &p); st != http.StatusCreated {
		t.Fatalf("register patient: %d", st)
	}
	return p.ID
}

// TestRolesByPage checks every page and form of the roles: the owner role
// gets its page (and its forms answer, here 422 for an empty form), every
// other role 403, and a user of another tenant 404 for patient records.
func TestRolesByPage(t *testing.T) {
	f := newFixture(t)
	pid := f.a.PatientID
	medTok := f.token(t, f.a.TenantID, "medico")
	var c chartOut
	if st := f.api(t, "GET", "/api/v1/patients/"+pid+"/chart", medTok, nil, &c); st != 200 || len(c.Notes) == 0 {
		t.Fatalf("chart by API: %d, %d notes", st, len(c.Notes))
	}
	note := c.Notes[0].ID
	type route struct {
		method, path, owner string
		want                int // the owner's status
	}
	routes := []route{
		{"GET", "/medico/pacientes/" + pid, "medico", 200},
		{"GET", "/medico/pacientes/" + pid + "/notas/" + note + "/historial", "medico", 200},
		{"POST", "/medico/pacientes/" + pid + "/notas", "medico", 422},
		{"POST", "/medico/pacientes/" + pid + "/notas/" + note + "/enmendar", "medico", 422},
		{"POST", "/medico/pacientes/" + pid + "/diagnosticos", "medico", 422},
		{"POST", "/medico/pacientes/" + pid + "/alergias", "medico", 422},
		{"POST", "/medico/pacientes/" + pid + "/medicacion", "medico", 422},
		{"POST", "/medico/pacientes/" + pid + "/constantes", "medico", 422},
		{"POST", "/medico/pacientes/" + pid + "/error", "medico", 422},
		{"POST", "/medico/pacientes/" + pid + "/break-glass", "medico", 422},
		{"GET", "/secretaria", "secretaria", 200},
		{"GET", "/secretaria?view=week&patient=" + pid, "secretaria", 200},
		{"POST", "/secretaria/citas", "secretaria", 422},
		{"POST", "/secretaria/citas/" + note + "/mover", "secretaria", 422},
		{"POST", "/secretaria/citas/" + note + "/cancelar", "secretaria", 422},
		{"POST", "/secretaria/citas/" + note + "/llegada", "secretaria", 422},
		{"GET", "/admisionista?q=a&patient=" + pid, "admisionista", 200},
		{"POST", "/admisionista/ingresos", "admisionista", 422},
		{"POST", "/admisionista/ingresos/" + note + "/traslado", "admisionista", 422},
		{"POST", "/admisionista/ingresos/" + note + "/alta", "admisionista", 422},
		{"POST", "/admisionista/equipo", "admisionista", 422},
		{"GET", "/admin", "admin", 200},
		{"POST", "/admin/usuarios", "admin", 422},
		{"GET", "/auditor", "auditor", 200},
		{"GET", "/paciente/" + pid, "paciente", 200},
	}
	for _, role := range demo.Roles {
		cookies, _ := f.browserLogin(t, f.a.TenantID, role)
		for _, rt := range routes {
			want := http.StatusForbidden
			if rt.owner == role {
				want = rt.want
			}
			var res *http.Response
			if rt.method == "GET" {
				res = f.get(rt.path, cookies, "")
			} else {
				res = f.post(rt.path, cookies, url.Values{})
			}
			if res.StatusCode != want {
				t.Errorf("%s %s %s: %d, want %d", role, rt.method, rt.path, res.StatusCode, want)
			}
		}
	}
	// Users of tenant B: tenant A's patient records are not found.
	medB, _ := f.browserLogin(t, f.b.TenantID, "medico")
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{"/medico/pacientes/" + pid + "/notas", url.Values{"title": {"x"}, "body": {"y"}}},
		{"/medico/pacientes/" + pid + "/diagnosticos", url.Values{"code": {"I10"}, "display": {"HTA"}}},
		{"/medico/pacientes/" + pid + "/constantes", url.Values{"heart_rate": {"70"}}},
		{"/medico/pacientes/" + pid + "/break-glass", url.Values{"reason": {"Urgencia vital en otra sede"}}},
	} {
		if res := f.post(p.path, medB, p.form); res.StatusCode != http.StatusNotFound {
			t.Errorf("medico of tenant B POST %s: %d, want 404", p.path, res.StatusCode)
		}
	}
	if res := f.get("/medico/pacientes/"+pid+"/notas/"+note+"/historial", medB, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("medico of tenant B: note history %d, want 404", res.StatusCode)
	}
	secB, _ := f.browserLogin(t, f.b.TenantID, "secretaria")
	if res := f.get("/secretaria?patient="+pid, secB, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("secretaria of tenant B reads tenant A's contact data: %d, want 404", res.StatusCode)
	}
	admB, _ := f.browserLogin(t, f.b.TenantID, "admisionista")
	prB := f.practitioner(t, f.b.TenantID)
	if res := f.post("/admisionista/ingresos", admB, url.Values{"patient_id": {pid}, "ward": {"UCI"}, "attending": {prB}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("admisionista of tenant B admits tenant A's patient: %d, want 404", res.StatusCode)
	}
}

// practitioner returns the id of the demo medico of tenant.
func (f *fixture) practitioner(t *testing.T, tenant string) string {
	t.Helper()
	var ps struct {
		Practitioners []struct {
			ID, Name string
		}
	}
	if st := f.api(t, "GET", "/api/v1/practitioners", f.token(t, tenant, "secretaria"), nil, &ps); st != 200 || len(ps.Practitioners) == 0 {
		t.Fatalf("practitioners: %d", st)
	}
	for _, p := range ps.Practitioners {
		if strings.Contains(p.Name, "Elena") {
			return p.ID
		}
	}
	return ps.Practitioners[0].ID
}

// TestMedicoScenario: the physician records vitals, a diagnosis, a note
// (signed, then amended with a reason), marks a record entered in error,
// and opens a chart outside their care team by breaking the glass.
func TestMedicoScenario(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.a.PatientID
	cookies, _ := f.browserLogin(t, f.a.TenantID, "medico")
	tok := f.token(t, f.a.TenantID, "medico")
	chart := func() chartOut {
		var c chartOut
		if st := f.api(t, "GET", "/api/v1/patients/"+pid+"/chart", tok, nil, &c); st != 200 {
			t.Fatalf("chart: %d", st)
		}
		return c
	}
	before := chart().Sections["observations"].Total
	// Vitals: an implausible value is refused next to its field.
	res := f.post("/medico/pacientes/"+pid+"/constantes", cookies, url.Values{"heart_rate": {"900"}, "temperature": {"37,2"}})
	if b := body(t, res); res.StatusCode != 422 || !strings.Contains(b, `id="heart_rate-error"`) {
		t.Fatalf("implausible heart rate: %d", res.StatusCode)
	}
	res = f.post("/medico/pacientes/"+pid+"/constantes", cookies, url.Values{"heart_rate": {"88"}, "systolic": {"131"}, "diastolic": {"84"},
		"temperature": {"37,2"}, "spo2": {"97"}, "resp_rate": {"16"}, "weight": {"71.5"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("record vitals: %d", res.StatusCode)
	}
	if got := chart().Sections["observations"].Total; got != before+7 {
		t.Errorf("observations %d, want %d", got, before+7)
	}
	page := body(t, f.get("/medico/pacientes/"+pid, cookies, ""))
	for _, want := range []string{`<svg class="vitals"`, "<polyline", `id="note-form"`, `id="condition-form"`} {
		if !strings.Contains(page, want) {
			t.Errorf("chart page lacks %s", want)
		}
	}
	// A diagnosis with a bad ICD-10 code: 422 at the field; then a good one.
	res = f.post("/medico/pacientes/"+pid+"/diagnosticos", cookies, url.Values{"code": {"hipertension"}, "display": {"Hipertensión"}})
	if b := body(t, res); res.StatusCode != 422 || !strings.Contains(b, `id="code-error"`) || !strings.Contains(b, "Hipertensión") {
		t.Errorf("bad ICD-10: %d", res.StatusCode)
	}
	if res := f.post("/medico/pacientes/"+pid+"/diagnosticos", cookies, url.Values{"code": {"J45.909"}, "display": {"Asma"}}); res.StatusCode != 303 {
		t.Fatalf("condition: %d", res.StatusCode)
	}
	// A draft note, signed, then amended with a reason.
	if res := f.post("/medico/pacientes/"+pid+"/notas", cookies, url.Values{"title": {"Interconsulta"}, "body": {"Texto inicial"}}); res.StatusCode != 303 {
		t.Fatalf("note: %d", res.StatusCode)
	}
	var nid string
	var nver int
	for _, n := range chart().Notes {
		if n.Body == "Texto inicial" {
			nid, nver = n.ID, n.Version
		}
	}
	if nid == "" {
		t.Fatal("the note was not saved")
	}
	if res := f.post("/medico/pacientes/"+pid+"/notas/"+nid+"/firmar", cookies, url.Values{"version": {itoa(nver)}}); res.StatusCode != 303 {
		t.Fatalf("sign: %d", res.StatusCode)
	}
	// Signing again with the old version: the record changed (409).
	res = f.post("/medico/pacientes/"+pid+"/notas/"+nid+"/firmar", cookies, url.Values{"version": {itoa(nver)}})
	if b := body(t, res); res.StatusCode != http.StatusConflict || !strings.Contains(b, `id="chart-alert"`) {
		t.Errorf("stale sign: %d", res.StatusCode)
	}
	// Amending without a reason: 422 next to the note's reason field.
	res = f.post("/medico/pacientes/"+pid+"/notas/"+nid+"/enmendar", cookies, url.Values{"version": {itoa(nver + 1)}, "body": {"Texto corregido"}})
	if b := body(t, res); res.StatusCode != 422 || !strings.Contains(b, `id="reason-error-`+nid+`"`) {
		t.Errorf("amend without reason: %d", res.StatusCode)
	}
	res = f.post("/medico/pacientes/"+pid+"/notas/"+nid+"/enmendar", cookies, url.Values{"version": {itoa(nver + 1)},
		"body": {"Texto corregido"}, "reason": {"Error de transcripción"}})
	if res.StatusCode != 303 {
		t.Fatalf("amend: %d", res.StatusCode)
	}
	hist := body(t, f.get("/medico/pacientes/"+pid+"/notas/"+nid+"/historial", cookies, ""))
	if !strings.Contains(hist, "Texto inicial") || !strings.Contains(hist, "Texto corregido") || !strings.Contains(hist, "Error de transcripción") {
		t.Error("the history lacks a version or the reason")
	}
	// Entered in error, with a reason: kept, with its status.
	var cid string
	var cver int
	for _, c := range chart().Conditions {
		if c.Code == "J45.909" {
			cid, cver = c.ID, c.Version
		}
	}
	if res := f.post("/medico/pacientes/"+pid+"/error", cookies, url.Values{"kind": {"condition"}, "record": {cid}, "version": {itoa(cver)},
		"reason": {"Paciente equivocado"}}); res.StatusCode != 303 {
		t.Fatalf("entered in error: %d", res.StatusCode)
	}
	var status string
	if err := f.pool.QueryRow(ctx, "SELECT status FROM conditions WHERE id = $1", cid).Scan(&status); err != nil || status != "entered-in-error" {
		t.Errorf("condition status %q %v", status, err)
	}
	// Break the glass for a patient outside the care team.
	other := f.newPatient(t, "77777777B", "Urrutikoetxea")
	page = body(t, f.get("/medico/pacientes/"+other, cookies, ""))
	if !strings.Contains(page, `id="breakglass-reason"`) || strings.Contains(page, `id="note-form"`) {
		t.Fatal("outside the care team the chart should offer break-the-glass, not the clinical forms")
	}
	if res := f.post("/medico/pacientes/"+other+"/notas", cookies, url.Values{"title": {"x"}, "body": {"y"}}); res.StatusCode != 403 {
		t.Errorf("note outside the care team: %d, want 403", res.StatusCode)
	}
	res = f.post("/medico/pacientes/"+other+"/break-glass", cookies, url.Values{"reason": {"corto"}})
	if b := body(t, res); res.StatusCode != 422 || !strings.Contains(b, `id="reason-error"`) {
		t.Errorf("short reason: %d", res.StatusCode)
	}
	res = f.post("/medico/pacientes/"+other+"/break-glass", cookies, url.Values{"reason": {"Parada cardiorrespiratoria en urgencias"}})
	if res.StatusCode != 303 || res.Header.Get("Location") != "/medico/pacientes/"+other {
		t.Fatalf("break-glass: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	page = body(t, f.get("/medico/pacientes/"+other, cookies, ""))
	if !strings.Contains(page, `id="breakglass-active"`) || !strings.Contains(page, `id="note-form"`) {
		t.Error("after the grant the chart should open, flagged")
	}
	// The auditor sees the grant, and the patient's chain verifies.
	aud, _ := f.browserLogin(t, f.a.TenantID, "auditor")
	if b := body(t, f.get("/auditor", aud, "")); !strings.Contains(b, "Parada cardiorrespiratoria") || !strings.Contains(b, other) {
		t.Error("the auditor's review lacks the grant")
	}
	res = f.post("/auditor/verify", aud, url.Values{"chain": {other}})
	if b := body(t, res); res.StatusCode != 200 || !strings.Contains(b, `class="alert ok" id="verify-result"`) {
		t.Errorf("verify the patient's chain: %d", res.StatusCode)
	}
	f.noPHI(t, "Urrutikoetxea", "Leocadia", "77777777B", "Parada cardiorrespiratoria", "Texto inicial", "Texto corregido",
		"Error de transcripción", "Paciente equivocado", "Interconsulta")
}

func itoa(n int) string { return strconv.Itoa(n) }

// noPHI fails when the logs contain any of phi.
func (f *fixture) noPHI(t *testing.T, phi ...string) {
	t.Helper()
	logs := f.logs.String()
	for _, s := range phi {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain %q", s)
		}
	}
}

// TestSecretariaScenario: book, double-book (409), move, check in and
// cancel, over the agenda page.
func TestSecretariaScenario(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cookies, _ := f.browserLogin(t, f.a.TenantID, "secretaria")
	pr := f.practitioner(t, f.a.TenantID)
	day := time.Now().AddDate(0, 0, 14).Format("2006-01-02")
	back := "/secretaria?practitioner=" + pr + "&date=" + day
	book := url.Values{"patient_id": {f.patientB}, "practitioner": {pr}, "date": {day}, "time": {"16:05"}, "minutes": {"20"},
		"reason": {"Control de Sintrom"}, "back": {back}}
	res := f.post("/secretaria/citas", cookies, book)
	if res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), back) {
		t.Fatalf("book: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	var id string
	var version int
	if err := f.pool.QueryRow(ctx, "SELECT id::text, version FROM appointments WHERE patient_id = $1 AND reason = $2", f.patientB, "Control de Sintrom").Scan(&id, &version); err != nil {
		t.Fatal(err)
	}
	// The same practitioner at an overlapping time: 409, a clear message.
	book2 := url.Values{"patient_id": {f.a.PatientID}, "practitioner": {pr}, "date": {day}, "time": {"16:15"}, "minutes": {"15"}, "back": {back}}
	res = f.post("/secretaria/citas", cookies, book2)
	if b := body(t, res); res.StatusCode != http.StatusConflict || !strings.Contains(b, `id="agenda-alert"`) {
		t.Errorf("double booking: %d", res.StatusCode)
	}
	// A time not on the 5-minute grid: 422 at the time field.
	book2.Set("time", "16:47")
	if b := body(t, f.post("/secretaria/citas", cookies, book2)); !strings.Contains(b, `id="time-error"`) {
		t.Error("unaligned time: no error at the field")
	}
	// The agenda of that day shows it, the week too.
	if b := body(t, f.get(back, cookies, "")); !strings.Contains(b, "appt-"+id) {
		t.Error("the day's agenda lacks the appointment")
	}
	if b := body(t, f.get(back+"&view=week", cookies, "")); !strings.Contains(b, "appt-"+id) || strings.Count(b, `class="card day"`) != 7 {
		t.Error("the week view lacks the appointment or does not show 7 days")
	}
	// Move it, check in, and the state is in the database.
	mv := url.Values{"patient_id": {f.patientB}, "version": {itoa(version)}, "date": {day}, "time": {"17:00"}, "minutes": {"30"}, "back": {back}}
	if res := f.post("/secretaria/citas/"+id+"/mover", cookies, mv); res.StatusCode != 303 {
		t.Fatalf("move: %d", res.StatusCode)
	}
	if res := f.post("/secretaria/citas/"+id+"/mover", cookies, mv); res.StatusCode != http.StatusConflict {
		t.Errorf("move with a stale version: %d, want 409", res.StatusCode)
	}
	if res := f.post("/secretaria/citas/"+id+"/llegada", cookies, url.Values{"patient_id": {f.patientB}, "version": {itoa(version + 1)}, "back": {back}}); res.StatusCode != 303 {
		t.Fatalf("check in: %d", res.StatusCode)
	}
	var status string
	var start time.Time
	if err := f.pool.QueryRow(ctx, "SELECT status, starts_at FROM appointments WHERE id = $1", id).Scan(&status, &start); err != nil {
		t.Fatal(err)
	}
	if status != "arrived" || start.In(time.Local).Format("15:04") != "17:00" {
		t.Errorf("appointment %s at %v", status, start)
	}
	// The freed 16:05 slot can be booked now; then cancel it.
	book2.Set("time", "16:05")
	if res := f.post("/secretaria/citas", cookies, book2); res.StatusCode != 303 {
		t.Fatalf("book the freed slot: %d", res.StatusCode)
	}
	var id2 string
	f.pool.QueryRow(ctx, "SELECT id::text FROM appointments WHERE patient_id = $1 AND starts_at::date = $2::date ORDER BY created_at DESC LIMIT 1", f.a.PatientID, day).Scan(&id2)
	if res := f.post("/secretaria/citas/"+id2+"/cancelar", cookies, url.Values{"patient_id": {f.a.PatientID}, "version": {"1"}, "reason": {"Lo pide el paciente"}}); res.StatusCode != 303 {
		t.Fatalf("cancel: %d", res.StatusCode)
	}
	f.pool.QueryRow(ctx, "SELECT status FROM appointments WHERE id = $1", id2).Scan(&status)
	if status != "cancelled" {
		t.Errorf("cancelled appointment is %q", status)
	}
	// Contact data of a picked patient.
	b := body(t, f.get("/secretaria?patient="+f.patientB, cookies, ""))
	if !strings.Contains(b, `id="patient-contact"`) || !strings.Contains(b, "@example.org") {
		t.Error("the patient's contact data is not shown")
	}
	// Changing the date or the view, or paging, keeps the picked patient.
	if !strings.Contains(b, `<input type="hidden" name="patient" value="`+f.patientB+`">`) {
		t.Error("the agenda form forgets the picked patient")
	}
	for _, id := range []string{"agenda-prev", "agenda-next"} {
		if !regexp.MustCompile(`href="[^"]*patient=` + f.patientB + `[^"]*" id="` + id + `"`).MatchString(b) {
			t.Errorf("%s forgets the picked patient", id)
		}
	}
	if b := body(t, f.get("/secretaria?view=week&date=2026-11-02&patient="+f.patientB, cookies, "")); !strings.Contains(b, `id="patient-contact"`) || !strings.Contains(b, `class="agenda week"`) {
		t.Error("the week view forgets the picked patient")
	}
	f.noPHI(t, "Control de Sintrom", "Lo pide el paciente")
}

// TestAdmisionistaScenario: admit with an attending physician, transfer,
// assign the care team, discharge.
func TestAdmisionistaScenario(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cookies, _ := f.browserLogin(t, f.a.TenantID, "admisionista")
	pr := f.practitioner(t, f.a.TenantID)
	pid := f.newPatient(t, "88888888Y", "Ibarguren")
	if b := body(t, f.get("/admisionista?q=Ibarguren&patient="+pid, cookies, "")); !strings.Contains(b, `id="admit-form"`) || !strings.Contains(b, `id="careteam-form"`) {
		t.Fatal("the picked patient's admit and care-team forms are missing")
	}
	res := f.post("/admisionista/ingresos", cookies, url.Values{"patient_id": {pid}, "ward": {""}, "attending": {pr}})
	if b := body(t, res); res.StatusCode != 422 || !strings.Contains(b, `id="ward-error"`) {
		t.Errorf("admit without ward: %d", res.StatusCode)
	}
	if res := f.post("/admisionista/ingresos", cookies, url.Values{"patient_id": {pid}, "ward": {"Neumología"}, "bed": {"204"}, "attending": {pr}, "reason": {"Neumonía"}}); res.StatusCode != 303 {
		t.Fatalf("admit: %d", res.StatusCode)
	}
	if res := f.post("/admisionista/ingresos", cookies, url.Values{"patient_id": {pid}, "ward": {"Neumología"}, "attending": {pr}}); res.StatusCode != http.StatusConflict {
		t.Errorf("second admission: %d, want 409", res.StatusCode)
	}
	var enc string
	var ver int
	if err := f.pool.QueryRow(ctx, "SELECT id::text, version FROM encounters WHERE patient_id = $1 AND class = 'inpatient'", pid).Scan(&enc, &ver); err != nil {
		t.Fatal(err)
	}
	if b := body(t, f.get("/admisionista", cookies, "")); !strings.Contains(b, "admission-"+enc) {
		t.Error("the admission is not listed")
	}
	// The attending physician is on the care team: the medico sees the chart.
	med, _ := f.browserLogin(t, f.a.TenantID, "medico")
	if b := body(t, f.get("/medico/pacientes/"+pid, med, "")); !strings.Contains(b, `id="note-form"`) {
		t.Error("the attending physician cannot work on the chart")
	}
	if res := f.post("/admisionista/ingresos/"+enc+"/traslado", cookies, url.Values{"patient_id": {pid}, "version": {itoa(ver)}, "ward": {"UCI"}, "bed": {"3"}, "attending": {pr}}); res.StatusCode != 303 {
		t.Fatalf("transfer: %d", res.StatusCode)
	}
	var ward string
	f.pool.QueryRow(ctx, "SELECT ward, version FROM encounters WHERE id = $1", enc).Scan(&ward, &ver)
	if ward != "UCI" {
		t.Errorf("ward %q after transfer", ward)
	}
	if res := f.post("/admisionista/equipo", cookies, url.Values{"patient_id": {f.patientB}, "practitioner": {pr}, "role": {"consultant"}}); res.StatusCode != 303 && res.StatusCode != http.StatusConflict {
		t.Errorf("assign care team: %d", res.StatusCode)
	}
	if res := f.post("/admisionista/ingresos/"+enc+"/alta", cookies, url.Values{"patient_id": {pid}, "version": {itoa(ver)}, "disposition": {"home"}}); res.StatusCode != 303 {
		t.Fatalf("discharge: %d", res.StatusCode)
	}
	var status string
	f.pool.QueryRow(ctx, "SELECT status FROM encounters WHERE id = $1", enc).Scan(&status)
	if status != "finished" {
		t.Errorf("encounter %q after discharge", status)
	}
	f.noPHI(t, "Ibarguren", "Neumonía")
}

// TestAdminScenario: add a physician (with their practitioner record) and a
// patient user, disable, enable and reset a password.
func TestAdminScenario(t *testing.T) {
	f := newFixture(t)
	cookies, _ := f.browserLogin(t, f.a.TenantID, "admin")
	const pw = "una-clave-bastante-larga"
	res := f.post("/admin/usuarios", cookies, url.Values{"username": {"dra.vega"}, "role": {"medico"}, "password": {pw}})
	if b := body(t, res); res.StatusCode != 422 || !strings.Contains(b, `id="practitioner_name-error"`) || strings.Contains(b, pw) {
		t.Errorf("medico without practitioner name: %d", res.StatusCode)
	}
	res = f.post("/admin/usuarios", cookies, url.Values{"username": {"dra.vega"}, "role": {"medico"}, "password": {pw}, "practitioner_name": {"Dra. Vega"}, "specialty": {"Geriatría"}})
	if res.StatusCode != 303 {
		t.Fatalf("add medico: %d", res.StatusCode)
	}
	if res := f.post("/admin/usuarios", cookies, url.Values{"username": {"dra.vega"}, "role": {"medico"}, "password": {pw}, "practitioner_name": {"X"}}); res.StatusCode != http.StatusConflict {
		t.Errorf("taken username: %d, want 409", res.StatusCode)
	}
	login := func(user, password string) int {
		form := url.Values{"username": {user}, "password": {password}, "tenant": {f.a.TenantID}}
		r := httptest.NewRequest("POST", "/auth", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return f.serve(r).StatusCode
	}
	if st := login("dra.vega", pw); st != 200 {
		t.Fatalf("the new medico cannot sign in: %d", st)
	}
	tok := f.token(t, f.a.TenantID, "secretaria")
	var ps struct{ Practitioners []struct{ Name string } }
	f.api(t, "GET", "/api/v1/practitioners", tok, nil, &ps)
	found := false
	for _, p := range ps.Practitioners {
		found = found || p.Name == "Dra. Vega"
	}
	if !found {
		t.Error("no practitioner record for the new medico")
	}
	// An admin cannot link an account to a patient; the patient
	// activates it with the admissions desk's code.
	if res := f.post("/admin/usuarios", cookies, url.Values{"username": {"paciente2"}, "role": {"paciente"}, "password": {pw}, "patient_id": {f.patientB}}); res.StatusCode != 422 {
		t.Fatalf("admin adds a paciente: %d, want 422", res.StatusCode)
	}
	var act struct{ Code string }
	if st := f.api(t, "POST", "/api/v1/patients/"+f.patientB+"/activation-code", f.token(t, f.a.TenantID, "admisionista"), map[string]string{}, &act); st != 201 {
		t.Fatalf("activation code: %d", st)
	}
	if res := f.post("/activar", nil, url.Values{"code": {act.Code}, "username": {"paciente2"}, "password": {pw}}); res.StatusCode != 200 {
		t.Fatalf("activate paciente2: %d", res.StatusCode)
	}
	u, err := demoUser(f, "paciente2")
	if err != nil || u.PatientID != f.patientB {
		t.Fatalf("paciente2: %+v %v", u, err)
	}
	if res := f.post("/admin/usuarios/"+u.ID+"/desactivar", cookies, nil); res.StatusCode != 303 {
		t.Fatalf("disable: %d", res.StatusCode)
	}
	if st := login("paciente2", pw); st == 200 {
		t.Error("a disabled user signed in")
	}
	f.post("/admin/usuarios/"+u.ID+"/activar", cookies, nil)
	res = f.post("/admin/usuarios/"+u.ID+"/clave", cookies, url.Values{"password": {"corta"}})
	if b := body(t, res); res.StatusCode != 422 || !strings.Contains(b, `id="password-error-`+u.ID+`"`) {
		t.Errorf("weak password: %d", res.StatusCode)
	}
	if res := f.post("/admin/usuarios/"+u.ID+"/clave", cookies, url.Values{"password": {"otra-clave-muy-larga-y-nueva"}}); res.StatusCode != 303 {
		t.Fatalf("reset: %d", res.StatusCode)
	}
	if st := login("paciente2", "otra-clave-muy-larga-y-nueva"); st != 200 {
		t.Errorf("sign in with the reset password: %d", st)
	}
	// The API refuses user administration to anyone but the admin.
	if st := f.api(t, "GET", "/api/v1/users", tok, nil, nil); st != http.StatusForbidden {
		t.Errorf("secretaria lists users: %d", st)
	}
	if st := f.api(t, "POST", "/api/v1/users/"+u.ID+"/disable", tok, map[string]string{}, nil); st != http.StatusForbidden {
		t.Errorf("secretaria disables a user: %d", st)
	}
	// Another tenant's user is not found.
	adminB, _ := f.browserLogin(t, f.b.TenantID, "admin")
	if res := f.post("/admin/usuarios/"+u.ID+"/desactivar", adminB, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("admin of tenant B disables a user of A: %d", res.StatusCode)
	}
	f.noPHI(t, pw, "otra-clave-muy-larga-y-nueva")
}

func demoUser(f *fixture, name string) (struct{ ID, PatientID string }, error) {
	var u struct{ ID, PatientID string }
	err := f.pool.QueryRow(context.Background(), "SELECT id::text, coalesce(patient_id, '') FROM users WHERE username = $1", name).Scan(&u.ID, &u.PatientID)
	return u, err
}

// TestPatientPortal: the patient's own chart read-only with vitals,
// notes and appointments; another patient's id is 404 by page and API.
func TestPatientPortal(t *testing.T) {
	f := newFixture(t)
	cookies, _ := f.browserLogin(t, f.a.TenantID, "paciente")
	b := body(t, f.get("/paciente/"+f.a.PatientID, cookies, ""))
	for _, want := range []string{`<svg class="vitals"`, `id="notes"`, `id="my-appointments"`, `id="access-log"`, "Evolución"} {
		if !strings.Contains(b, want) {
			t.Errorf("portal lacks %s", want)
		}
	}
	if strings.Contains(b, "Plan de alta") {
		t.Error("the portal shows a draft note")
	}
	for _, form := range []string{"<form class=\"stack\" method=\"post\" action=\"/medico", `id="note-form"`, `id="vitals-form"`, "eie-form"} {
		if strings.Contains(b, form) {
			t.Errorf("the read-only portal offers %s", form)
		}
	}
	tok := f.token(t, f.a.TenantID, "paciente")
	var c chartOut
	if st := f.api(t, "GET", "/api/v1/patients/"+f.a.PatientID+"/chart", tok, nil, &c); st != 200 || len(c.Observations) == 0 || len(c.Appointments) == 0 {
		t.Errorf("own chart by API: %d, %d observations, %d appointments", st, len(c.Observations), len(c.Appointments))
	}
	// Writes are refused (the patient gets 404, never 403).
	if st := f.api(t, "POST", "/api/v1/patients/"+f.a.PatientID+"/notes", tok, map[string]any{"title": "x", "body": "y"}, nil); st != http.StatusNotFound && st != http.StatusForbidden {
		t.Errorf("patient writes a note: %d", st)
	}
	if st := f.api(t, "POST", "/api/v1/patients/"+f.patientB+"/notes", tok, map[string]any{"title": "x", "body": "y"}, nil); st != http.StatusNotFound {
		t.Errorf("patient writes another's note: %d, want 404", st)
	}
}

// TestAPIFlows runs each role's main task over the JSON API.
func TestAPIFlows(t *testing.T) {
	f := newFixture(t)
	pid := f.a.PatientID
	med := f.token(t, f.a.TenantID, "medico")
	var n struct {
		ID      string
		Version int
	}
	if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/notes", med, map[string]any{"title": "API", "body": "nota por API"}, &n); st != 201 {
		t.Fatalf("note: %d", st)
	}
	var v struct{ Version int }
	if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/notes/"+n.ID+"/sign", med, map[string]any{"version": n.Version}, &v); st != 200 || v.Version != n.Version+1 {
		t.Fatalf("sign: %d %d", st, v.Version)
	}
	if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/notes/"+n.ID+"/sign", med, map[string]any{"version": n.Version}, nil); st != http.StatusConflict {
		t.Errorf("stale sign: %d", st)
	}
	if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/notes/"+n.ID+"/amend", med, map[string]any{"version": v.Version, "body": "b", "reason": ""}, nil); st != 422 {
		t.Errorf("amend without reason: %d", st)
	}
	if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/conditions", med, map[string]any{"code": "I10", "display": "HTA"}, nil); st != 201 {
		t.Errorf("condition: %d", st)
	}
	if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/allergies", med, map[string]any{"substance": "Yodo", "severity": "severe"}, nil); st != 201 {
		t.Errorf("allergy: %d", st)
	}
	if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/medications", med, map[string]any{"medication": "Amoxicilina", "dose": -1, "dose_unit": "mg", "route": "oral", "frequency": "8h"}, nil); st != 422 {
		t.Errorf("negative dose: %d", st)
	}
	hr := 72.0
	if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/observations", med, map[string]any{"observations": []map[string]any{{"code": "8867-4", "value": hr, "unit": "/min"}}}, nil); st != 201 {
		t.Errorf("observation: %d", st)
	}
	sec := f.token(t, f.a.TenantID, "secretaria")
	pr := f.practitioner(t, f.a.TenantID)
	start := time.Now().AddDate(0, 0, 20).Truncate(time.Hour)
	var ap struct {
		ID      string
		Version int
	}
	if st := f.api(t, "POST", "/api/v1/appointments", sec, map[string]any{"patient_id": pid, "practitioner_id": pr, "start": start, "end": start.Add(30 * time.Minute)}, &ap); st != 201 {
		t.Fatalf("book: %d", st)
	}
	if st := f.api(t, "POST", "/api/v1/appointments", sec, map[string]any{"patient_id": f.patientB, "practitioner_id": pr, "start": start.Add(10 * time.Minute), "end": start.Add(40 * time.Minute)}, nil); st != http.StatusConflict {
		t.Errorf("double booking by API: %d, want 409", st)
	}
	if st := f.api(t, "POST", "/api/v1/appointments/"+ap.ID+"/check-in", sec, map[string]any{"patient_id": pid, "version": ap.Version}, nil); st != 200 {
		t.Errorf("check in: %d", st)
	}
	if st := f.api(t, "POST", "/api/v1/appointments", med, map[string]any{"patient_id": pid, "practitioner_id": pr, "start": start.Add(2 * time.Hour), "end": start.Add(3 * time.Hour)}, nil); st != http.StatusForbidden {
		t.Errorf("medico books: %d, want 403", st)
	}
	var list struct{ Appointments []struct{ ID string } }
	q := url.Values{"practitioner": {pr}, "from": {start.Add(-time.Hour).Format(time.RFC3339)}, "to": {start.Add(time.Hour).Format(time.RFC3339)}}
	if st := f.api(t, "GET", "/api/v1/appointments?"+q.Encode(), sec, nil, &list); st != 200 || len(list.Appointments) != 1 {
		t.Errorf("agenda: %d %v", st, list)
	}
	adm := f.token(t, f.a.TenantID, "admisionista")
	other := f.newPatient(t, "99999999R", "Etxeberria")
	var enc struct {
		ID      string
		Version int
	}
	if st := f.api(t, "POST", "/api/v1/admissions", adm, map[string]any{"patient_id": other, "attending_id": pr, "ward": "Cirugía"}, &enc); st != 201 {
		t.Fatalf("admit: %d", st)
	}
	if st := f.api(t, "POST", "/api/v1/admissions/"+enc.ID+"/discharge", adm, map[string]any{"patient_id": other, "version": enc.Version, "disposition": "home"}, nil); st != 200 {
		t.Errorf("discharge: %d", st)
	}
	if st := f.api(t, "POST", "/api/v1/patients/"+other+"/notes", adm, map[string]any{"title": "x", "body": "y"}, nil); st != http.StatusForbidden {
		t.Errorf("admisionista writes a note: %d", st)
	}
	aud := f.token(t, f.a.TenantID, "auditor")
	if st := f.api(t, "GET", "/api/v1/audit/break-glass", aud, nil, nil); st != 200 {
		t.Errorf("grants: %d", st)
	}
	if st := f.api(t, "GET", "/api/v1/audit/break-glass", med, nil, nil); st != http.StatusForbidden {
		t.Errorf("medico reviews grants: %d", st)
	}
	admin := f.token(t, f.a.TenantID, "admin")
	if st := f.api(t, "POST", "/api/v1/users", admin, map[string]any{"username": "enfermera", "role": "secretaria", "password": "clave-de-enfermeria-1"}, nil); st != 201 {
		t.Errorf("add user by API: %d", st)
	}
}

// TestAuditVerifyAndPoolMetrics: `historia audit verify` passes on an
// intact database and fails on a tampered event; /metrics has the pool.
func TestAuditVerifyAndPoolMetrics(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var out bytes.Buffer
	if err := app.VerifyAudit(ctx, f.pool, "", &out); err != nil {
		t.Fatalf("verify all: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "0 broken") {
		t.Errorf("summary: %s", out.String())
	}
	out.Reset()
	if err := app.VerifyAudit(ctx, f.pool, f.a.PatientID, &out); err != nil || !strings.Contains(out.String(), "ok chain "+f.a.PatientID) {
		t.Errorf("verify one: %v %s", err, out.String())
	}
	if _, err := f.pool.Exec(ctx, "UPDATE audit_events SET action = 'delete' WHERE patient_id::text = $1 AND seq = 1", f.a.PatientID); err != nil {
		t.Skipf("cannot tamper with the audit trail here: %v", err)
	}
	out.Reset()
	err := app.VerifyAudit(ctx, f.pool, "", &out)
	if !errors.Is(err, app.ErrChainsBroken) || !strings.Contains(out.String(), "BROKEN") || !strings.Contains(out.String(), f.a.PatientID) {
		t.Errorf("tampered chain: %v\n%s", err, out.String())
	}
	// A tenant-wide event, on a lane of the tenant's own chains other than
	// lane 0, tampered with: the verification of the tenant names the lane.
	lanes, err := ehr.TenantChains(f.a.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	var lane string
	if err := f.pool.QueryRow(ctx, "SELECT patient_id::text FROM audit_events WHERE tenant_id = $1 AND patient_id = ANY($2::uuid[]) AND patient_id <> $1 LIMIT 1",
		f.a.TenantID, lanes).Scan(&lane); err != nil {
		t.Fatalf("no tenant-wide event on a lane other than 0: %v", err)
	}
	if _, err := f.pool.Exec(ctx, "UPDATE audit_events SET action = 'delete' WHERE patient_id::text = $1 AND seq = 1", lane); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = app.VerifyAudit(ctx, f.pool, "", &out)
	if !errors.Is(err, app.ErrChainsBroken) || !strings.Contains(out.String(), "BROKEN tenant "+f.a.TenantID+": ehr: audit chain broken: chain "+lane) {
		t.Errorf("tampered lane %s: %v\n%s", lane, err, out.String())
	}
	// Not public: the main listener does not serve them by default.
	if res := f.get("/metrics", nil, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the main listener: %d, want 404", res.StatusCode)
	}
	w := httptest.NewRecorder()
	f.h.(*web.Router).MetricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	b := w.Body.String()
	for _, m := range []string{"historia_db_pool_total_conns", "historia_db_pool_acquires_total", "historia_login_spraying_alerts_total"} {
		if !strings.Contains(b, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}
