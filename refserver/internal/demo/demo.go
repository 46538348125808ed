// Package demo seeds the demo hospital of `historia demo`: one tenant,
// one user per role, practitioners, and synthetic patients with Spanish
// names, admissions and vital signs.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
)

// HospitalName is the demo tenant's name.
const HospitalName = "Hospital Demo"

// Roles are the demo users, one per role of the default policy (the
// server's one list of roles); each username is its role.
var Roles = rbac.DefaultPolicy().Roles()

// SecondMedico is the username of the demo's second physician (role
// medico, same password), who has an agenda but no patients in care.
const SecondMedico = "medico2"

// Result is what Seed made.
type Result struct {
	TenantID  string
	PatientID string // the "paciente" user's chart
	Patients  int
}

// Find returns the demo tenant of an already seeded database, or "".
func Find(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var id string
	err := pool.QueryRow(ctx, "SELECT id::text FROM tenants WHERE name = $1 ORDER BY created_at LIMIT 1", HospitalName).Scan(&id)
	if err != nil && err.Error() == "no rows in result set" {
		return "", nil
	}
	return id, err
}

// Seed creates the demo hospital with n patients, writing a progress bar
// to progress: Featured of them (and the inpatients among the first
// FeaturedRange) written through the workflow, as staff would, the
// others with a past history imported in bulk (History). password is every demo user's password. The accounts are
// made by the staff use case (app.Staff), as the admin page makes them,
// by an operator of the new tenant.
func Seed(ctx context.Context, pool *pgxpool.Pool, n int, password string, progress io.Writer) (Result, error) {
	repo := ehr.NewRepository(pool, ehr.WithAuthorizer(rbac.Default()))
	a := app.New(app.Config{Users: auth.NewStore(pool, auth.StoreConfig{}), Records: repo, DB: pool})
	t, err := repo.CreateTenant(ctx, HospitalName)
	if err != nil {
		return Result{}, err
	}
	res := Result{TenantID: t.ID}
	people := People(2026, max(n, 1))
	op := app.Operator(t.ID, app.RoleAdmin)
	op.RequestID = "demo-seed"
	staff := func(in app.NewStaff) (app.Account, error) {
		in.Password = password
		acct, err := a.Staff.Create(app.NewContext(ctx, op), in)
		if err != nil {
			return acct, fmt.Errorf("demo user %s: %w", in.Username, err)
		}
		return acct, nil
	}
	ids := map[string]string{}
	var doctor, doctor2 ehr.Practitioner
	for _, role := range Roles {
		if role == app.RolePaciente {
			continue
		}
		in := app.NewStaff{Username: role, Roles: []string{role}}
		if role == app.RoleMedico {
			in.PractitionerName, in.Specialty, in.License = "Dra. Elena Ruiz Navarro", "Medicina interna", "MED-28-1234"
		}
		acct, err := staff(in)
		if err != nil {
			return res, err
		}
		ids[role] = acct.User.ID
		if acct.Practitioner != nil {
			doctor = *acct.Practitioner
		}
	}
	// A second physician, so the agenda has someone to choose between.
	acct, err := staff(app.NewStaff{Username: SecondMedico, Roles: []string{app.RoleMedico},
		PractitionerName: "Dr. Jorge Martín Sanz", Specialty: "Cardiología", License: "MED-28-5678"})
	if err != nil {
		return res, err
	}
	doctor2 = *acct.Practitioner
	as := func(role string) context.Context {
		return app.NewContext(ctx, app.Caller{UserID: ids[role], TenantID: t.ID, Roles: []string{role}, RequestID: "demo-seed"})
	}
	adm := as(app.RoleAdmisionista)
	med := as(app.RoleMedico)
	bar := &progressBar{w: progress, total: n, start: time.Now()}
	patientIDs := make([]string, n)
	var rest []Person
	var restIdx []int
	for i, p := range people[:n] {
		if !featured(i, p) {
			rest, restIdx = append(rest, p), append(restIdx, i)
			continue
		}
		pt, err := repo.RegisterPatient(adm, p.patient())
		if err != nil {
			return res, fmt.Errorf("demo patient %d: %w", i, err)
		}
		if i == 0 {
			res.PatientID = pt.ID
		}
		// The first patients and every inpatient are in the medico's care.
		ward, bed := p.Ward, p.Bed
		if ward == "" {
			ward, bed = "Medicina interna", fmt.Sprintf("1%02d", i+1)
		}
		if _, err := repo.Admit(adm, ehr.Admission{PatientID: pt.ID, AttendingID: doctor.ID, Ward: ward, Bed: bed,
			Reason: "Ingreso programado"}); err != nil && !errors.Is(err, ehr.ErrConflict) {
			return res, fmt.Errorf("demo admission %d: %w", i, err)
		}
		if err := seedClinical(med, repo, pt.ID, p, i == 0); err != nil {
			return res, fmt.Errorf("demo chart %d: %w", i, err)
		}
		patientIDs[i] = pt.ID
		res.Patients++
		bar.add(1)
	}
	if len(rest) > 0 {
		ids, err := seedHistories(ctx, pool, t.ID, rest, restIdx, time.Now(), bar.add)
		if err != nil {
			return res, err
		}
		for k, id := range ids {
			patientIDs[restIdx[k]] = id
		}
		res.Patients += len(ids)
	}
	if err := seedAppointments(as(app.RoleSecretaria), repo, []string{doctor.ID, doctor2.ID}, patientIDs, time.Now()); err != nil {
		return res, fmt.Errorf("demo appointments: %w", err)
	}
	if res.PatientID != "" {
		// The patient's account is made as a real one is: the admissions
		// desk issues an activation code and the patient activates it.
		act, err := a.Activations.Issue(adm, res.PatientID)
		if err != nil {
			return res, fmt.Errorf("demo activation code: %w", err)
		}
		if _, err := a.Activations.Activate(ctx, app.Activate{Tenant: t.ID, Code: act.Code, Username: app.RolePaciente,
			Password: password}, "demo-seed"); err != nil {
			return res, fmt.Errorf("demo user %s: %w", app.RolePaciente, err)
		}
	}
	fmt.Fprintln(progress)
	return res, nil
}

// PatientOf returns the chart of the demo "paciente" user.
func PatientOf(ctx context.Context, pool *pgxpool.Pool, tenant string) (string, error) {
	u, err := auth.NewStore(pool, auth.StoreConfig{}).UserByUsername(ctx, tenant, app.RolePaciente)
	if err != nil {
		return "", err
	}
	return u.PatientID, nil
}

// seedClinical writes a patient's clinical record as the physician on
// their care team: vital signs over weeks (one batch), conditions,
// allergies, medications and a signed note (and, for the portal's
// patient, a draft too).
func seedClinical(ctx context.Context, repo *ehr.Repository, pid string, p Person, portal bool) error {
	now := time.Now()
	var obs []ehr.Observation
	for _, v := range p.Vitals {
		at := now.Add(-time.Duration(v.DaysAgo)*24*time.Hour - time.Hour).Truncate(time.Minute)
		for _, m := range []struct {
			code, unit string
			value      float64
		}{
			{ehr.CodeHeartRate, "/min", v.HeartRate}, {ehr.CodeSystolicBP, "mmHg", v.Systolic}, {ehr.CodeDiastolicBP, "mmHg", v.Diastolic},
			{ehr.CodeBodyTemp, "°C", v.Temperature}, {ehr.CodeOxygenSat, "%", v.SpO2},
		} {
			val := m.value
			obs = append(obs, ehr.Observation{Category: ehr.CategoryVitalSigns, Code: m.code, Value: &val, Unit: m.unit, EffectiveAt: at})
		}
	}
	for len(obs) > 0 {
		n := min(len(obs), 100)
		if _, err := repo.RecordObservations(ctx, pid, obs[:n]); err != nil {
			return err
		}
		obs = obs[n:]
	}
	for _, c := range p.Conditions {
		if _, err := repo.RecordCondition(ctx, ehr.Condition{PatientID: pid, Code: c[0], Display: c[1]}); err != nil {
			return err
		}
	}
	for _, a := range p.Allergies {
		if _, err := repo.RecordAllergy(ctx, ehr.Allergy{PatientID: pid, Substance: a, Reaction: "Exantema", Severity: "moderate"}); err != nil {
			return err
		}
	}
	for _, m := range p.Medications {
		var dose float64
		fmt.Sscan(m[1], &dose)
		if _, err := repo.PrescribeMedication(ctx, ehr.MedicationRequest{PatientID: pid, Medication: m[0], Dose: dose, DoseUnit: m[2],
			Route: m[3], Frequency: m[4]}); err != nil {
			return err
		}
	}
	body := "Paciente estable. Constantes dentro de la normalidad. Se revisa la medicación habitual y se mantiene el tratamiento."
	if _, err := repo.CreateNote(ctx, ehr.Note{PatientID: pid, Title: "Evolución", Body: body}, true); err != nil {
		return err
	}
	if portal {
		if _, err := repo.CreateNote(ctx, ehr.Note{PatientID: pid, Title: "Plan de alta", Body: "Pendiente de revisar analítica antes del alta."}, false); err != nil {
			return err
		}
	}
	return nil
}

// plannedAppointment is one appointment of the demo week and how it
// ended: "" (still booked), ehr.AppointmentFulfilled or
// ehr.AppointmentNoShow.
type plannedAppointment struct {
	ehr.Appointment
	Close string
}

// Each practitioner's consultation hours, as hour and minute. The hours
// differ between practitioners, and planAppointments still checks that no
// patient is given two appointments at once.
var demoHours = [][][2]int{
	{{9, 0}, {9, 30}, {10, 30}, {12, 0}},
	{{10, 0}, {11, 0}, {11, 30}, {12, 30}},
}

// planAppointments lays out this week's appointments (Monday to Friday)
// for each practitioner, four a day of 20 minutes, the patients taken in
// turn, and one for the portal's patient (the first of patients) with the
// first practitioner on Thursday. No patient has two appointments that
// overlap. Appointments that ended before now are closed: fulfilled, or
// now and then a no-show; the rest stay booked.
func planAppointments(practitioners, patients []string, now time.Time) []plannedAppointment {
	if len(patients) == 0 {
		return nil
	}
	monday := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.Local).AddDate(0, 0, -((int(now.Weekday()) + 6) % 7))
	reasons := []string{"Revisión", "Control de tensión arterial", "Resultados de analítica", "Primera consulta"}
	busy := map[string][][2]time.Time{}
	free := func(patient string, start, end time.Time) bool {
		for _, b := range busy[patient] {
			if start.Before(b[1]) && b[0].Before(end) {
				return false
			}
		}
		return true
	}
	var out []plannedAppointment
	k, past := 1, 0
	for pi, pr := range practitioners {
		hours := demoHours[pi%len(demoHours)]
		for day := range 5 {
			for slot, hm := range hours {
				start := monday.AddDate(0, 0, day).Add(time.Duration(hm[0])*time.Hour + time.Duration(hm[1])*time.Minute)
				end := start.Add(20 * time.Minute)
				patient := ""
				if pi == 0 && day == 3 && slot == 0 && free(patients[0], start, end) {
					patient = patients[0]
				}
				// The next patient in turn who is free then; none free
				// leaves the slot empty.
				for try := 0; patient == "" && try < len(patients); try++ {
					if c := patients[k%len(patients)]; free(c, start, end) {
						patient = c
					}
					k++
				}
				if patient == "" {
					continue
				}
				busy[patient] = append(busy[patient], [2]time.Time{start, end})
				a := plannedAppointment{Appointment: ehr.Appointment{PatientID: patient, PractitionerID: pr, Start: start, End: end,
					Reason: reasons[(day+slot)%len(reasons)]}}
				if !end.After(now) {
					past++
					a.Close = ehr.AppointmentFulfilled
					if past%5 == 0 {
						a.Close = ehr.AppointmentNoShow
					}
				}
				out = append(out, a)
			}
		}
	}
	return out
}

// seedAppointments books the appointments of planAppointments and closes
// the past ones.
func seedAppointments(ctx context.Context, repo *ehr.Repository, practitioners, patients []string, now time.Time) error {
	for _, p := range planAppointments(practitioners, patients, now) {
		a, err := repo.BookAppointment(ctx, p.Appointment)
		if err != nil {
			return err
		}
		if p.Close == "" {
			continue
		}
		if _, err := repo.CloseAppointment(ctx, ehr.RecordRef{Kind: rbac.KindAppointment, PatientID: a.PatientID, ID: a.ID,
			Version: a.Version}, p.Close); err != nil {
			return fmt.Errorf("close %s: %w", p.Close, err)
		}
	}
	return nil
}
