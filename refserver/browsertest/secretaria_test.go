package browsertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/refserver/internal/i18n"
)

// The front desk picks the physician's agenda for a day, finds a patient,
// books them an appointment, and sees it in the agenda; the same slot
// cannot be booked twice.
func TestSecretariaBooksAppointment(t *testing.T) {
	h := newHospital(t)
	p := h.patient(t, h.otherPatients(t)[0])
	name := p.GivenNames + " " + p.FamilyNames
	day := time.Now().AddDate(0, 0, 14)
	for day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
		day = day.AddDate(0, 0, 1)
	}
	date := day.Format("2006-01-02")
	const reason = "Revisión de analítica"

	b := openTab(t, h.URL, "secretaria")
	b.loginAs("secretaria", "/secretaria")

	// The physician's agenda for that day.
	b.pick("#agenda-form select[name=practitioner]", h.Practitioner.Name)
	b.fill("#agenda-form", map[string]string{"date": date, "view": "day"})
	if st := b.submit("show the agenda", "#agenda-form [type=submit]"); st != 200 {
		t.Fatalf("show the agenda: status %d", st)
	}
	dayCard := "#day-" + date
	if !b.has(dayCard) {
		b.fail("show the agenda", fmt.Errorf("no %s on the page", dayCard))
	}
	before := b.count(dayCard + " article.appt")
	b.shot("agenda-before")

	// Find the patient and pick them: their contact data and the booking
	// form appear.
	b.fill("form[role=search]", map[string]string{"q": p.FamilyNames})
	if st := b.submit("search", "form[role=search] [type=submit]"); st != 200 {
		t.Fatalf("search: status %d", st)
	}
	if st := b.follow("pick the patient", fmt.Sprintf(`#search-results a.pick[href$="patient=%s"]`, p.ID)); st != 200 {
		t.Fatalf("pick: status %d", st)
	}
	b.wantText("#patient-contact", name)
	b.wantText("#patient-contact", p.Contact.Phone)

	b.fill("#book-form", map[string]string{"date": date, "time": "10:40", "minutes": "20", "reason": reason})
	b.shot("book-filled")
	if st := b.submit("book", "#book-form [type=submit]"); st != 200 {
		t.Fatalf("book: status %d", st)
	}
	if b.has("#agenda-alert") {
		t.Fatalf("booking failed: %s", b.text("#agenda-alert"))
	}
	b.shot("booked")

	// The agenda of that day shows it, with the time, patient and reason.
	if got := b.count(dayCard + " article.appt"); got != before+1 {
		t.Errorf("the agenda of %s lists %d appointments, want %d", date, got, before+1)
	}
	var appt string
	for _, a := range b.rows(dayCard + " article.appt") {
		if strings.Contains(a, name) {
			appt = a
		}
	}
	if appt == "" {
		t.Fatalf("the agenda of %s does not show %s: %q", date, name, b.text(dayCard))
	}
	for _, want := range []string{"10:40", "11:00", reason, i18n.Translate(b.lang(), "appt.booked")} {
		if !strings.Contains(appt, want) {
			t.Errorf("the appointment %q lacks %q", appt, want)
		}
	}

	// The week view shows it too.
	b.fill("#agenda-form", map[string]string{"view": "week"})
	if st := b.submit("show the week", "#agenda-form [type=submit]"); st != 200 {
		t.Fatalf("show the week: status %d", st)
	}
	if a := b.text(dayCard); !strings.Contains(a, name) || !strings.Contains(a, "10:40") {
		t.Errorf("the week view does not show the appointment on %s: %q", date, a)
	}
	// Changing the view keeps the picked patient, and the week is seven
	// columns side by side on a wide screen.
	b.wantText("#patient-contact", name)
	if n := b.count("#agenda.week > .day"); n != 7 {
		t.Errorf("the week view has %d days, want 7", n)
	}
	if top := run(b, "measure the week", evalFloat(`(() => { const d = [...document.querySelectorAll("#agenda.week > .day")].map(e => e.getBoundingClientRect().top); return Math.max(...d) - Math.min(...d) })()`)); top > 1 {
		t.Errorf("the days of the week are not side by side (tops differ by %vpx)", top)
	}
	b.shot("week")

	// This week of the demo: past appointments are closed (attended or
	// missed), none of them still booked.
	b.open(fmt.Sprintf("/secretaria?practitioner=%s&view=week", h.Practitioner.ID))
	b.styled()
	if n := b.count("#agenda article.appt"); n == 0 {
		t.Error("the demo week has no appointments")
	}
	b.shot("week-seeded")

	// The same slot again: refused with a clear message, nothing added.
	other := h.patient(t, h.otherPatients(t)[1])
	b.open(fmt.Sprintf("/secretaria?practitioner=%s&date=%s&patient=%s", h.Practitioner.ID, date, other.ID))
	b.fill("#book-form", map[string]string{"date": date, "time": "10:40", "minutes": "20", "reason": "Primera consulta"})
	if st := b.submit("book a taken slot", "#book-form [type=submit]"); st != 409 {
		t.Errorf("booking a taken slot: status %d, want 409", st)
	}
	if got, want := b.text("#agenda-alert"), i18n.Translate(b.lang(), "agenda.taken"); got != want {
		t.Errorf("booking a taken slot says %q, want %q", got, want)
	}
	b.shot("slot-taken")
	if got := b.count(dayCard + " article.appt"); got != before+1 {
		t.Errorf("after the refused booking the agenda lists %d appointments, want %d", got, before+1)
	}
}
