package fhirimport_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/refserver/internal/fhirimport"
	"github.com/historiaehr/historia/refserver/internal/fhirimport/synth"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkImport imports the synthetic input of N patients (21
// resources each, mostly observations; HISTORIA_BENCH_IMPORT_PATIENTS,
// default 200) into a new tenant per iteration:
//
//   - historia: fhirimport.Run, as `historia import` does (a transaction
//     per patient; versions and audit events; HISTORIA_BENCH_IMPORT_WORKERS
//     workers, default 2);
//   - copy: the same files decoded with the same mapping, and the same
//     rows written with pgx CopyFrom into the same tables in one
//     transaction, without versions, audit or checks: the floor.
//
// Both report resources/s. The target is historia within 3x of
// copy and at least 10,000 resources/s on a server with fsync on; the test
// servers of pgtest run with fsync off, so measure against one given by
// HISTORIA_TEST_DATABASE_URL (docs/import.md).
func BenchmarkImport(b *testing.B) {
	n := envInt("HISTORIA_BENCH_IMPORT_PATIENTS", 200)
	workers := envInt("HISTORIA_BENCH_IMPORT_WORKERS", 2)
	pool := ehrtest.NewDB(b)
	dir := b.TempDir()
	total, err := synth.Write(dir, 0, n, synth.DefaultShape)
	if err != nil {
		b.Fatal(err)
	}
	var fsync, commit string
	if err := pool.QueryRow(context.Background(), "SELECT current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &commit); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d patients, %d resources; fsync=%s synchronous_commit=%s", n, total, fsync, commit)

	b.Run("historia", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			im := newImporter(b, pool)
			b.StartTimer()
			sum, err := fhirimport.Run(im.ctx, fhirimport.Options{Paths: []string{dir}, Workers: workers, Repo: im.repo})
			if err != nil || sum.Imported != n {
				b.Fatalf("import: %v %+v", err, sum)
			}
		}
		b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "resources/s")
	})
	b.Run("copy", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			tn, err := ehr.NewRepository(pool).CreateTenant(context.Background(), "Hospital COPY")
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if got := copyLoad(b, pool, tn.ID, dir); got != total {
				b.Fatalf("copied %d resources, want %d", got, total)
			}
		}
		b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "resources/s")
	})
}

// copyLoad decodes the ndjson files of dir with fhirmap.Decode and writes
// their rows with CopyFrom in one transaction: no versions, no audit, no
// validation beyond the mapping's. It returns the number of resources.
func copyLoad(b *testing.B, pool *pgxpool.Pool, tenant, dir string) int {
	b.Helper()
	ctx := context.Background()
	tid := uuid.MustParse(tenant)
	now := time.Now().UTC()
	const by = "copy"
	rows := map[string][][]any{}
	ids := map[string]uuid.UUID{} // source Type/id → new id
	idOf := func(typ, src string) any {
		if src == "" {
			return nil
		}
		if u, ok := ids[typ+"/"+src]; ok {
			return u
		}
		u := uuid.Must(uuid.NewV7())
		ids[typ+"/"+src] = u
		return u
	}
	count := 0
	// Files in reference order: a row's references exist when it is read.
	for _, typ := range fhirmap.Types {
		f, err := os.Open(filepath.Join(dir, typ+".ndjson"))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			v, _, err := fhirmap.Decode(typ, line)
			if err != nil {
				b.Fatal(err)
			}
			count++
			switch r := v.(type) {
			case ehr.Practitioner:
				rows["practitioners"] = append(rows["practitioners"], []any{idOf("Practitioner", r.ID), tid, uuid.New(), r.Name, r.Specialty,
					r.License, r.Active, 1, now, now})
			case ehr.Patient:
				pid := idOf("Patient", r.ID)
				rows["patients"] = append(rows["patients"], []any{pid, tid, r.DocumentType, r.DocumentNumber, r.Identifiers, r.GivenNames,
					r.FamilyNames, " " + strings.ToLower(r.GivenNames+" "+r.FamilyNames) + " ", strings.ToLower(r.FamilyNames + "\x01" + r.GivenNames),
					r.BirthDate, r.Sex, r.Contact.Phone, r.Contact.Email, r.Contact.Address, r.Emergency.Name, r.Emergency.Phone,
					r.Emergency.Relationship, "active", "", 1, now, now, by})
				rows["patient_identifiers"] = append(rows["patient_identifiers"], []any{tid, r.DocumentType, r.DocumentNumber, pid})
				for _, id := range r.Identifiers {
					rows["patient_identifiers"] = append(rows["patient_identifiers"], []any{tid, id.System, id.Value, pid})
				}
			case ehr.Encounter:
				rows["encounters"] = append(rows["encounters"], []any{tid, idOf("Patient", r.PatientID), idOf("Encounter", r.ID), r.Class, r.Status,
					idOf("Practitioner", r.PractitionerID), r.Ward, r.Bed, r.Reason, r.Disposition, r.StartedAt, r.EndedAt, "", 1, created(r.CreatedAt, now), now, by})
			case ehr.Condition:
				rows["conditions"] = append(rows["conditions"], []any{tid, idOf("Patient", r.PatientID), uuid.Must(uuid.NewV7()),
					idOf("Encounter", r.EncounterID), r.Code, r.Display, r.Status, r.OnsetDate, r.Note, r.RecordedBy, "", 1, created(r.CreatedAt, now), now, by})
			case ehr.Allergy:
				rows["allergies"] = append(rows["allergies"], []any{tid, idOf("Patient", r.PatientID), uuid.Must(uuid.NewV7()), r.Substance,
					r.Reaction, r.Severity, r.Status, r.RecordedBy, "", 1, created(r.CreatedAt, now), now, by})
			case ehr.MedicationRequest:
				rows["medication_requests"] = append(rows["medication_requests"], []any{tid, idOf("Patient", r.PatientID), uuid.Must(uuid.NewV7()),
					idOf("Encounter", r.EncounterID), r.Medication, r.Dose, r.DoseUnit, r.Route, r.Frequency, r.Status, r.StartsOn, r.EndsOn, r.Note,
					r.PrescriberID, "", 1, created(r.CreatedAt, now), now, by})
			case ehr.Observation:
				rows["observations"] = append(rows["observations"], []any{tid, idOf("Patient", r.PatientID), uuid.Must(uuid.NewV7()),
					idOf("Encounter", r.EncounterID), r.Category, r.Code, r.Display, r.Value, r.ValueText, r.Unit, r.EffectiveAt, r.Status,
					r.RecordedBy, "", 1, created(r.CreatedAt, now), now, by})
			case ehr.Note:
				rows["clinical_notes"] = append(rows["clinical_notes"], []any{tid, idOf("Patient", r.PatientID), uuid.Must(uuid.NewV7()),
					idOf("Encounter", r.EncounterID), r.AuthorID, r.Title, r.Body, r.Status, r.SignedAt, r.SignedBy, "", 1, created(r.CreatedAt, now), now, by})
			default:
				b.Fatalf("copy: %T", v)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			b.Fatal(err)
		}
	}
	columns := []struct {
		table string
		cols  []string
	}{
		{"practitioners", []string{"id", "tenant_id", "user_id", "name", "specialty", "license", "active", "version", "created_at", "updated_at"}},
		{"patients", []string{"patient_id", "tenant_id", "document_type", "document_number", "identifiers", "given_names", "family_names",
			"search_name", "sort_key", "birth_date", "sex", "phone", "email", "address", "emergency_name", "emergency_phone",
			"emergency_relationship", "status", "change_reason", "version", "created_at", "updated_at", "updated_by"}},
		{"patient_identifiers", []string{"tenant_id", "system", "value", "patient_id"}},
		{"encounters", []string{"tenant_id", "patient_id", "id", "class", "status", "practitioner_id", "ward", "bed", "reason", "disposition",
			"started_at", "ended_at", "change_reason", "version", "created_at", "updated_at", "updated_by"}},
		{"conditions", []string{"tenant_id", "patient_id", "id", "encounter_id", "code", "display", "status", "onset_date", "note", "recorded_by",
			"change_reason", "version", "created_at", "updated_at", "updated_by"}},
		{"allergies", []string{"tenant_id", "patient_id", "id", "substance", "reaction", "severity", "status", "recorded_by", "change_reason",
			"version", "created_at", "updated_at", "updated_by"}},
		{"medication_requests", []string{"tenant_id", "patient_id", "id", "encounter_id", "medication", "dose", "dose_unit", "route", "frequency",
			"status", "starts_on", "ends_on", "note", "prescriber_id", "change_reason", "version", "created_at", "updated_at", "updated_by"}},
		{"observations", []string{"tenant_id", "patient_id", "id", "encounter_id", "category", "code", "display", "value", "value_text", "unit",
			"effective_at", "status", "recorded_by", "change_reason", "version", "created_at", "updated_at", "updated_by"}},
		{"clinical_notes", []string{"tenant_id", "patient_id", "id", "encounter_id", "author_id", "title", "body", "status", "signed_at",
			"signed_by", "change_reason", "version", "created_at", "updated_at", "updated_by"}},
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, c := range columns {
			if len(rows[c.table]) == 0 {
				continue
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(rows[c.table])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("copy: %v", err)
	}
	return count
}

func created(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}
