// Command quickstart shows the ehr library end to end: it migrates a
// database, registers a patient, records vital signs, reads the chart and
// verifies the patient's audit chain.
//
//	go run ./examples/quickstart -db postgres://user:pass@localhost:5432/historia
//
// The URL may also come from HISTORIA_DATABASE_URL. The role must be able
// to create tables (and the historia_app role, on first run).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
)

func main() {
	db := flag.String("db", os.Getenv("HISTORIA_DATABASE_URL"), "PostgreSQL URL (default $HISTORIA_DATABASE_URL)")
	flag.Parse()
	if *db == "" {
		fmt.Fprintln(os.Stderr, "quickstart: give a database URL with -db or HISTORIA_DATABASE_URL")
		os.Exit(2)
	}
	if err := run(context.Background(), *db, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string, out io.Writer) error {
	// 1. Migrate, on a connection of its own.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	err = ehr.Migrate(ctx, conn)
	conn.Close(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "schema at version %d\n", ehr.SchemaVersion())

	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	repo := ehr.NewRepository(pool)

	// 2. A tenant and its staff. In a server the principals come from
	// authenticated tokens (package auth).
	tenant, err := repo.CreateTenant(ctx, "Clínica Quickstart")
	if err != nil {
		return err
	}
	staff := func(role string) context.Context {
		return ehr.NewContext(ctx, ehr.Actor{
			Principal: rbac.Principal{UserID: uuid.NewString(), TenantID: tenant.ID, Roles: []string{role}},
			RequestID: "quickstart",
		})
	}
	admin, admissions, doctor, auditor := staff("admin"), staff("admisionista"), staff("medico"), staff("auditor")
	doctorActor, _ := ehr.ActorFromContext(doctor)
	practitioner, err := repo.CreatePractitioner(admin, ehr.Practitioner{UserID: doctorActor.Principal.UserID, Name: "Dra. Ana Gómez"})
	if err != nil {
		return err
	}

	// 3. Register a patient and put the physician on the care team.
	patient, err := repo.RegisterPatient(admissions, ehr.Patient{
		DocumentType: "CC", DocumentNumber: "Q-" + uuid.NewString()[:8],
		GivenNames: "María José", FamilyNames: "Núñez Pérez",
		BirthDate: time.Date(1985, 4, 12, 0, 0, 0, 0, time.UTC), Sex: ehr.SexFemale,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "registered patient version %d\n", patient.Version)
	if _, err := repo.AssignCareTeam(admissions, ehr.CareTeamMember{PatientID: patient.ID, PractitionerID: practitioner.ID, Role: "attending"}); err != nil {
		return err
	}

	// 4. Record vital signs.
	hr, sys, temp := 78.0, 118.0, 36.8
	if _, err := repo.RecordObservations(doctor, patient.ID, []ehr.Observation{
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Display: "Heart rate", Value: &hr, Unit: "/min"},
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeSystolicBP, Display: "Systolic blood pressure", Value: &sys, Unit: "mm[Hg]"},
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeBodyTemp, Display: "Body temperature", Value: &temp, Unit: "Cel"},
	}); err != nil {
		return err
	}

	// 5. Read the chart.
	chart, err := repo.Chart(doctor, patient.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "chart of %s %s: %d observations\n", chart.Patient.GivenNames, chart.Patient.FamilyNames, len(chart.Observations))
	for _, o := range chart.Observations {
		fmt.Fprintf(out, "  %s = %g %s\n", o.Display, *o.Value, o.Unit)
	}

	// 6. Verify the patient's audit chain.
	st, err := repo.VerifyChain(auditor, patient.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "audit chain verified: %d events\n", st.Events)
	return nil
}
