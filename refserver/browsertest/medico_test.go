package browsertest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/historiaehr/historia/ehr"
)

// openChart signs in as the physician and opens patient id's chart from
// "my patients".
func (b *tab) openChart(id, name string) {
	b.t.Helper()
	b.loginAs("medico", "/medico")
	link := fmt.Sprintf(`#my-patients a[href="/medico/pacientes/%s"]`, id)
	if !b.has(link) {
		b.fail("find the patient", fmt.Errorf("%s is not among my patients (%q)", name, b.text("#my-patients")))
	}
	if st := b.follow("open the chart", link); st != 200 {
		b.t.Fatalf("open the chart: status %d", st)
	}
	if p := b.path(); p != "/medico/pacientes/"+id {
		b.t.Fatalf("the chart link went to %s", p)
	}
	b.wantText("#demographics h2", name)
}

// writeNote writes (and signs) a note with the chart's note form, and
// fails the test unless the chart shows it.
func (b *tab) writeNote(title, body string) {
	b.t.Helper()
	form := "#note-form"
	b.fill(form, map[string]string{"title": title, "body": body})
	b.step("tick sign now", setChecked(form+` [name=sign]`, true))
	// The checkbox sits beside its text, on one line.
	if d := run(b, "measure the checkbox", evalFloat(`(() => { const c = document.querySelector("#note-form [name=sign]"), l = c.closest("label"); return l.getBoundingClientRect().height - c.getBoundingClientRect().height })()`)); d > 16 {
		b.t.Errorf("the sign checkbox is not beside its label (label %vpx taller than the box)", d)
	}
	b.shotOf(form, "note-filled")
	if st := b.submit("save the note", form+" [type=submit]"); st != 200 {
		b.t.Fatalf("save the note: status %d", st)
	}
	if b.has("#chart-alert") {
		b.t.Fatalf("saving the note failed: %s", b.text("#chart-alert"))
	}
	notes := b.rows("#notes article.note")
	var found bool
	for _, n := range notes {
		found = found || strings.Contains(n, title) && strings.Contains(n, body)
	}
	if !found {
		b.shot("failed-note-missing")
		b.t.Fatalf("the chart does not show the new note; notes: %q", notes)
	}
	b.shot("note-saved")
}

// The physician opens a patient of their care team, reads the vital-signs
// chart, records a new set of vitals, and writes a note.
func TestMedicoChartVitalsAndNote(t *testing.T) {
	h := newHospital(t)
	p := h.patient(t, h.PatientID)
	name := p.GivenNames + " " + p.FamilyNames
	h.recordVitals(t, p.ID) // 5 heart rates and 5 temperatures over two days, besides the demo's

	b := openTab(t, h.URL, "medico")
	b.openChart(p.ID, name)
	b.shot("chart")

	// The vital signs are drawn as SVG: a panel per sign, a dot per
	// measurement.
	if n := b.count("#vitals-chart svg"); n < 2 {
		t.Fatalf("vitals chart: %d svg panels, want one per sign (heart rate, temperature)", n)
	}
	dots := b.count("#vitals-chart svg circle")
	if dots < 10 {
		t.Errorf("vitals chart: %d data points, want at least the 10 recorded", dots)
	}
	if n := b.count("#vitals-chart svg polyline"); n < 2 {
		t.Errorf("vitals chart: %d lines, want one per sign", n)
	}
	// The panel is drawn with a size (not collapsed by CSS).
	if w := run(b, "measure the chart", evalFloat(`document.querySelector("#vitals-chart svg").getBoundingClientRect().width`)); w < 200 {
		t.Errorf("vitals chart is %.0f px wide", w)
	}
	b.shotOf("#vitals-chart", "vitals-chart")

	// Record a new set of vitals with the form; the chart grows.
	b.step("open the vitals form", clickSummary("#vitals-form"))
	b.fill("#vitals-form", map[string]string{"heart_rate": "68", "temperature": "36.6"})
	// A compact grid: several fields a row on this wide screen, each
	// unit beside its input.
	if d := run(b, "measure the vitals form", evalFloat(`(() => { const l = document.querySelectorAll("#vitals-form label"); return Math.abs(l[0].getBoundingClientRect().top - l[1].getBoundingClientRect().top) })()`)); d > 1 {
		t.Errorf("the vitals form is one field a row (first two fields %vpx apart vertically)", d)
	}
	if d := run(b, "measure a unit", evalFloat(`(() => { const e = document.querySelector("#heart_rate"), i = e.getBoundingClientRect(), u = e.parentElement.querySelector(".unit").getBoundingClientRect(); return Math.abs((i.top + i.bottom) - (u.top + u.bottom)) / 2 })()`)); d > 4 {
		t.Errorf("the unit is not beside its input (%vpx off)", d)
	}
	b.shot("vitals-filled")
	if st := b.submit("save vitals", "#vitals-form [type=submit]"); st != 200 {
		t.Fatalf("save vitals: status %d", st)
	}
	if b.has("#chart-alert") {
		t.Fatalf("saving vitals failed: %s", b.text("#chart-alert"))
	}
	// The chart draws the most recent vital signs, at most the chart
	// view's bound: two more, unless it was full already.
	if got, want := b.count("#vitals-chart svg circle"), min(dots+2, ehr.DefaultObservationLimit); got != want {
		t.Errorf("after recording two signs the chart has %d points, want %d (%d before, at most %d)", got, want, dots,
			ehr.DefaultObservationLimit)
	}
	if legend := b.text("#vitals-chart"); !strings.Contains(legend, "68") {
		t.Errorf("the chart does not show the new heart rate 68: %q", legend)
	}
	b.shot("vitals-recorded")

	b.writeNote("Evolución", "Afebril desde ayer. Buena tolerancia oral. Se mantiene tratamiento.")
}
