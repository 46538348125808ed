package browsertest

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/historiaehr/historia/refserver/internal/i18n"
)

// The admission clerk registers a new patient, finds them, and admits
// them to a ward and bed under the demo physician.
func TestAdmisionistaRegistersAndAdmits(t *testing.T) {
	h := newHospital(t)
	b := openTab(t, h.URL, "admisionista")
	b.loginAs("admisionista", "/admisionista")

	const (
		given  = "Remedios"
		family = "Zubizarreta Olabarrieta"
		name   = given + " " + family
	)
	register := "form[action='/admisionista/pacientes']"
	b.fill(register, map[string]string{
		"document_type": "DNI", "document_number": "55555555K",
		"given_names": given, "family_names": family,
		"birth_date": "1980-05-17", "sex": "female",
		"phone": "+34 600 000 000", "email": "remedios@example.org", "address": "Calle Mayor 1, Bilbao",
	})
	b.shot("register-filled")
	if st := b.submit("register", register+" [type=submit]"); st != 200 {
		t.Fatalf("register: status %d", st)
	}
	if p := b.path(); !strings.HasPrefix(p, "/admisionista?created=") {
		t.Errorf("after registering at %s, want /admisionista?created=…", p)
	}
	b.wantText("#created", name)
	if !b.has("#created a#admit-created") {
		t.Error("the success message offers no link to admit the new patient")
	}
	b.shot("registered")

	// Find the new patient and pick them.
	b.fill("form[role=search]", map[string]string{"q": "Zubizarreta"})
	if st := b.submit("search", "form[role=search] [type=submit]"); st != 200 {
		t.Fatalf("search: status %d", st)
	}
	b.wantText("#search-results", name)
	b.shot("search")
	if n := b.count("#search-results a.pick"); n != 1 {
		t.Fatalf("search for Zubizarreta: %d results, want 1", n)
	}
	if st := b.follow("pick the patient", "#search-results a.pick"); st != 200 {
		t.Fatalf("pick: status %d", st)
	}
	picked, _ := url.Parse(b.location())
	patientID := picked.Query().Get("patient")
	if patientID == "" {
		t.Fatalf("picking went to %s, without ?patient=", b.path())
	}

	// Admit: ward, bed, attending physician, reason.
	admit := "form[action='/admisionista/ingresos']"
	b.wantText("#admit h2", name)
	b.fill(admit, map[string]string{"ward": "Cardiología", "bed": "204-B", "reason": "Dolor torácico en estudio"})
	b.pick(admit+" select[name=attending]", h.Practitioner.Name)
	b.shot("admit-filled")
	if st := b.submit("admit", admit+" [type=submit]"); st != 200 {
		t.Fatalf("admit: status %d", st)
	}
	b.shot("admitted")
	if got, want := b.text("[role=status]"), i18n.Translate(b.lang(), "flash.saved"); !strings.Contains(got, want) {
		t.Errorf("after admitting the page says %q, want %q", got, want)
	}
	found := false
	for _, r := range b.rows("#admissions-list tbody tr") {
		if strings.Contains(r, name) {
			found = true
			for _, want := range []string{"Cardiología", "204-B", h.Practitioner.Name} {
				if !strings.Contains(r, want) {
					t.Errorf("admission row %q lacks %q", r, want)
				}
			}
		}
	}
	if !found {
		t.Errorf("the admissions list has no row for %s", name)
	}

	// The repository agrees: the patient is admitted under the physician.
	list, err := h.Repo.ListAdmissions(h.as("admisionista"), "")
	if err != nil {
		t.Fatal(err)
	}
	var ok bool
	for _, a := range list {
		if a.Encounter.PatientID == patientID {
			ok = a.Encounter.Ward == "Cardiología" && a.Encounter.Bed == "204-B" && a.Encounter.PractitionerID == h.Practitioner.ID
		}
	}
	if !ok {
		t.Errorf("no admission of %s to Cardiología 204-B under %s in the database", patientID, h.Practitioner.Name)
	}
}

// The admission clerk moves an admitted patient to another ward and bed,
// then discharges them, answering the confirmation the page asks for.
func TestAdmisionistaTransfersAndDischarges(t *testing.T) {
	h := newHospital(t)
	list, err := h.Repo.ListAdmissions(h.as("admisionista"), "")
	if err != nil || len(list) == 0 {
		t.Fatalf("the demo has no admissions: %v", err)
	}
	enc := list[0].Encounter
	name := list[0].GivenNames + " " + list[0].FamilyNames
	row := "#admission-" + enc.ID

	b := openTab(t, h.URL, "admisionista")
	b.loginAs("admisionista", "/admisionista")
	if !b.has(row) {
		b.fail("find the admission", fmt.Errorf("no row %s for %s", row, name))
	}

	transfer := row + ` form[action$="/traslado"]`
	b.step("open the transfer form", clickSummary(transfer))
	b.fill(transfer, map[string]string{"ward": "Unidad de cuidados intermedios", "bed": "UCI-3"})
	b.shotOf(row, "transfer-filled")
	if st := b.submit("transfer", transfer+" [type=submit]"); st != 200 {
		t.Fatalf("transfer: status %d", st)
	}
	if b.has("#action-alert") {
		t.Fatalf("transfer failed: %s", b.text("#action-alert"))
	}
	if r := b.mustText(row); !strings.Contains(r, "Unidad de cuidados intermedios") || !strings.Contains(r, "UCI-3") {
		t.Errorf("after the transfer the row shows %q", r)
	}
	b.shot("transferred")

	// Discharge asks first (scripts.js, data-confirm): dismissing keeps
	// the patient admitted, accepting discharges them.
	discharge := row + ` form[action$="/alta"]`
	b.step("open the discharge form", clickSummary(discharge))
	b.fill(discharge, map[string]string{"disposition": "home"})
	question := b.clickAndAnswer("discharge, then dismiss", discharge+" [type=submit]", false)
	if want := i18n.Translate(b.lang(), "admissions.discharge_confirm"); question != want {
		t.Errorf("the discharge asks %q, want %q", question, want)
	}
	if !b.has(row) {
		t.Fatalf("dismissing the confirmation discharged the patient anyway")
	}
	b.clickAndAnswer("discharge, then accept", discharge+" [type=submit]", true)
	if b.has("#action-alert") {
		t.Fatalf("discharge failed: %s", b.text("#action-alert"))
	}
	if b.has(row) {
		t.Errorf("%s is still listed as admitted after the discharge", name)
	}
	b.shot("discharged")
}
