package server

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// sectionOut is the summary of a section in the bounded chart's JSON.
type sectionOut struct {
	Total  int    `json:"total"`
	Active int    `json:"active"`
	Next   string `json:"next"`
}

// boundedChartOut is the bounded chart's JSON, as far as these tests read
// it.
type boundedChartOut struct {
	Notes []struct {
		ID, Status, Body string
	} `json:"notes"`
	Observations []struct {
		ID string `json:"id"`
	} `json:"observations"`
	Withheld []string              `json:"withheld"`
	Sections map[string]sectionOut `json:"sections"`
}

// sectionPageOut is a page of one section.
type sectionPageOut struct {
	Section string `json:"section"`
	Items   []struct {
		ID, Status, Body string
	} `json:"items"`
	Total int    `json:"total"`
	Next  string `json:"next"`
}

// apiRaw calls the JSON API and returns the status and the body.
func (f *fixture) apiRaw(t *testing.T, path, tok string) (int, []byte) {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	res := f.serve(r)
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// pageNotes reads the notes section of patient pid through the section
// endpoint, limit a page, from cursor on (the chart's next), and returns
// every note's id and status in order.
func pageNotes(t *testing.T, f *fixture, pid, tok, cursor string, limit int) (ids, statuses []string) {
	t.Helper()
	for pages := 0; cursor != ""; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		var pg sectionPageOut
		path := "/api/v1/patients/" + pid + "/chart/notes?limit=" + strconv.Itoa(limit) + "&cursor=" + url.QueryEscape(cursor)
		if st := f.api(t, "GET", path, tok, nil, &pg); st != 200 {
			t.Fatalf("page of notes: %d", st)
		}
		if pg.Section != "notes" || len(pg.Items) == 0 || len(pg.Items) > limit {
			t.Fatalf("page of notes: section %q, %d items (limit %d)", pg.Section, len(pg.Items), limit)
		}
		for _, n := range pg.Items {
			ids, statuses = append(ids, n.ID), append(statuses, n.Status)
		}
		cursor = pg.Next
	}
	return ids, statuses
}

// TestChartAPIBounded: the chart of the JSON API holds each section's
// most recent rows, newest first, with its counts and a cursor, and the
// section endpoint pages on to the end with no note repeated or lost;
// the patient's pages hold no draft; a withheld section stays withheld
// (403, audited); a bad cursor or section is refused naming the field;
// and each page is audited as a read of the section.
func TestChartAPIBounded(t *testing.T) {
	f := newFixture(t)
	pid := f.a.PatientID
	med := f.token(t, f.a.TenantID, "medico")
	var before boundedChartOut
	if st := f.api(t, "GET", "/api/v1/patients/"+pid+"/chart", med, nil, &before); st != 200 {
		t.Fatalf("chart: %d", st)
	}
	var last string
	for i := range 13 {
		var n struct{ ID string }
		if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/notes", med,
			map[string]any{"title": "Evolución " + strconv.Itoa(i), "body": "Nota número " + strconv.Itoa(i), "sign": i%2 == 0}, &n); st != 201 {
			t.Fatalf("note %d: %d", i, st)
		}
		last = n.ID
	}
	var c boundedChartOut
	if st := f.api(t, "GET", "/api/v1/patients/"+pid+"/chart", med, nil, &c); st != 200 {
		t.Fatalf("chart: %d", st)
	}
	notes := c.Sections["notes"]
	if len(c.Notes) != 10 || notes.Total != before.Sections["notes"].Total+13 || notes.Next == "" {
		t.Fatalf("chart notes: %d, summary %+v; want 10 of %d and a cursor", len(c.Notes), notes, before.Sections["notes"].Total+13)
	}
	if c.Notes[0].ID != last {
		t.Errorf("the newest note is not first")
	}
	if _, ok := c.Sections["observations"]; !ok {
		t.Errorf("no observations summary: %v", c.Sections)
	}
	ids, _ := pageNotes(t, f, pid, med, notes.Next, 4)
	for _, n := range c.Notes {
		ids = append(ids, n.ID)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("note %s read twice", id)
		}
		seen[id] = true
	}
	if len(ids) != notes.Total {
		t.Errorf("paged %d notes, the chart counts %d", len(ids), notes.Total)
	}
	var kind string
	if err := f.pool.QueryRow(context.Background(), `SELECT kind FROM audit_events WHERE patient_id = $1 ORDER BY seq DESC LIMIT 1`, pid).Scan(&kind); err != nil || kind != "note" {
		t.Errorf("a page of notes is audited as %q (%v), want note", kind, err)
	}

	// The patient pages through signed notes only, and counts them.
	pat := f.token(t, f.a.TenantID, "paciente")
	var own boundedChartOut
	if st := f.api(t, "GET", "/api/v1/patients/"+pid+"/chart?limit=2", pat, nil, &own); st != 200 {
		t.Fatalf("own chart: %d", st)
	}
	ownIDs, statuses := pageNotes(t, f, pid, pat, own.Sections["notes"].Next, 3)
	for _, n := range own.Notes {
		ownIDs, statuses = append(ownIDs, n.ID), append(statuses, n.Status)
	}
	if slices.Contains(statuses, "draft") || len(ownIDs) != own.Sections["notes"].Total || notes.Total-own.Sections["notes"].Total < 6 {
		t.Errorf("patient's notes: %d paged with statuses %v, %d counted (staff count %d)", len(ownIDs), statuses, own.Sections["notes"].Total, notes.Total)
	}

	// Refused input names the field; a section the caller may not read
	// stays withheld.
	for path, field := range map[string]string{
		"/api/v1/patients/" + pid + "/chart/notes?cursor=" + url.QueryEscape(notes.Next[:len(notes.Next)-4]+"AAAA"): "cursor",
		"/api/v1/patients/" + pid + "/chart/observations?cursor=" + url.QueryEscape(notes.Next):                     "cursor",
		"/api/v1/patients/" + pid + "/chart/notes?limit=501":                                                        "limit",
		"/api/v1/patients/" + pid + "/chart/notes?limit=x":                                                          "limit",
		"/api/v1/patients/" + pid + "/chart/demographics":                                                           "section",
		"/api/v1/patients/" + pid + "/chart?window=x":                                                               "window",
	} {
		st, b := f.apiRaw(t, path, med)
		var e struct {
			Fields map[string]string `json:"fields"`
		}
		_ = json.Unmarshal(b, &e)
		if st != http.StatusUnprocessableEntity || e.Fields[field] == "" {
			t.Errorf("GET %s: %d %s, want 422 naming %s", path, st, b, field)
		}
	}
	adm := f.token(t, f.a.TenantID, "admisionista")
	if st, _ := f.apiRaw(t, "/api/v1/patients/"+pid+"/chart/notes", adm); st != http.StatusForbidden {
		t.Errorf("admissions desk's page of notes: %d, want 403", st)
	}
	var outcome string
	if err := f.pool.QueryRow(context.Background(), `SELECT kind || ' ' || outcome FROM audit_events WHERE patient_id = $1 ORDER BY seq DESC LIMIT 1`, pid).Scan(&outcome); err != nil || outcome != "note denied" {
		t.Errorf("the refused page is audited as %q (%v)", outcome, err)
	}
}

var moreLink = regexp.MustCompile(`href="([^"]*/seccion/notas\?cursor=[^"]*)"`)

// TestChartPagesBounded: the physician's chart and the patient's portal
// show each section's count and a link to the rest, which opens the next
// page of the section (for the patient, signed notes only); the vital
// signs offer windows, the one shown marked.
func TestChartPagesBounded(t *testing.T) {
	f := newFixture(t)
	pid := f.a.PatientID
	med := f.token(t, f.a.TenantID, "medico")
	for i := range 12 {
		body := "Borrador de la nota " + strconv.Itoa(i)
		if i%2 == 0 {
			body = "Firmada la nota " + strconv.Itoa(i)
		}
		if st := f.api(t, "POST", "/api/v1/patients/"+pid+"/notes", med, map[string]any{"title": "Nota " + strconv.Itoa(i), "body": body, "sign": i%2 == 0}, nil); st != 201 {
			t.Fatalf("note %d: %d", i, st)
		}
	}
	cookies, _ := f.browserLogin(t, f.a.TenantID, "medico")
	res := f.get("/medico/pacientes/"+pid+"?ventana=7", cookies, "")
	page := body(t, res)
	if res.StatusCode != 200 || !strings.Contains(page, `id="count-notes"`) || !strings.Contains(page, `id="vitals-windows"`) {
		t.Fatalf("chart page: %d, no count of notes or vital-sign windows", res.StatusCode)
	}
	if strings.Contains(page, "Firmada la nota 0<") || strings.Contains(page, "Borrador de la nota 1<") || !strings.Contains(page, "Borrador de la nota 11<") {
		t.Errorf("the chart does not show the 10 newest notes only")
	}
	if !strings.Contains(page, `aria-current="true"`) || strings.Contains(page, `ventana=7#vitals"`) || !strings.Contains(page, `ventana=30#vitals"`) {
		t.Errorf("the 7-day window is not the one marked")
	}
	m := moreLink.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no link to more notes")
	}
	res = f.get(html.UnescapeString(m[1]), cookies, "")
	more := body(t, res)
	if res.StatusCode != 200 || !strings.Contains(more, "Firmada la nota 0<") || !strings.Contains(more, "Borrador de la nota 1<") || strings.Contains(more, "Borrador de la nota 11<") {
		t.Errorf("more notes: %d, the older notes not shown", res.StatusCode)
	}
	if strings.Contains(more, `id="note-form"`) {
		t.Errorf("the page of more notes offers the note form")
	}

	pcookies, _ := f.browserLogin(t, f.a.TenantID, "paciente")
	res = f.get("/paciente/"+pid, pcookies, "")
	portal := body(t, res)
	if res.StatusCode != 200 || !strings.Contains(portal, `id="count-notes"`) || strings.Contains(portal, "Borrador de la nota") {
		t.Fatalf("portal: %d, no count or a draft shown", res.StatusCode)
	}
	if m := moreLink.FindStringSubmatch(portal); m != nil {
		res = f.get(html.UnescapeString(m[1]), pcookies, "")
		if b := body(t, res); res.StatusCode != 200 || strings.Contains(b, "Borrador de la nota") {
			t.Errorf("the patient's page of more notes: %d or a draft shown", res.StatusCode)
		}
	}
	if res := f.get("/paciente/"+pid+"/seccion/notas?cursor=xyz", pcookies, ""); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("a bad cursor on the portal: %d, want 422", res.StatusCode)
	}
}
