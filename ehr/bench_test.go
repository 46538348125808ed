package ehr_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// BenchmarkGetPatient compares the repository's audited, authorized read of
// one patient by a physician (not on the care team, so the contact rule
// needs the care-team facts) with:
//   - unaudited: the same repository call without the audit append (a
//     test-only option), so that repository / unaudited is what the audit
//     costs;
//   - pgx: the same row read by a hand-written pgx query on the same pool;
//   - floor: the floor an audited read cannot go below (target:
//     repository <= 1.1x floor): the same read plus the cheapest write
//     transaction that advances a per-patient counter and appends a row,
//     one UPDATE of a one-column head and one INSERT of a (patient_id, seq)
//     row into tables with a primary key only, sent with the read in one
//     pgx.Batch (one round trip, one implicit transaction), as the
//     repository sends its read and audit append in one.
//
// It logs the server's durability settings: HISTORIA_TEST_PG_DURABLE=1
// runs it on a server with production settings (internal/pgtest).
func BenchmarkGetPatient(b *testing.B) {
	pool := ehrtest.NewDB(b)
	bg := context.Background()
	logDurability(b, pool)
	for _, ddl := range []string{
		`CREATE TABLE bench_floor_heads (patient_id uuid PRIMARY KEY, seq bigint NOT NULL)`,
		`CREATE TABLE bench_floor_events (patient_id uuid NOT NULL, seq bigint NOT NULL, PRIMARY KEY (patient_id, seq))`,
	} {
		if _, err := pool.Exec(bg, ddl); err != nil {
			b.Fatal(err)
		}
	}
	h := ehrtest.NewHospital(b, pool)
	p := h.NewPatient(b)
	ctx := h.As(h.Medico)
	id, tenant := uuid.MustParse(p.ID), uuid.MustParse(h.Tenant.ID)
	if _, err := pool.Exec(bg, `INSERT INTO bench_floor_heads (patient_id, seq) VALUES ($1, 0)`, id); err != nil {
		b.Fatal(err)
	}
	const readSQL = `SELECT patient_id, tenant_id, document_type, document_number,
  identifiers, given_names, family_names, birth_date, sex, phone, email, address, emergency_name, emergency_phone,
  emergency_relationship, status, version, created_at, updated_at FROM patients WHERE patient_id = $1 AND tenant_id = $2`
	scan := func(row pgx.Row) error {
		var q ehr.Patient
		var pid, tid uuid.UUID
		err := row.Scan(&pid, &tid, &q.DocumentType, &q.DocumentNumber, &q.Identifiers, &q.GivenNames, &q.FamilyNames,
			&q.BirthDate, &q.Sex, &q.Contact.Phone, &q.Contact.Email, &q.Contact.Address, &q.Emergency.Name,
			&q.Emergency.Phone, &q.Emergency.Relationship, &q.Status, &q.Version, &q.CreatedAt, &q.UpdatedAt)
		q.ID, q.TenantID = pid.String(), tid.String()
		return err
	}
	b.Run("repository", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.Repo.GetPatient(ctx, p.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	unaudited := ehr.NewRepository(pool, ehr.WithoutAudit())
	b.Run("unaudited", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := unaudited.GetPatient(ctx, p.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pgx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := scan(pool.QueryRow(bg, readSQL, id, tenant)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			batch := &pgx.Batch{}
			batch.Queue(readSQL, id, tenant)
			batch.Queue(`UPDATE bench_floor_heads SET seq = seq + 1 WHERE patient_id = $1`, id)
			batch.Queue(`INSERT INTO bench_floor_events (patient_id, seq) SELECT patient_id, seq FROM bench_floor_heads WHERE patient_id = $1`, id)
			br := pool.SendBatch(bg, batch)
			err := scan(br.QueryRow())
			for range 2 {
				if err == nil {
					_, err = br.Exec()
				}
			}
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkChart compares a physician's chart read with and without the
// audit append (target: audited <= 1.3x unaudited), on a patient with a
// small but realistic chart (seedChart): an admission, notes,
// conditions, allergies, medications and 30 vital signs, read whole
// (Chart, as FHIR $everything and export read it).
//
// Its long and short sub-benchmarks compare the bounded read a
// clinician's chart uses (ChartView, default bounds) of a long-stay
// patient, 10,000 observations and 2,000 notes over 240 days, 40
// encounters, 60 conditions, 10 allergies and 120 medications, with that
// of a new patient with a handful of records (seedChart's): target long
// <= 1.5x short; long-whole is that long stay's whole chart (Chart). The
// tables also hold 1,000 other patients' records (seedOthers). See
// docs/performance.md, "Chart bounding".
func BenchmarkChart(b *testing.B) {
	pool := ehrtest.NewDB(b)
	h := ehrtest.NewHospital(b, pool)
	p := h.NewPatient(b)
	seedChart(b, h, p)
	ctx := h.As(h.Medico)
	unaudited := ehr.NewRepository(pool, ehr.WithoutAudit())
	for _, bc := range []struct {
		name string
		repo *ehr.Repository
	}{{"audited", h.Repo}, {"unaudited", unaudited}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := bc.repo.Chart(ctx, p.ID)
				if err != nil {
					b.Fatal(err)
				}
				if len(c.Observations) != 30 {
					b.Fatalf("chart has %d observations", len(c.Observations))
				}
			}
		})
	}

	seedOthers(b, pool, h, 1000)
	short := h.NewPatient(b)
	seedChart(b, h, short)
	long := h.NewPatient(b)
	seedChart(b, h, long)
	seedLongStay(b, pool, h, long)
	for _, bc := range []struct {
		name  string
		id    string
		notes int // counted (up to ehr.CountLimit)
	}{{"short", short.ID, 3}, {"long", long.ID, ehr.CountLimit}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, err := h.Repo.ChartView(ctx, bc.id, ehr.ChartBounds{})
				if err != nil {
					b.Fatal(err)
				}
				if n := v.Section(rbac.KindNote).Total; n != bc.notes || len(v.Notes) > ehr.DefaultSectionLimit {
					b.Fatalf("chart view has %d of %d notes, want %d counted", len(v.Notes), n, bc.notes)
				}
			}
		})
	}
	// For comparison: the whole, unbounded chart of the long stay, as
	// Chart reads it for $everything and export.
	b.Run("long-whole", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := h.Repo.Chart(ctx, long.ID)
			if err != nil {
				b.Fatal(err)
			}
			if len(c.Notes) != 2003 {
				b.Fatalf("chart has %d notes", len(c.Notes))
			}
		}
	})
}

// seedOthers adds n patients to h's tenant, by plain SQL for speed, each
// with 100 vital signs over two years and 20 signed notes over four, so that a patient's chart is
// read from tables holding a hospital's records and not theirs alone (the
// planner then reads one patient's rows through the indexes, as it does
// in production).
func seedOthers(tb testing.TB, pool *pgxpool.Pool, h *ehrtest.Hospital, n int) {
	tb.Helper()
	ctx := context.Background()
	user := h.Medico.Principal.UserID
	for _, q := range []string{
		`INSERT INTO patients (tenant_id, patient_id, document_type, document_number, given_names, family_names, search_name, sort_key,
  birth_date, sex, version, created_at, updated_at, updated_by)
SELECT $1, gen_random_uuid(), 'CC', 'B' || i, 'Paciente', 'Otro ' || i, 'paciente otro ' || i, 'otro ' || i || ' paciente',
  date '1970-01-01' + i, 'female', 1, now(), now(), $2
FROM generate_series(1, $3::int) i`,
		`INSERT INTO observations (tenant_id, patient_id, id, category, code, display, value, unit, effective_at, status, recorded_by, version, created_at, updated_at, updated_by)
SELECT p.tenant_id, p.patient_id, gen_random_uuid(), 'vital-signs', '8867-4', '', 60 + i % 40, '/min', t, 'final', $2, 1, t, t, $2
FROM patients p, LATERAL (SELECT i, now() - i * interval '7 days' - random() * interval '7 days' AS t FROM generate_series(1, 100) i) s
WHERE p.tenant_id = $1 AND p.document_number LIKE 'B%' AND $3::int > 0`,
		`INSERT INTO clinical_notes (tenant_id, patient_id, id, author_id, title, body, status, signed_at, signed_by, version, created_at, updated_at, updated_by)
SELECT p.tenant_id, p.patient_id, gen_random_uuid(), $2, 'Nota ' || i, 'Paciente estable.', 'signed', t, $2, 1, t, t, $2
FROM patients p, LATERAL (SELECT i, now() - i * interval '30 days' - random() * interval '30 days' AS t FROM generate_series(1, 20) i) s
WHERE p.tenant_id = $1 AND p.document_number LIKE 'B%' AND $3::int > 0`,
	} {
		if _, err := pool.Exec(ctx, q, h.Tenant.ID, user, n); err != nil {
			tb.Fatal(err)
		}
	}
}

// seedLongStay adds to patient p, by plain SQL for speed (valid rows,
// without the record versions and audit events the library would write,
// which a chart read does not read), the record of a long stay: 10,000
// vital signs, one every 35 minutes for 240 days back, 2,000 signed notes
// by h's physician, 40 finished encounters, 60 conditions, 10 allergies
// and 120 medications. It then vacuums and analyzes the tables, as
// autovacuum would. (The test server does not mark the pages
// all-visible, so the counts read the heap; see docs/performance.md,
// "Chart bounding".)
func seedLongStay(tb testing.TB, pool *pgxpool.Pool, h *ehrtest.Hospital, p ehr.Patient) {
	tb.Helper()
	ctx := context.Background()
	user := h.Medico.Principal.UserID
	codes := []string{ehr.CodeHeartRate, ehr.CodeSystolicBP, ehr.CodeDiastolicBP, ehr.CodeBodyTemp, ehr.CodeOxygenSat, ehr.CodeRespRate, ehr.CodeBodyWeight}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO encounters (tenant_id, patient_id, id, class, status, practitioner_id, reason, started_at, ended_at, version, created_at, updated_at, updated_by)
SELECT $1, $2, gen_random_uuid(), 'ambulatory', 'finished', $3, 'Control', t, t + interval '30 minutes', 1, t, t, $4
FROM (SELECT now() - i * interval '6 days' AS t FROM generate_series(1, 40) i) s`, []any{h.Tenant.ID, p.ID, h.Practitioner.ID, user}},
		{`INSERT INTO clinical_notes (tenant_id, patient_id, id, author_id, title, body, status, signed_at, signed_by, version, created_at, updated_at, updated_by)
SELECT $1, $2, gen_random_uuid(), $3, 'Evolución ' || i, 'Paciente estable, afebril, tolera vía oral. Continúa manejo instaurado.', 'signed', t, $3, 1, t, t, $3
FROM (SELECT i, now() - i * interval '172 minutes' AS t FROM generate_series(1, 2000) i) s`, []any{h.Tenant.ID, p.ID, user}},
		{`INSERT INTO observations (tenant_id, patient_id, id, category, code, display, value, unit, effective_at, status, recorded_by, version, created_at, updated_at, updated_by)
SELECT $1, $2, gen_random_uuid(), $4, ($5::text[])[1 + i % 7], '', 60 + i % 40, '1', t, 'final', $3, 1, t, t, $3
FROM (SELECT i, now() - i * interval '35 minutes' AS t FROM generate_series(1, 10000) i) s`, []any{h.Tenant.ID, p.ID, user, ehr.CategoryVitalSigns, codes}},
		{`INSERT INTO conditions (tenant_id, patient_id, id, code, display, status, recorded_by, version, created_at, updated_at, updated_by)
SELECT $1, $2, gen_random_uuid(), 'R50.' || i, 'Diagnóstico ' || i, CASE WHEN i % 4 = 0 THEN 'active' ELSE 'resolved' END, $3, 1, t, t, $3
FROM (SELECT i, now() - i * interval '4 days' AS t FROM generate_series(1, 60) i) s`, []any{h.Tenant.ID, p.ID, user}},
		{`INSERT INTO allergies (tenant_id, patient_id, id, substance, severity, status, recorded_by, version, created_at, updated_at, updated_by)
SELECT $1, $2, gen_random_uuid(), 'Sustancia ' || i, 'mild', 'active', $3, 1, t, t, $3
FROM (SELECT i, now() - i * interval '20 days' AS t FROM generate_series(1, 10) i) s`, []any{h.Tenant.ID, p.ID, user}},
		{`INSERT INTO medication_requests (tenant_id, patient_id, id, medication, dose, dose_unit, route, frequency, status, prescriber_id, version, created_at, updated_at, updated_by)
SELECT $1, $2, gen_random_uuid(), 'Medicamento ' || i, 50, 'mg', 'oral', 'cada 12 horas', CASE WHEN i % 10 = 0 THEN 'active' ELSE 'stopped' END, $3, 1, t, t, $3
FROM (SELECT i, now() - i * interval '2 days' AS t FROM generate_series(1, 120) i) s`, []any{h.Tenant.ID, p.ID, user}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			tb.Fatal(err)
		}
	}
	for _, t := range []string{"patients", "encounters", "clinical_notes", "observations", "conditions", "allergies", "medication_requests"} {
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE "+t); err != nil {
			tb.Fatal(err)
		}
	}
}

func seedChart(tb testing.TB, h *ehrtest.Hospital, p ehr.Patient) {
	tb.Helper()
	adm, med := h.As(h.Admisionista), h.As(h.Medico)
	enc, err := h.Repo.Admit(adm, ehr.Admission{PatientID: p.ID, AttendingID: h.Practitioner.ID, Ward: "Medicina", Bed: "4"})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range 3 {
		if _, err := h.Repo.CreateNote(med, ehr.Note{PatientID: p.ID, EncounterID: enc.ID, Title: fmt.Sprintf("Evolución %d", i), Body: "Paciente estable, afebril, tolera vía oral."}, true); err != nil {
			tb.Fatal(err)
		}
	}
	for _, code := range []string{"E11.9", "I10"} {
		if _, err := h.Repo.RecordCondition(med, ehr.Condition{PatientID: p.ID, Code: code, Display: "Diagnóstico " + code}); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := h.Repo.RecordAllergy(med, ehr.Allergy{PatientID: p.ID, Substance: "Penicilina", Severity: "severe"}); err != nil {
		tb.Fatal(err)
	}
	for _, m := range []string{"Metformina", "Losartán"} {
		if _, err := h.Repo.PrescribeMedication(med, ehr.MedicationRequest{PatientID: p.ID, Medication: m, Dose: 50, DoseUnit: "mg", Route: "oral", Frequency: "cada 12 horas"}); err != nil {
			tb.Fatal(err)
		}
	}
	var obs []ehr.Observation
	for i := range 30 {
		v := 70 + float64(i%10)
		obs = append(obs, ehr.Observation{Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Value: &v, Unit: "/min",
			EffectiveAt: time.Now().Add(-time.Duration(i) * time.Hour)})
	}
	if _, err := h.Repo.RecordObservations(med, p.ID, obs); err != nil {
		tb.Fatal(err)
	}
}
