package demo

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/fhirimport"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

// Featured is how many patients the demo writes through the workflow, as
// staff would (admission, care team, vital signs, notes; the portal's
// patient among them), with every inpatient among the first
// FeaturedRange. The others get a past history (visits with vital signs,
// notes and appointments, conditions, allergies, prescriptions; now and
// then a past admission) loaded as an import from the hospital's previous
// system, through ehr.Repository.ImportPatients: the fast path that makes
// 100,000 patients a matter of minutes.
const (
	Featured      = 12
	FeaturedRange = 200
)

// HistoryPractitioners is the number of physicians of the previous
// system the demo's histories name (practitioners with no account).
const HistoryPractitioners = 20

// historyBatch is how many patients one ImportPatients call takes.
const historyBatch = 250

// featured reports whether person i of people is written through the
// workflow.
func featured(i int, p Person) bool { return i < Featured || i < FeaturedRange && p.Inpatient }

// historySource is the previous system's name, in the people fields of
// the imported records (an author, a recorder) and the request id.
const historySource = "hc-anterior"

// seedHistories imports the histories of people (their indexes in the
// demo are idx) into tenant, two batches at a time, calling done after
// each batch with the number of patients it held. It returns the ids of
// the patients imported, in order.
func seedHistories(ctx context.Context, pool *pgxpool.Pool, tenant string, people []Person, idx []int, now time.Time,
	done func(int)) ([]string, error) {
	imp := ehr.NewRepository(pool, ehr.WithAuthorizer(fhirimport.Engine()))
	ictx := ehr.NewContext(ctx, fhirimport.Actor(tenant, historySource, "demo-seed-"+uuid.NewString()))
	pracs, err := historyPractitioners(ictx, imp, tenant)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(people))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for start := range jobs {
				end := min(start+historyBatch, len(people))
				in := make([]ehr.PatientImport, 0, end-start)
				for k := start; k < end; k++ {
					in = append(in, History(people[k], idx[k], pracs, now))
				}
				res, err := imp.ImportPatients(ictx, in)
				if err == nil {
					for k, r := range res {
						switch {
						case r.Existing != "":
							ids[start+k] = r.Existing
						case r.Err != nil:
							err = fmt.Errorf("demo history %d: %w", idx[start+k], r.Err)
						default:
							ids[start+k] = r.Patient.ID
						}
					}
				}
				if err != nil {
					cancel(err)
					return
				}
				done(end - start)
			}
		})
	}
feed:
	for start := 0; start < len(people); start += historyBatch {
		select {
		case jobs <- start:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return ids, nil
}

// historyPractitioners creates (or finds, by licence) the previous
// system's physicians.
func historyPractitioners(ctx context.Context, imp *ehr.Repository, tenant string) ([]string, error) {
	r := rand.New(rand.NewPCG(7, 11))
	specialties := []string{"Medicina familiar", "Medicina interna", "Cardiología", "Pediatría", "Neumología"}
	existing := map[string]string{}
	list, err := imp.ListPractitioners(ctx, false)
	if err != nil {
		return nil, err
	}
	for _, p := range list {
		existing[p.License] = p.ID
	}
	out := make([]string, HistoryPractitioners)
	for i := range out {
		license := fmt.Sprintf("MED-HC-%04d", i+1)
		name := pick(r, maleNames) + " " + pick(r, surnames) + " " + pick(r, surnames)
		if i%2 == 0 {
			name = pick(r, femaleNames) + " " + pick(r, surnames) + " " + pick(r, surnames)
		}
		if id, ok := existing[license]; ok {
			out[i] = id
			continue
		}
		p, err := fhirmap.CreatePractitioner(ctx, imp, ehr.Practitioner{UserID: uuid.NewSHA1(uuid.MustParse(tenant), []byte(license)).String(),
			Name: "Dr. " + name, Specialty: specialties[i%len(specialties)], License: license, Active: true})
		if err != nil {
			return nil, fmt.Errorf("demo practitioner %s: %w", license, err)
		}
		out[i] = p.ID
	}
	return out, nil
}

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

// History is the past of person p (number i of the demo) as the previous
// system holds it: two to six visits over the last years, each an
// ambulatory encounter with a fulfilled appointment, a set of vital signs
// and a signed note; one visit in ten is instead a past admission with
// its discharge; the person's conditions (recorded at a visit),
// allergies and prescriptions (the older ones completed). On average 34
// resources a patient. Each visit's appointment has a slot of its own
// (practitioner and time derived from i), so that no two patients of the
// demo claim the same one.
func History(p Person, i int, practitioners []string, now time.Time) ehr.PatientImport {
	r := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	pi := ehr.PatientImport{Patient: p.patient()}
	author := func(pr int) string { return fmt.Sprintf("%s:MED-HC-%04d", historySource, pr+1) }
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	visits := 2 + r.IntN(5)
	var firstVisit string
	for j := range visits {
		// Visit j of person i: a slot of its own among the practitioners'
		// past working days (08:00 to 16:00, 24 slots of 20 minutes).
		v := i*8 + j
		pr := v % len(practitioners)
		k := v / len(practitioners)
		day, slot := 1+k/24, k%24
		start := today.AddDate(0, 0, -day).Add(8*time.Hour + time.Duration(slot)*20*time.Minute)
		key := fmt.Sprintf("visita-%d", j)
		if j == 0 {
			firstVisit = key
		}
		end := start.Add(20 * time.Minute)
		if r.IntN(10) == 0 {
			// A past admission instead: five days on a ward, discharged
			// before today.
			start = start.AddDate(0, 0, -7)
			end = start.Add(5 * 24 * time.Hour)
			ward := wards[r.IntN(len(wards))]
			bed := fmt.Sprintf("%d%02d", 1+r.IntN(5), 1+r.IntN(30))
			pi.Records = append(pi.Records, ehr.Encounter{ID: key, Class: ehr.ClassInpatient, Status: ehr.EncounterFinished,
				PractitionerID: practitioners[pr], Ward: ward, Bed: bed, Reason: "Ingreso", Disposition: "home", StartedAt: start, EndedAt: &end})
		} else {
			pi.Records = append(pi.Records,
				ehr.Encounter{ID: key, Class: ehr.ClassAmbulatory, Status: ehr.EncounterFinished, PractitionerID: practitioners[pr],
					Reason: "Consulta", StartedAt: start, EndedAt: &end},
				ehr.Appointment{PractitionerID: practitioners[pr], Start: start, End: start.Add(20 * time.Minute),
					Status: ehr.AppointmentFulfilled, Reason: "Consulta", CreatedAt: start.AddDate(0, 0, -7)})
		}
		at := start.Add(5 * time.Minute)
		for _, m := range []struct {
			code, unit string
			value      float64
		}{
			{ehr.CodeHeartRate, "/min", 60 + r.Float64()*30}, {ehr.CodeSystolicBP, "mmHg", 105 + r.Float64()*40},
			{ehr.CodeDiastolicBP, "mmHg", 65 + r.Float64()*20}, {ehr.CodeBodyTemp, "°C", 36.2 + r.Float64()*0.8},
			{ehr.CodeOxygenSat, "%", 94 + r.Float64()*5},
		} {
			val := round1(m.value)
			pi.Records = append(pi.Records, ehr.Observation{EncounterID: key, Category: ehr.CategoryVitalSigns, Code: m.code,
				Value: &val, Unit: m.unit, EffectiveAt: at, Status: "final", RecordedBy: author(pr)})
		}
		signed := start.Add(19 * time.Minute)
		pi.Records = append(pi.Records, ehr.Note{EncounterID: key, AuthorID: author(pr), Title: "Consulta",
			Body: visitNotes[r.IntN(len(visitNotes))], Status: ehr.NoteSigned, SignedAt: &signed, SignedBy: author(pr), CreatedAt: at})
	}
	for _, c := range p.Conditions {
		pi.Records = append(pi.Records, ehr.Condition{EncounterID: firstVisit, Code: c[0], Display: c[1], RecordedBy: author(i % len(practitioners))})
	}
	for _, a := range p.Allergies {
		pi.Records = append(pi.Records, ehr.Allergy{Substance: a, Reaction: "Exantema", Severity: "moderate", RecordedBy: author(i % len(practitioners))})
	}
	for k, m := range p.Medications {
		var dose float64
		fmt.Sscan(m[1], &dose)
		status := "active"
		if k > 0 {
			status = "completed"
		}
		from := today.AddDate(0, -1-r.IntN(24), 0)
		pi.Records = append(pi.Records, ehr.MedicationRequest{EncounterID: firstVisit, Medication: m[0], Dose: dose, DoseUnit: m[2],
			Route: m[3], Frequency: m[4], Status: status, StartsOn: &from, PrescriberID: author(i % len(practitioners))})
	}
	return pi
}

var visitNotes = []string{
	"Acude a control. Constantes dentro de la normalidad. Se mantiene el tratamiento habitual.",
	"Refiere mejoría clínica. Exploración sin hallazgos. Control en tres meses.",
	"Revisión de analítica: valores en rango. Se recomienda dieta y ejercicio.",
	"Consulta por cuadro catarral de tres días. Tratamiento sintomático.",
	"Control de tensión arterial. Buen cumplimiento terapéutico.",
}

// patient is the Patient of person p.
func (p Person) patient() ehr.Patient {
	return ehr.Patient{DocumentType: p.DocumentType, DocumentNumber: p.DocumentNumber, GivenNames: p.GivenName,
		FamilyNames: p.FamilyName, BirthDate: p.BirthDate, Sex: p.Sex,
		Contact:   ehr.Contact{Phone: p.Phone, Email: p.Email, Address: p.Address},
		Emergency: ehr.EmergencyContact{Name: p.Emergency, Phone: p.EmergencyPhone, Relationship: "familiar"}}
}

// progressBar draws the seed's progress on w: a bar, the count, the rate
// and the time left, redrawn in place.
type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	done  int
	start time.Time
}

func (b *progressBar) add(n int) {
	if b == nil || b.w == nil || b.total == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	const width = 40
	k := b.done * width / b.total
	el := time.Since(b.start).Seconds()
	rate, eta := 0.0, ""
	if el > 0 {
		rate = float64(b.done) / el
	}
	if rate > 0 && b.done < b.total {
		eta = "  ETA " + (time.Duration(float64(b.total-b.done)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(b.w, "\r  pacientes [%s%s] %d/%d  %.0f pacientes/s%-14s", strings.Repeat("#", k), strings.Repeat(".", width-k),
		b.done, b.total, rate, eta)
}
