package ehr_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// wantNameWords is what the word table must hold for a patient with
// these names: the distinct words of the folded names, sorted.
func wantNameWords(given, family string) []string {
	ws := strings.Fields(ehr.Fold(given + " " + family))
	slices.Sort(ws)
	return slices.Compact(ws)
}

// checkNameWords checks the word table against the patients of tenant:
// every patient not entered in error has exactly the words of its
// current names, with its sort_key; one entered in error has none; every
// word is in the tenant's dictionary. It returns the number of patients
// with words and without.
func checkNameWords(t *testing.T, db *pgxpool.Pool, tenant string) (with, without int) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT p.patient_id::text, p.given_names, p.family_names, p.status,
  coalesce(array_agg(w.word ORDER BY w.word) FILTER (WHERE w.word IS NOT NULL), '{}'),
  coalesce(bool_and(w.sort_key = p.sort_key), true)
FROM patients p LEFT JOIN patient_name_words w ON w.patient_id = p.patient_id AND w.tenant_id = p.tenant_id
WHERE p.tenant_id = $1 GROUP BY p.patient_id`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, given, family, status string
		var words []string
		var keyOK bool
		if err := rows.Scan(&id, &given, &family, &status, &words, &keyOK); err != nil {
			t.Fatal(err)
		}
		want := wantNameWords(given, family)
		if status == ehr.StatusEnteredInError {
			want = []string{}
		}
		if !slices.Equal(words, want) || !keyOK {
			t.Errorf("patient %s (%s): words %q (sort keys match: %v), want %q", id, status, words, keyOK, want)
		}
		if len(want) > 0 {
			with++
		} else {
			without++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Rows of another tenant's patient, or of no patient, under this tenant.
	var stray, missing int
	if err := db.QueryRow(ctx, `SELECT
  (SELECT count(*) FROM patient_name_words w WHERE w.tenant_id = $1
     AND NOT EXISTS (SELECT 1 FROM patients p WHERE p.patient_id = w.patient_id AND p.tenant_id = w.tenant_id)),
  (SELECT count(*) FROM patient_name_words w WHERE w.tenant_id = $1
     AND NOT EXISTS (SELECT 1 FROM patient_name_dictionary d WHERE d.tenant_id = w.tenant_id AND d.word = w.word))`,
		tenant).Scan(&stray, &missing); err != nil {
		t.Fatal(err)
	}
	if stray != 0 || missing != 0 {
		t.Errorf("%d word rows of no patient of the tenant, %d words missing from the dictionary", stray, missing)
	}
	return with, without
}

// TestNameWordsFollowNames registers, updates, marks entered in error and
// bulk-imports patients, and checks after each step that the word table
// holds the folded words of every patient's current names (none for a
// patient entered in error); then that migration 0009's backfill makes
// the same rows from the patients alone.
func TestNameWordsFollowNames(t *testing.T) {
	db := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, db)
	adm := h.As(h.Admisionista)
	birth := time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)
	reg := func(doc, given, family string) ehr.Patient {
		t.Helper()
		return must(h.Repo.RegisterPatient(adm, ehr.Patient{DocumentType: "CC", DocumentNumber: doc, GivenNames: given,
			FamilyNames: family, BirthDate: birth, Sex: ehr.SexFemale}))
	}
	a := reg("W-1", "María José", "Núñez Pérez")
	b := reg("W-2", "José José", "González González")
	c := reg("W-3", "ANA-SOFÍA", "O'Brien  de la Cruz")
	d := reg("W-4", "Ñandú", "Gonzalo")
	if with, without := checkNameWords(t, db, h.Tenant.ID); with != 4 || without != 0 {
		t.Fatalf("after RegisterPatient: %d patients with words, %d without", with, without)
	}

	// New names replace the old words; the same names keep them.
	b.GivenNames, b.FamilyNames = "Ramiro", "Gómez-Gonzaga"
	b = must(h.Repo.UpdatePatient(adm, b))
	c.Contact.Phone = "+57 300 111 2222"
	c = must(h.Repo.UpdatePatient(adm, c))
	if with, without := checkNameWords(t, db, h.Tenant.ID); with != 4 || without != 0 {
		t.Fatalf("after UpdatePatient: %d patients with words, %d without", with, without)
	}
	var old int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM patient_name_words WHERE tenant_id = $1 AND word = 'gonzalez'`,
		h.Tenant.ID).Scan(&old); err != nil || old != 0 {
		t.Fatalf("words of the old names: %d, %v", old, err)
	}

	// Entered in error: no words, even when its names change afterwards.
	nv := must(h.Repo.MarkEnteredInError(adm, ehr.RecordRef{Kind: rbac.KindDemographics, PatientID: d.ID, ID: d.ID, Version: d.Version}, "registro duplicado"))
	if with, without := checkNameWords(t, db, h.Tenant.ID); with != 3 || without != 1 {
		t.Fatalf("after MarkEnteredInError: %d patients with words, %d without", with, without)
	}
	d.Version, d.GivenNames = nv, "Otra"
	must(h.Repo.UpdatePatient(adm, d))
	if with, without := checkNameWords(t, db, h.Tenant.ID); with != 3 || without != 1 {
		t.Fatalf("after UpdatePatient of a patient entered in error: %d patients with words, %d without", with, without)
	}

	// The bulk import's fast path.
	imp := ehr.NewRepository(db, ehr.WithAuthorizer(importEngine(t)))
	ictx := h.As(ehrtest.Staff(h.Tenant.ID, "importer"))
	var in []ehr.PatientImport
	names := [][2]string{{"Lucía", "Gonzálvez Ruiz"}, {"Pedro Pedro", "Ruiz"}, {"Zoë", "Ærø Straße"}}
	for i := range 600 {
		// More new words than one insert into the dictionary takes.
		names = append(names, [2]string{fmt.Sprintf("Nombre%03d", i), fmt.Sprintf("Apellido%03d", i)})
	}
	for i, n := range names {
		in = append(in, ehr.PatientImport{Patient: ehr.Patient{DocumentType: "CC", DocumentNumber: fmt.Sprintf("W-I%d", i),
			GivenNames: n[0], FamilyNames: n[1], BirthDate: birth, Sex: ehr.SexMale}})
	}
	for i, r := range must(imp.ImportPatients(ictx, in)) {
		if r.Err != nil || r.Patient.ID == "" {
			t.Fatalf("import %d: %+v", i, r)
		}
	}
	if with, without := checkNameWords(t, db, h.Tenant.ID); with != 606 || without != 1 {
		t.Fatalf("after ImportPatients: %d patients with words, %d without", with, without)
	}
	_ = a

	// Migration 0009 from scratch makes the same rows from the patients.
	ctx := context.Background()
	if _, err := db.Exec(ctx, `DROP TABLE patient_name_words, patient_name_dictionary`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, ehr.MigrationSQL("0009_patient_name_words.sql")); err != nil {
		t.Fatal(err)
	}
	if with, without := checkNameWords(t, db, h.Tenant.ID); with != 606 || without != 1 {
		t.Fatalf("after the migration's backfill: %d patients with words, %d without", with, without)
	}
}

// TestNameWordsAsAppRole: the application role may keep the word table
// and search through it (migration 0009's grants).
func TestNameWordsAsAppRole(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(ehrtest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SET ROLE historia_app`)
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h := ehrtest.NewHospital(t, pool)
	adm := h.As(h.Admisionista)
	a, b := h.NewPatient(t), h.NewPatient(t)
	a.GivenNames = "Perpetua"
	a = must(h.Repo.UpdatePatient(adm, a))
	must(h.Repo.MarkEnteredInError(adm, ehr.RecordRef{Kind: rbac.KindDemographics, PatientID: b.ID, ID: b.ID, Version: b.Version}, "registro duplicado"))
	page := must(h.Repo.SearchPatients(adm, ehr.PatientQuery{Name: "per"}))
	if len(page.Patients) != 1 || page.Patients[0].ID != a.ID {
		t.Fatalf("search as historia_app = %v", pageNames(page))
	}
}

// TestSearchByWordsMatchesIndexPath runs the same name searches, page by
// page, through the word table and through the path every search took
// before it (ehr.WithoutNameWords), over patients with accents, repeated
// words, names sharing prefixes, equal names (the id breaks the tie),
// changed names and patients entered in error: the same patients in the
// same order, and the same cursors, at every page size.
func TestSearchByWordsMatchesIndexPath(t *testing.T) {
	pool, rec := ehrtest.NewRecordedDB(t)
	h := ehrtest.NewHospital(t, pool)
	old := ehr.NewRepository(pool, ehr.WithoutNameWords())
	adm := h.As(h.Admisionista)
	birth := time.Date(1980, 6, 1, 0, 0, 0, 0, time.UTC)
	names := [][2]string{
		{"María José", "González Pérez"}, {"Maria", "Gonzalez"}, {"MARÍA", "GONZÁLEZ"}, {"José", "Gonzalo Gonzalo"},
		{"Gonzalo", "Martínez"}, {"Ana", "Gonzaga"}, {"Ana", "Gonzaga"}, {"Ana", "Gonzaga"}, {"Luis", "Gómez-Gonzalez"},
		{"Mar", "Ruiz"}, {"Marta", "Marín"}, {"Martín", "Mar"}, {"Núñez", "Ñúñez"}, {"Nuno", "Nunez"},
		{"José José", "Pérez"}, {"Jose", "Perez Jose"}, {"Joselito", "Pérez"}, {"Sofía", "O'Brien"}, {"Zoë", "Ærø"},
		{"Gonz", "Gonzz"}, {"Go", "Go"}, {"Pablo", "Gonzalez 2"},
	}
	var ps []ehr.Patient
	for i, n := range names {
		ps = append(ps, must(h.Repo.RegisterPatient(adm, ehr.Patient{DocumentType: "CC", DocumentNumber: fmt.Sprintf("S-%d", i),
			GivenNames: n[0], FamilyNames: n[1], BirthDate: birth, Sex: ehr.SexFemale})))
	}
	for i := range 12 {
		ps = append(ps, must(h.Repo.RegisterPatient(adm, ehr.Patient{DocumentType: "CC", DocumentNumber: fmt.Sprintf("S-G%d", i),
			GivenNames: "Ana", FamilyNames: "González", BirthDate: birth, Sex: ehr.SexMale})))
	}
	// More words of one prefix than the word path merges: the other path.
	imp := ehr.NewRepository(pool, ehr.WithAuthorizer(importEngine(t)))
	var in []ehr.PatientImport
	for i := range ehr.MaxSearchWords + 2 {
		in = append(in, ehr.PatientImport{Patient: ehr.Patient{DocumentType: "CC", DocumentNumber: fmt.Sprintf("S-Z%d", i),
			GivenNames: "Ana", FamilyNames: fmt.Sprintf("Zq%c%c", 'a'+i/26, 'a'+i%26), BirthDate: birth, Sex: ehr.SexMale}})
	}
	for i, r := range must(imp.ImportPatients(h.As(ehrtest.Staff(h.Tenant.ID, "importer")), in)) {
		if r.Err != nil {
			t.Fatalf("import %d: %v", i, r.Err)
		}
	}
	// Changed names, and patients entered in error.
	p := ps[1]
	p.FamilyNames = "Rodríguez"
	must(h.Repo.UpdatePatient(adm, p))
	p = ps[5]
	p.GivenNames = "Gonzalina"
	must(h.Repo.UpdatePatient(adm, p))
	for _, i := range []int{0, 7, 25} {
		must(h.Repo.MarkEnteredInError(adm, ehr.RecordRef{Kind: rbac.KindDemographics, PatientID: ps[i].ID, ID: ps[i].ID,
			Version: ps[i].Version}, "registro duplicado"))
	}

	wordPages := func() int {
		n := 0
		for _, st := range rec.Statements() {
			if strings.Contains(st.SQL, "FROM patient_name_words w") {
				n++
			}
		}
		return n
	}
	type q = ehr.PatientQuery
	for _, c := range []struct {
		q     q
		words bool // served by the word table
	}{
		{q{Name: "gonz"}, true}, {q{Name: "GONZÁ"}, true}, {q{Name: "gonzalez"}, true}, {q{Name: "  Gonzalo  "}, true},
		{q{Name: "g"}, true}, {q{Name: "go"}, true}, {q{Name: "mar"}, true}, {q{Name: "maria"}, true}, {q{Name: "jos"}, true},
		{q{Name: "josé"}, true}, {q{Name: "ñu"}, true}, {q{Name: "nu"}, true}, {q{Name: "ær"}, true}, {q{Name: "aer"}, false},
		{q{Name: "zoe"}, true}, {q{Name: "a"}, true}, {q{Name: "rodriguez"}, true}, {q{Name: "zqa"}, true},
		{q{Name: "zq"}, false}, {q{Name: "xyz"}, false}, {q{Name: "o'b"}, false}, {q{Name: "maria gonz"}, false},
		{q{Name: "gonz", IncludeEnteredInError: true}, false}, {q{Name: "gonz", Sex: ehr.SexMale}, false},
		{q{Name: "gonz", NameMatch: ehr.MatchContains}, false}, {q{Name: "2"}, true},
	} {
		for _, limit := range []int{1, 2, 3, 5, 20, 200} {
			c.q.Limit = limit
			name := fmt.Sprintf("%q limit %d", c.q.Name, limit)
			if c.q.IncludeEnteredInError || c.q.Sex != "" || c.q.NameMatch != ehr.MatchPrefix {
				name += fmt.Sprintf(" (all %v, sex %q, %v)", c.q.IncludeEnteredInError, c.q.Sex, c.q.NameMatch)
			}
			before := wordPages()
			var seen int
			for page := 0; ; page++ {
				got, err := h.Repo.SearchPatients(adm, c.q)
				if err != nil {
					t.Fatalf("%s page %d: %v", name, page, err)
				}
				want := must(old.SearchPatients(adm, c.q))
				if !slices.Equal(pageIDs(got), pageIDs(want)) || got.Next != want.Next {
					t.Fatalf("%s page %d:\n word table %v next %q\n other path %v next %q", name, page,
						pageNames(got), got.Next, pageNames(want), want.Next)
				}
				seen += len(got.Patients)
				if got.Next == "" {
					break
				}
				c.q.Cursor = got.Next
			}
			c.q.Cursor = ""
			if used := wordPages() > before; used != c.words {
				t.Errorf("%s: word table used: %v, want %v", name, used, c.words)
			}
			if limit == 200 && seen == 0 && c.q.Name != "xyz" && c.q.Name != "aer" {
				t.Errorf("%s: found nobody", name)
			}
		}
	}
}

func pageIDs(p ehr.PatientPage) []string {
	var ids []string
	for _, x := range p.Patients {
		ids = append(ids, x.ID)
	}
	return ids
}

func pageNames(p ehr.PatientPage) []string {
	var out []string
	for _, x := range p.Patients {
		out = append(out, x.GivenNames+" "+x.FamilyNames+" "+x.ID[len(x.ID)-4:])
	}
	return out
}
