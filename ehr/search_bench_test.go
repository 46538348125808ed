package ehr_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
)

// seedPatientsSQL inserts $2 patients, numbered from $3 + 1, into tenant
// $1 in one statement, as RegisterPatient stores them (search_name and
// sort_key folded, the document in patient_identifiers): given names and
// a first family name
// from common Spanish lists, a second family name from 4,096 built of
// syllables (so that a search for one of them is selective, as a rare
// surname is), birth dates over 90 years. A benchmark fixture: it skips
// the audit and the versions, which the search does not read.
const seedPatientsSQL = `
WITH g AS (
  SELECT i,
    (ARRAY['Jose','Maria','Juan','Ana','Luis','Carmen','Carlos','Laura','Jorge','Lucia','Andres','Sofia','Miguel','Paula','Pedro','Elena',
           'Diego','Marta','Pablo','Sara','Javier','Isabel','Daniel','Rosa','Alejandro','Clara','Manuel','Julia','Antonio','Irene'])[1 + i % 30] AS given,
    (ARRAY['Garcia','Rodriguez','Gonzalez','Fernandez','Lopez','Martinez','Sanchez','Perez','Gomez','Martin','Jimenez','Ruiz','Hernandez',
           'Diaz','Moreno','Alvarez','Munoz','Romero','Alonso','Gutierrez','Navarro','Torres','Dominguez','Vazquez','Ramos','Gil','Ramirez',
           'Serrano','Blanco','Molina','Morales','Suarez','Ortega','Delgado','Castro','Ortiz','Rubio','Marin','Sanz','Iglesias'])[1 + (i / 30) % 40] AS family1,
    initcap((ARRAY['ba','ce','di','fo','gu','la','me','ni','po','ru','sa','te','vi','zo','ca','do'])[1 + (i * 7919) % 16] ||
            (ARRAY['ra','le','mi','no','pu','sa','te','vo','ri','za','lo','be','ga','du','fe','ci'])[1 + (i * 104729 / 16) % 16] ||
            (ARRAY['rez','gas','nos','tes','lla','rro','zar','via','sco','neda','ndo','lar','tin','ver','mas','quez'])[1 + (i * 1299709 / 256) % 16]) AS family2
  FROM generate_series($3::bigint + 1, $3::bigint + $2::bigint) AS i
), p AS (
  SELECT gen_random_uuid() AS id, i, given, family1 || ' ' || family2 AS family FROM g
), ins AS (
  INSERT INTO patients (tenant_id, patient_id, document_type, document_number, given_names, family_names, search_name, sort_key,
    birth_date, sex, version, created_at, updated_at, updated_by)
  SELECT $1, id, 'CC', 'B' || i, given, family, ' ' || lower(given || ' ' || family) || ' ', lower(family) || chr(1) || lower(given),
    date '1935-01-01' + ((i * 7) % 32850)::int, (ARRAY['female','male'])[1 + i % 2], 1, now(), now(), 'bench'
  FROM p
  RETURNING patient_id, document_number
)
INSERT INTO patient_identifiers (tenant_id, system, value, patient_id) SELECT $1, 'CC', document_number, patient_id FROM ins`

// BenchmarkSearchPatients measures SearchPatients on a tenant of
// HISTORIA_BENCH_PATIENTS patients (default 100,000; 1,000,000 for the
// figure in docs/performance.md), as it is ("words/…": a one-word name
// through the word table of migration 0009), then in the same run on the
// path every search took before the word table, with the trigram index
// of migration 0006 ("trgm/…") and without it ("noindex/…"): a common
// name prefix, a broad two-letter one, a rare family name prefix, a
// substring, a family filter, an exact document number, and a birth
// date.
func BenchmarkSearchPatients(b *testing.B) {
	n := 100_000
	if s := os.Getenv("HISTORIA_BENCH_PATIENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("HISTORIA_BENCH_PATIENTS=%q: not a count", s)
		}
	}
	pool := ehrtest.NewDB(b)
	h := ehrtest.NewHospital(b, pool)
	ctx := context.Background()
	start := time.Now()
	for done := 0; done < n; done += 100_000 {
		if _, err := pool.Exec(ctx, seedPatientsSQL, h.Tenant.ID, min(100_000, n-done), done); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d patients in %v", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	// The word table as migration 0009 makes it of a database that has
	// these patients: the migration again, after dropping its tables.
	if _, err := pool.Exec(ctx, `DROP TABLE patient_name_words, patient_name_dictionary`); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, ehr.MigrationSQL("0009_patient_name_words.sql")); err != nil {
		b.Fatal(err)
	}
	b.Logf("migration 0009 (the word table of %d patients) in %v", n, time.Since(start).Round(time.Millisecond))
	var words, dict int64
	var patientsSize, wordsSize string
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM patient_name_words), (SELECT count(*) FROM patient_name_dictionary),
  pg_size_pretty(pg_total_relation_size('patients')), pg_size_pretty(pg_total_relation_size('patient_name_words'))`).Scan(
		&words, &dict, &patientsSize, &wordsSize); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d name words, %d distinct; patients %s, patient_name_words %s (tables and indexes)", words, dict, patientsSize, wordsSize)
	// After a bulk load autovacuum would do the same; done here so that
	// the runs do not depend on when it comes.
	for _, st := range []string{"ANALYZE patients", "VACUUM ANALYZE patient_name_words", "VACUUM ANALYZE patient_name_dictionary"} {
		if _, err := pool.Exec(ctx, st); err != nil {
			b.Fatal(err)
		}
	}
	actx := h.As(h.Admisionista)
	// A rare family name of the fixture: the second family name of
	// patient 12345 (one of 4,096).
	var rare, given string
	var birth time.Time
	if err := pool.QueryRow(ctx, `SELECT split_part(family_names, ' ', 2), given_names, birth_date FROM patients
WHERE document_number = 'B' || $1::text AND tenant_id = $2`, strconv.Itoa(min(12345, n)), h.Tenant.ID).Scan(&rare, &given, &birth); err != nil {
		b.Fatal(err)
	}
	queries := []struct {
		name string
		q    ehr.PatientQuery
	}{
		{"name=gonz", ehr.PatientQuery{Name: "gonz"}},
		{"name=ma", ehr.PatientQuery{Name: "ma"}},
		{"name=rare-prefix", ehr.PatientQuery{Name: rare[:4]}},
		{"name=given+rare", ehr.PatientQuery{Name: given + " " + rare}},
		{"name:contains", ehr.PatientQuery{Name: rare[1:5], NameMatch: ehr.MatchContains}},
		{"family=rare", ehr.PatientQuery{Family: rare}},
		{"document", ehr.PatientQuery{DocumentNumber: "B" + strconv.Itoa(n/2)}},
		{"birthdate", ehr.PatientQuery{BirthDate: birth}},
	}
	other := ehr.NewRepository(pool, ehr.WithoutNameWords())
	run := func(prefix string, repo *ehr.Repository) {
		for _, c := range queries {
			b.Run(fmt.Sprintf("%s/%s", prefix, c.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					page, err := repo.SearchPatients(actx, c.q)
					if err != nil {
						b.Fatal(err)
					}
					if len(page.Patients) == 0 {
						b.Fatalf("%s found nothing", c.name)
					}
				}
			})
		}
	}
	run("words", h.Repo)
	run("trgm", other)
	if _, err := pool.Exec(ctx, "DROP INDEX patients_search_name_trgm_idx"); err != nil {
		b.Fatal(err)
	}
	run("noindex", other)
}
