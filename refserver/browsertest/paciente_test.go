package browsertest

import (
	"strings"
	"testing"

	"github.com/historiaehr/historia/refserver/internal/i18n"
)

// accessBy returns the rows of "who viewed my record" whose user is who
// (a username or a practitioner's name) with role.
func (b *tab) accessBy(role string, who ...string) int {
	b.t.Helper()
	n := 0
	for _, r := range b.rows("#access-log tbody tr") {
		cells := strings.Split(r, "\t")
		if len(cells) < 3 || strings.TrimSpace(cells[2]) != role {
			continue
		}
		for _, w := range who {
			if strings.TrimSpace(cells[1]) == w {
				n++
				break
			}
		}
	}
	return n
}

// The patient reads their record; the physician then opens it and writes
// a note; the patient signs in again and finds the note, and the
// physician's access in "who viewed my record".
func TestPacienteSeesNoteAndAccess(t *testing.T) {
	h := newHospital(t)
	p := h.patient(t, h.PatientID)
	name := p.GivenNames + " " + p.FamilyNames
	const body = "Se explica el plan de alta y los signos de alarma."
	doctorNames := []string{"medico", h.Practitioner.Name}

	b := openTab(t, h.URL, "paciente")
	b.loginAs("paciente", "/paciente/"+p.ID)
	if got, want := b.mustText("h1"), i18n.Translate(i18n.ES, "portal.title"); got != want {
		t.Errorf("portal h1 %q, want %q", got, want)
	}
	b.wantText("#demographics h2", name)
	if strings.Contains(b.text("#notes"), body) {
		t.Fatal("the note is there before the physician wrote it")
	}
	before := b.accessBy("medico", doctorNames...)
	b.logout()

	doctor := openTab(t, h.URL, "medico")
	doctor.openChart(p.ID, name)
	doctor.writeNote("Plan de alta", body)
	doctor.logout()

	b.loginAs("paciente", "/paciente/"+p.ID)
	// The note, read only.
	var found bool
	for _, n := range b.rows("#notes article.note") {
		found = found || strings.Contains(n, body)
	}
	if !found {
		b.shot("failed-note-missing")
		t.Errorf("the patient's record does not show the physician's note")
	}
	if b.has("#note-form") || b.has("#vitals-form") || b.has("main form[method=post]") {
		t.Errorf("the patient is offered a form to change the record")
	}
	// Who viewed my record: the physician's visit is new there.
	b.step("show the access log", scrollTo("#access-log"))
	b.shotOf("#access-log", "access-log")
	if after := b.accessBy("medico", doctorNames...); after <= before {
		t.Errorf("who viewed my record lists the physician %d times after their visit, %d before: %q",
			after, before, b.text("#access-log"))
	}
	t.Logf("physician in who viewed my record: %d before their visit, %d after", before, b.accessBy("medico", doctorNames...))
	b.shot("record")

	// Another patient's record is refused (403, or 404 so as not to
	// confirm that it exists) and nothing of it is shown.
	o := h.patient(t, h.otherPatients(t)[0])
	if st := b.open("/paciente/" + o.ID); st != 403 && st != 404 {
		t.Errorf("another patient's record: status %d, want 403 or 404", st)
	}
	if page := b.text("body"); strings.Contains(page, o.FamilyNames) || strings.Contains(page, o.DocumentNumber) {
		t.Errorf("the refusal page shows the other patient's data")
	}
	b.shot("other-patient-refused")
	b.open("/paciente/" + p.ID)
	b.logout()
}
