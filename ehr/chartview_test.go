package ehr_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// key is the sort key of a chart row: its time and id.
type key struct {
	at time.Time
	id string
}

// newestFirst reports whether keys are strictly descending by (at, id),
// the order of ChartView and ChartSection.
func newestFirst(keys []key) bool {
	for i := 1; i < len(keys); i++ {
		a, b := keys[i-1], keys[i]
		if a.at.Before(b.at) || (a.at.Equal(b.at) && a.id <= b.id) {
			return false
		}
	}
	return true
}

func noteKeys(ns []ehr.Note) []key {
	var out []key
	for _, n := range ns {
		out = append(out, key{n.CreatedAt, n.ID})
	}
	return out
}

func observationKeys(os []ehr.Observation) []key {
	var out []key
	for _, o := range os {
		out = append(out, key{o.EffectiveAt, o.ID})
	}
	return out
}

// pageAll reads section k of patient pid through ChartSection from
// first's cursor on, limit rows a page, and returns the keys of every
// page in order (first's rows included) and the number of pages.
func pageAll(t *testing.T, repo *ehr.Repository, ctx context.Context, pid string, k rbac.Kind, first ehr.ChartView, limit int,
	keys func(ehr.Chart) []key) ([]key, int) {
	t.Helper()
	all := keys(first.Chart)
	next, pages := first.Sections[k].Next, 1
	for next != "" {
		v, err := repo.ChartSection(ctx, pid, ehr.SectionQuery{Kind: k, Limit: limit, Cursor: next})
		if err != nil {
			t.Fatalf("page %d of %s: %v", pages+1, k, err)
		}
		got := keys(v.Chart)
		if len(got) == 0 || len(got) > limit {
			t.Fatalf("page %d of %s has %d rows, limit %d", pages+1, k, len(got), limit)
		}
		if v.Sections[k].Total != first.Sections[k].Total {
			t.Errorf("page %d of %s counts %d rows, the first %d", pages+1, k, v.Sections[k].Total, first.Sections[k].Total)
		}
		all = append(all, got...)
		next = v.Sections[k].Next
		pages++
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
	}
	return all, pages
}

// lastEvent returns the kind, action and outcome of the newest audit
// event of patient pid's chain, and the number of events.
func lastEvent(t *testing.T, pool *pgxpool.Pool, pid string) (kind, action, outcome string, n int) {
	t.Helper()
	err := pool.QueryRow(context.Background(), `SELECT kind, action, outcome, (SELECT count(*) FROM audit_events WHERE patient_id = $1)
FROM audit_events WHERE patient_id = $1 ORDER BY seq DESC LIMIT 1`, pid).Scan(&kind, &action, &outcome, &n)
	if err != nil {
		t.Fatal(err)
	}
	return kind, action, outcome, n
}

// TestChartViewBoundsAndPages: a clinician's chart reads each section's
// most recent rows, newest first, at most the bound, with its counts;
// ChartSection pages on with the cursor to the oldest row with no row
// repeated or skipped (rows sharing a time included); the vital signs are
// those of the window asked for; and every read is audited.
func TestChartViewBoundsAndPages(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	med := h.As(h.Medico)
	repo := h.Repo

	for i := range 25 {
		must(repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: fmt.Sprintf("Evolución %d", i), Body: "Estable."}, i%2 == 0))
	}
	// 20 vital-sign sets of 3 signs sharing a time, one every 3 days back
	// from an hour ago: 10 sets (30 observations) in the last 30 days.
	now := time.Now()
	var obs []ehr.Observation
	for i := range 20 {
		at := now.Add(-time.Hour - time.Duration(i)*72*time.Hour)
		for j, code := range []string{ehr.CodeHeartRate, ehr.CodeSystolicBP, ehr.CodeBodyTemp} {
			v := float64(60 + i + j)
			obs = append(obs, ehr.Observation{Category: ehr.CategoryVitalSigns, Code: code, Value: &v, Unit: "1", EffectiveAt: at})
		}
	}
	must(repo.RecordObservations(med, p.ID, obs))
	conds := make([]ehr.Condition, 3)
	for i, code := range []string{"E11.9", "I10", "J45"} {
		conds[i] = must(repo.RecordCondition(med, ehr.Condition{PatientID: p.ID, Code: code, Display: "Diagnóstico " + code}))
	}
	must(repo.MarkEnteredInError(med, ehr.RecordRef{Kind: rbac.KindCondition, PatientID: p.ID, ID: conds[1].ID, Version: 1}, "otro paciente"))

	full := must(repo.Chart(med, p.ID))
	_, _, _, events := lastEvent(t, pool, p.ID)

	v := must(repo.ChartView(med, p.ID, ehr.ChartBounds{Limit: 10}))
	if kind, action, outcome, n := lastEvent(t, pool, p.ID); kind != "chart" || action != "read" || outcome != ehr.OutcomeAllowed || n != events+1 {
		t.Errorf("chart view audited as %s %s %s (%d events, want %d)", action, kind, outcome, n, events+1)
	}
	if v.Patient.ID != p.ID || v.Patient.Contact.Phone == "" {
		t.Errorf("chart view patient = %+v", v.Patient)
	}
	if len(v.Withheld) != 0 {
		t.Errorf("care team physician: withheld %v", v.Withheld)
	}

	// Notes: the 10 newest of 25, the same rows as the end of Chart's.
	notes := v.Section(rbac.KindNote)
	if len(v.Notes) != 10 || notes.Total != 25 || notes.Next == "" {
		t.Fatalf("notes: %d rows, summary %+v; want 10 of 25 and a next cursor", len(v.Notes), notes)
	}
	want := noteKeys(full.Notes)
	slices.Reverse(want)
	got := noteKeys(v.Notes)
	if !slices.Equal(got, want[:10]) {
		t.Errorf("chart view notes are not the 10 newest, newest first:\n got %v\nwant %v", got, want[:10])
	}
	all, pages := pageAll(t, repo, med, p.ID, rbac.KindNote, v, 10, func(c ehr.Chart) []key { return noteKeys(c.Notes) })
	if !slices.Equal(all, want) || pages != 3 {
		t.Errorf("paging the notes by 10: %d rows in %d pages, want the 25 newest first in 3:\n got %v\nwant %v", len(all), pages, all, want)
	}
	if kind, action, outcome, n := lastEvent(t, pool, p.ID); kind != "note" || action != "read" || outcome != ehr.OutcomeAllowed || n != events+3 {
		t.Errorf("a page of notes audited as %s %s %s (%d events, want %d)", action, kind, outcome, n, events+3)
	}

	// Observations: the default window is the last 30 days.
	o := v.Section(rbac.KindObservation)
	if len(v.Observations) != 30 || o.Total != 30 || o.Next != "" || o.Since.IsZero() {
		t.Errorf("observations: %d rows, summary %+v; want the 30 of the last 30 days, no more", len(v.Observations), o)
	}
	if !newestFirst(observationKeys(v.Observations)) {
		t.Errorf("observations are not newest first: %v", observationKeys(v.Observations))
	}
	for _, ob := range v.Observations {
		if ob.EffectiveAt.Before(now.Add(-ehr.DefaultVitalsWindow)) {
			t.Errorf("observation of %v is outside the window", ob.EffectiveAt)
		}
	}
	// All time, 7 at a time: pages split sets of observations sharing a
	// time, and none is repeated or lost.
	va := must(repo.ChartView(med, p.ID, ehr.ChartBounds{Window: -1, ObservationLimit: 7}))
	if o := va.Section(rbac.KindObservation); len(va.Observations) != 7 || o.Total != 60 || o.Next == "" {
		t.Fatalf("all-time observations: %d rows, summary %+v", len(va.Observations), o)
	}
	allObs, pages := pageAll(t, repo, med, p.ID, rbac.KindObservation, va, 7, func(c ehr.Chart) []key { return observationKeys(c.Observations) })
	wantObs := observationKeys(full.Observations)
	slices.SortFunc(wantObs, func(a, b key) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return strings.Compare(b.id, a.id)
	})
	if !slices.Equal(allObs, wantObs) || pages != 9 || !newestFirst(allObs) {
		t.Errorf("paging all observations by 7: %d rows in %d pages, want 60 newest first in 9", len(allObs), pages)
	}
	// A window asked of ChartSection, carried by its cursor.
	since := now.Add(-10 * 24 * time.Hour)
	w := must(repo.ChartSection(med, p.ID, ehr.SectionQuery{Kind: rbac.KindObservation, Limit: 4, Since: since}))
	inW, _ := pageAll(t, repo, med, p.ID, rbac.KindObservation, w, 4, func(c ehr.Chart) []key { return observationKeys(c.Observations) })
	if s := w.Section(rbac.KindObservation); len(inW) != 12 || s.Total != 12 || !s.Since.Equal(since) {
		t.Errorf("observations of the last 10 days: %d rows paged, summary %+v; want 12", len(inW), s)
	}

	// Conditions: counts of the active ones.
	if c := v.Section(rbac.KindCondition); len(v.Conditions) != 3 || c.Total != 3 || c.Active != 2 || c.Next != "" {
		t.Errorf("conditions: %d rows, summary %+v; want 3, 2 active", len(v.Conditions), c)
	}
	if v.Conditions[0].ID != conds[2].ID {
		t.Errorf("the newest condition is not first: %s", v.Conditions[0].Code)
	}
	// The care team and the allergies are read and counted too.
	if c := v.Section(rbac.KindCareTeam); c.Total != 1 || c.Active != 1 || len(v.CareTeam) != 1 {
		t.Errorf("care team: %d rows, summary %+v", len(v.CareTeam), c)
	}
	if _, ok := v.Sections[rbac.KindAllergy]; !ok {
		t.Errorf("no allergy summary: %v", v.Sections)
	}
}

// TestChartSectionWithheldAndParts: what the chart withholds stays
// withheld through the section path (refused and audited), and a part
// read in part stays a part: the admissions desk reads and counts the
// admissions among the encounters.
func TestChartSectionWithheldAndParts(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	med := h.As(h.Medico)
	must(h.Repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "Ingreso", Body: "Texto."}, true))
	must(h.Repo.StartEncounter(med, ehr.Encounter{PatientID: p.ID, Class: ehr.ClassAmbulatory, PractitionerID: h.Practitioner.ID}))
	adm := must(h.Repo.Admit(h.As(h.Admisionista), ehr.Admission{PatientID: p.ID, AttendingID: h.Practitioner.ID, Ward: "Medicina", Bed: "4"}))

	other, _ := h.NewMedico(t, "Dr. Otro")
	outsider := h.As(other)
	v := must(h.Repo.ChartView(outsider, p.ID, ehr.ChartBounds{}))
	if !slices.Contains(v.Withheld, rbac.KindNote) || len(v.Notes) != 0 {
		t.Fatalf("physician outside the care team: withheld %v, %d notes", v.Withheld, len(v.Notes))
	}
	for _, k := range v.Withheld {
		if _, ok := v.Sections[k]; ok {
			t.Errorf("withheld section %s has a summary", k)
		}
	}
	_, _, _, before := lastEvent(t, pool, p.ID)
	_, err := h.Repo.ChartSection(outsider, p.ID, ehr.SectionQuery{Kind: rbac.KindNote})
	if !errors.Is(err, ehr.ErrDenied) {
		t.Fatalf("outsider's page of notes: %v, want denied", err)
	}
	if kind, action, outcome, n := lastEvent(t, pool, p.ID); kind != "note" || action != "read" || outcome != ehr.OutcomeDenied || n != before+1 {
		t.Errorf("refused page of notes audited as %s %s %s (%d events, want %d)", action, kind, outcome, n, before+1)
	}

	desk := h.As(h.Admisionista)
	e := must(h.Repo.ChartSection(desk, p.ID, ehr.SectionQuery{Kind: rbac.KindEncounter}))
	if s := e.Section(rbac.KindEncounter); len(e.Encounters) != 1 || e.Encounters[0].ID != adm.ID || s.Total != 1 || s.Active != 1 {
		t.Errorf("admissions desk's encounters: %d rows, summary %+v; want the admission alone", len(e.Encounters), s)
	}
	if s := must(h.Repo.ChartSection(med, p.ID, ehr.SectionQuery{Kind: rbac.KindEncounter})).Section(rbac.KindEncounter); s.Total != 2 || s.Active != 2 {
		t.Errorf("physician's encounters: summary %+v; want 2, both in progress", s)
	}
	if _, err := h.Repo.ChartSection(desk, p.ID, ehr.SectionQuery{Kind: rbac.KindNote}); !errors.Is(err, ehr.ErrDenied) {
		t.Errorf("admissions desk's page of notes: %v, want denied", err)
	}
	dv := must(h.Repo.ChartView(desk, p.ID, ehr.ChartBounds{}))
	if s := dv.Section(rbac.KindEncounter); len(dv.Encounters) != 1 || s.Total != 1 {
		t.Errorf("admissions desk's chart view: %d encounters, summary %+v", len(dv.Encounters), s)
	}
}

// TestChartViewPatientReadsSignedNotes: the patient rule holds in the
// bounded read and through the section path, in the rows and the counts.
func TestChartViewPatientReadsSignedNotes(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	med, me := h.As(h.Medico), h.As(h.PatientActor(p))
	ids := patientNotes(t, h, med, p)
	signed := idsOf(ids, "signed", "draft-signed", "amended", "signed-eie")

	v := must(h.Repo.ChartView(me, p.ID, ehr.ChartBounds{Limit: 1}))
	if s := v.Section(rbac.KindNote); s.Total != len(signed) || len(v.Notes) != 1 {
		t.Errorf("patient's chart view: %d notes, %d counted; want 1 of %d", len(v.Notes), s.Total, len(signed))
	}
	var got []string
	next := ""
	for range 10 {
		pg := must(h.Repo.ChartSection(me, p.ID, ehr.SectionQuery{Kind: rbac.KindNote, Limit: 1, Cursor: next}))
		for _, n := range pg.Notes {
			if n.Status == ehr.NoteDraft || n.SignedAt == nil {
				t.Errorf("patient's page has note %s with status %s", n.ID, n.Status)
			}
			got = append(got, n.ID)
		}
		if next = pg.Section(rbac.KindNote).Next; next == "" {
			break
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, signed) {
		t.Errorf("patient's pages of notes = %v, want the signed ones %v", got, signed)
	}
	if s := must(h.Repo.ChartView(med, p.ID, ehr.ChartBounds{})).Section(rbac.KindNote); s.Total != len(ids) {
		t.Errorf("physician counts %d notes, want all %d", s.Total, len(ids))
	}
}

// TestChartSectionRefusesBadInput: a malformed, altered or misplaced
// cursor and bounds out of range are refused naming the field, before
// anything is read or audited.
func TestChartSectionRefusesBadInput(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	p, q := h.NewPatient(t), h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	h.OnCareTeam(t, q, h.Practitioner)
	med := h.As(h.Medico)
	for range 3 {
		must(h.Repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "Nota", Body: "Texto."}, true))
	}
	next := must(h.Repo.ChartView(med, p.ID, ehr.ChartBounds{Limit: 1})).Section(rbac.KindNote).Next
	if next == "" {
		t.Fatal("no cursor")
	}
	if strings.Contains(next, p.ID) {
		t.Errorf("cursor %q shows the patient id in clear", next)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	_, _, _, before := lastEvent(t, pool, p.ID)
	for _, tc := range []struct {
		name  string
		pid   string
		q     ehr.SectionQuery
		field string
	}{
		{"altered cursor (start)", p.ID, ehr.SectionQuery{Kind: rbac.KindNote, Cursor: flip(next, 3)}, "Cursor"},
		{"altered cursor (middle)", p.ID, ehr.SectionQuery{Kind: rbac.KindNote, Cursor: flip(next, len(next)/2)}, "Cursor"},
		{"altered cursor (end)", p.ID, ehr.SectionQuery{Kind: rbac.KindNote, Cursor: flip(next, len(next)-1)}, "Cursor"},
		{"truncated cursor", p.ID, ehr.SectionQuery{Kind: rbac.KindNote, Cursor: next[:len(next)-2]}, "Cursor"},
		{"not base64", p.ID, ehr.SectionQuery{Kind: rbac.KindNote, Cursor: "!!!"}, "Cursor"},
		{"another patient's cursor", q.ID, ehr.SectionQuery{Kind: rbac.KindNote, Cursor: next}, "Cursor"},
		{"another section's cursor", p.ID, ehr.SectionQuery{Kind: rbac.KindObservation, Cursor: next}, "Cursor"},
		{"window with a cursor", p.ID, ehr.SectionQuery{Kind: rbac.KindNote, Cursor: next, Since: time.Now()}, "Since"},
		{"window ending before it starts", p.ID, ehr.SectionQuery{Kind: rbac.KindNote, Since: time.Now(), Until: time.Now().Add(-time.Hour)}, "Until"},
		{"no section", p.ID, ehr.SectionQuery{Kind: rbac.KindDemographics}, "Kind"},
		{"limit too large", p.ID, ehr.SectionQuery{Kind: rbac.KindNote, Limit: ehr.MaxSectionLimit + 1}, "Limit"},
		{"negative limit", p.ID, ehr.SectionQuery{Kind: rbac.KindNote, Limit: -1}, "Limit"},
		{"malformed patient id", "x", ehr.SectionQuery{Kind: rbac.KindNote}, "ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Repo.ChartSection(med, tc.pid, tc.q)
			var ve *ehr.ValidationError
			if !errors.As(err, &ve) || !ve.Has(tc.field) || !errors.Is(err, ehr.ErrInvalid) {
				t.Fatalf("ChartSection: %v, want invalid %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "Nota") {
				t.Errorf("error shows record content: %v", err)
			}
		})
	}
	for _, b := range []ehr.ChartBounds{{Limit: -1}, {ObservationLimit: ehr.MaxSectionLimit + 1}} {
		if _, err := h.Repo.ChartView(med, p.ID, b); !errors.Is(err, ehr.ErrInvalid) {
			t.Errorf("ChartView(%+v): %v, want invalid", b, err)
		}
	}
	if _, _, _, n := lastEvent(t, pool, p.ID); n != before {
		t.Errorf("bad input wrote %d audit events", n-before)
	}
	// The cursor still works as given.
	if pg := must(h.Repo.ChartSection(med, p.ID, ehr.SectionQuery{Kind: rbac.KindNote, Cursor: next})); len(pg.Notes) != 2 {
		t.Errorf("the cursor read %d notes, want the 2 after the first", len(pg.Notes))
	}
	if _, err := h.Repo.ChartView(med, "5b6e1c3a-0000-4000-8000-000000000000", ehr.ChartBounds{}); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("chart view of no patient: %v, want not found", err)
	}
}

// TestChartViewCountsStopAtTheLimit: a long stay's counts stop at
// ehr.CountLimit (Capped set, Total the limit), whatever the history;
// under the limit they are exact and not capped; the active rows are
// counted exactly beyond it. The rows read are the most recent, as
// always.
func TestChartViewCountsStopAtTheLimit(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	p := h.NewPatient(t)
	seedChart(t, h, p)          // 3 notes, 2 active conditions and medications, 30 vital signs
	seedLongStay(t, pool, h, p) // 2,000 notes, 10,000 vital signs, 60 conditions (15 active), 120 medications (12 active)
	v, err := h.Repo.ChartView(h.As(h.Medico), p.ID, ehr.ChartBounds{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind          rbac.Kind
		total, active int
		capped        bool
	}{
		{rbac.KindNote, ehr.CountLimit, 0, true},
		{rbac.KindObservation, ehr.CountLimit, 0, true}, // about 1,230 in the last 30 days
		{rbac.KindMedication, ehr.CountLimit, 14, true}, // 122, 14 active: exact beyond the limit
		{rbac.KindCondition, 62, 17, false},
		{rbac.KindAllergy, 11, 11, false},
	} {
		s := v.Section(tc.kind)
		if s.Total != tc.total || s.Active != tc.active || s.Capped != tc.capped {
			t.Errorf("%v: total %d, active %d, capped %v; want %d, %d, %v", tc.kind, s.Total, s.Active, s.Capped, tc.total, tc.active, tc.capped)
		}
		if s.Next == "" {
			t.Errorf("%v: no cursor for the rest", tc.kind)
		}
	}
	if len(v.Notes) != ehr.DefaultSectionLimit || !v.Notes[0].CreatedAt.After(v.Notes[len(v.Notes)-1].CreatedAt) {
		t.Errorf("%d notes read, newest first: want the %d most recent", len(v.Notes), ehr.DefaultSectionLimit)
	}
}
