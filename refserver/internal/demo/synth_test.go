package demo

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
)

func TestPeople(t *testing.T) {
	a, b := People(7, 50), People(7, 50)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("People is not reproducible for one seed")
	}
	docs := map[string]bool{}
	for _, p := range a {
		if p.GivenName == "" || p.FamilyName == "" || p.BirthDate.IsZero() || len(p.Vitals) < 3 {
			t.Fatalf("incomplete person %+v", p)
		}
		if docs[p.DocumentNumber] {
			t.Fatalf("duplicate document %s", p.DocumentNumber)
		}
		docs[p.DocumentNumber] = true
		for _, v := range p.Vitals {
			if v.HeartRate < 30 || v.HeartRate > 200 || v.SpO2 > 100 || v.Temperature < 34 || v.Temperature > 42 {
				t.Fatalf("implausible vitals %+v", v)
			}
		}
	}
}

// TestPlanAppointments: no patient is booked twice at once, whatever the
// number of patients (one patient and two practitioners included); past
// appointments are closed and future ones booked.
func TestPlanAppointments(t *testing.T) {
	prs := []string{"dra-ruiz", "dr-martin"}
	// A Wednesday at 11:10: Monday, Tuesday and the morning so far are past.
	now := time.Date(2026, 11, 25, 11, 10, 0, 0, time.Local)
	for _, n := range []int{1, 2, 4, 30} {
		t.Run(fmt.Sprintf("%d patients", n), func(t *testing.T) {
			var patients []string
			for i := range n {
				patients = append(patients, fmt.Sprintf("p%d", i))
			}
			plan := planAppointments(prs, patients, now)
			if len(plan) == 0 {
				t.Fatal("no appointments")
			}
			var closed, noShow, booked int
			portal := false
			for i, a := range plan {
				if a.End.Sub(a.Start) != 20*time.Minute || a.Start.Weekday() == time.Saturday || a.Start.Weekday() == time.Sunday {
					t.Errorf("appointment %v–%v", a.Start, a.End)
				}
				portal = portal || a.PatientID == patients[0] && a.PractitionerID == prs[0]
				for _, b := range plan[:i] {
					overlap := a.Start.Before(b.End) && b.Start.Before(a.End)
					if overlap && a.PatientID == b.PatientID {
						t.Errorf("%s is booked twice at once: %v with %s and %v with %s", a.PatientID, a.Start, a.PractitionerID, b.Start, b.PractitionerID)
					}
					if overlap && a.PractitionerID == b.PractitionerID {
						t.Errorf("%s is booked twice at %v", a.PractitionerID, a.Start)
					}
				}
				switch past := !a.End.After(now); {
				case past && a.Close == ehr.AppointmentNoShow:
					noShow++
				case past && a.Close == ehr.AppointmentFulfilled:
					closed++
				case !past && a.Close == "":
					booked++
				default:
					t.Errorf("appointment %v–%v (now %v) closed as %q", a.Start, a.End, now, a.Close)
				}
			}
			if closed == 0 || noShow == 0 || booked == 0 {
				t.Errorf("%d fulfilled, %d no-show, %d booked: want some of each", closed, noShow, booked)
			}
			if !portal {
				t.Error("the portal's patient has no appointment with the first practitioner")
			}
			if n >= 4 && len(plan) != len(prs)*5*4 {
				t.Errorf("%d appointments, want every slot of the week (%d)", len(plan), len(prs)*5*4)
			}
		})
	}
}
