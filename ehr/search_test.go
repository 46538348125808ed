package ehr_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// searchFixture registers patients under short labels and runs searches
// that return the labels of the patients found, across every page.
type searchFixture struct {
	t     *testing.T
	h     *ehrtest.Hospital
	n     int
	label map[string]string
	byKey map[string]ehr.Patient
}

func newSearchFixture(t *testing.T) *searchFixture {
	return &searchFixture{t: t, h: ehrtest.NewHospital(t, ehrtest.NewDB(t)), label: map[string]string{}, byKey: map[string]ehr.Patient{}}
}

// add registers p (as the admissions desk) under label, filling the
// document, birth date and sex when p leaves them blank.
func (s *searchFixture) add(label string, p ehr.Patient) ehr.Patient {
	s.t.Helper()
	s.n++
	if p.DocumentType == "" {
		p.DocumentType, p.DocumentNumber = "CC", fmt.Sprintf("SR%06d", s.n)
	}
	if p.BirthDate.IsZero() {
		p.BirthDate = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if p.Sex == "" {
		p.Sex = ehr.SexUnknown
	}
	p = must(s.h.Repo.RegisterPatient(s.h.As(s.h.Admisionista), p))
	s.label[p.ID], s.byKey[label] = label, p
	return p
}

// find runs q as the physician through every page (q.Limit per page)
// and returns the labels found, sorted; it fails the test on an error or
// on a patient found twice.
func (s *searchFixture) find(q ehr.PatientQuery) []string {
	s.t.Helper()
	var out []string
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		page, err := s.h.Repo.SearchPatients(s.h.As(s.h.Medico), q)
		if err != nil {
			s.t.Fatalf("search %+v: %v", q, err)
		}
		for _, p := range page.Patients {
			if seen[p.ID] {
				s.t.Fatalf("search %+v: %s found twice", q, p.ID)
			}
			seen[p.ID] = true
			l, ok := s.label[p.ID]
			if !ok {
				l = "?" + p.ID
			}
			out = append(out, l)
		}
		if page.Next == "" || pages > 100 {
			slices.Sort(out)
			return out
		}
		q.Cursor = page.Next
	}
}

// expect checks that q finds exactly the patients labelled want.
func (s *searchFixture) expect(name string, q ehr.PatientQuery, want ...string) {
	s.t.Helper()
	slices.Sort(want)
	if got := s.find(q); !slices.Equal(got, want) {
		s.t.Errorf("%s: found %v, want %v", name, got, want)
	}
}

// wantField checks that err is a *ValidationError naming field with code.
func wantField(t *testing.T, err error, field, code string) {
	t.Helper()
	var ve *ehr.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ehr.ErrInvalid) {
		t.Fatalf("want a *ValidationError on %s, got %v", field, err)
	}
	for _, f := range ve.Fields {
		if f.Field == field && f.Code == code {
			return
		}
	}
	t.Fatalf("want %s %s, got %+v", field, code, ve.Fields)
}

func TestSearchPatientNames(t *testing.T) {
	s := newSearchFixture(t)
	s.add("A", ehr.Patient{GivenNames: "José Luis", FamilyNames: "González Pérez"})
	s.add("B", ehr.Patient{GivenNames: "Jose", FamilyNames: "Gonzalez"})
	s.add("C", ehr.Patient{GivenNames: "Rosalba", FamilyNames: "Vargas"})
	s.add("D", ehr.Patient{GivenNames: "Luis", FamilyNames: "Pérez"})
	s.add("E", ehr.Patient{GivenNames: "MARÍA", FamilyNames: "Núñez-Gonzálvez"})
	type q = ehr.PatientQuery

	// Default (prefix) search: every word starts a word, folded.
	s.expect("gonzalez", q{Name: "gonzalez"}, "A", "B")
	s.expect("GONZÁLEZ", q{Name: "GONZÁLEZ"}, "A", "B")
	s.expect("gonzal", q{Name: "gonzal"}, "A", "B", "E")
	s.expect("words in any order", q{Name: "gonz jos"}, "A", "B")
	s.expect("every word must match", q{Name: "jose vargas"})
	s.expect("hyphen folds to a word break", q{Name: "nunez gonzalvez"}, "E")
	s.expect("prefix does not match inside a word", q{Name: "alba"})
	s.expect("punctuation only does not filter", q{Name: " -- "}, "A", "B", "C", "D", "E")

	// Contains: the whole folded query anywhere.
	s.expect("contains inside a word", q{Name: "alba", NameMatch: ehr.MatchContains}, "C")
	s.expect("contains across words", q{Name: "LEZ PÉ", NameMatch: ehr.MatchContains}, "A")
	s.expect("contains across given and family", q{Name: "is gon", NameMatch: ehr.MatchContains}, "A")
	s.expect("contains is not per word", q{Name: "luis vargas", NameMatch: ehr.MatchContains})
	s.expect("contains folded", q{Name: "ÑEZ", NameMatch: ehr.MatchContains}, "E")

	// Exact: case- and accent-sensitive, whole given, family or both.
	s.expect("exact given", q{Name: "José Luis", NameMatch: ehr.MatchExact}, "A")
	s.expect("exact family", q{Name: "González Pérez", NameMatch: ehr.MatchExact}, "A")
	s.expect("exact full name", q{Name: " José Luis González Pérez ", NameMatch: ehr.MatchExact}, "A")
	s.expect("exact is case-sensitive", q{Name: "josé luis", NameMatch: ehr.MatchExact})
	s.expect("exact is accent-sensitive", q{Name: "Jose Luis", NameMatch: ehr.MatchExact})
	s.expect("exact unaccented", q{Name: "Jose", NameMatch: ehr.MatchExact}, "B")
	s.expect("exact is not a prefix", q{Name: "Gonz", NameMatch: ehr.MatchExact})
	s.expect("exact is not one word of several", q{Name: "González", NameMatch: ehr.MatchExact})
	s.expect("exact family then given is not the name", q{Name: "Pérez Luis", NameMatch: ehr.MatchExact})
	s.expect("exact compares NFC", q{Name: "Jose\u0301 Luis", NameMatch: ehr.MatchExact}, "A")
	s.expect("exact upper case as stored", q{Name: "MARÍA", NameMatch: ehr.MatchExact}, "E")

	// Family and given names alone.
	s.expect("family prefix", q{Family: "perez"}, "A", "D")
	s.expect("family is not given", q{Family: "luis"})
	s.expect("given prefix", q{Given: "LUIS"}, "A", "D")
	s.expect("given is not family", q{Given: "perez"})
	s.expect("family second word", q{Family: "gonzalv"}, "E")
	s.expect("family and given", q{Family: "gonz", Given: "jose luis"}, "A")
	s.expect("family exact", q{Family: "Pérez", FamilyMatch: ehr.MatchExact}, "D")
	s.expect("family exact accent-sensitive", q{Family: "Gonzalez", FamilyMatch: ehr.MatchExact}, "B")
	s.expect("given exact", q{Given: "Jose", GivenMatch: ehr.MatchExact}, "B")
	s.expect("given exact is not family", q{Given: "Vargas", GivenMatch: ehr.MatchExact})
	s.expect("family contains", q{Family: "NZAL", FamilyMatch: ehr.MatchContains}, "A", "B", "E")
	s.expect("given contains", q{Given: "osal", GivenMatch: ehr.MatchContains}, "C")
	s.expect("given contains is not family", q{Given: "arga", GivenMatch: ehr.MatchContains})
	s.expect("name, family and given together", q{Name: "jose", Family: "Gonzalez", FamilyMatch: ehr.MatchExact, Given: "jo"}, "B")

	for _, tc := range []struct {
		q     ehr.PatientQuery
		field string
	}{
		{q{Name: "x", NameMatch: 3}, "NameMatch"},
		{q{Family: "x", FamilyMatch: -1}, "FamilyMatch"},
		{q{Given: "x", GivenMatch: 99}, "GivenMatch"},
	} {
		_, err := s.h.Repo.SearchPatients(s.h.As(s.h.Medico), tc.q)
		wantField(t, err, tc.field, ehr.CodeNotAllowed)
	}
	if ehr.MatchContains.String() != "contains" || ehr.TextMatch(9).String() != "TextMatch(9)" {
		t.Errorf("TextMatch.String: %s, %s", ehr.MatchContains, ehr.TextMatch(9))
	}
}

func TestSearchPatientIdentifiers(t *testing.T) {
	s := newSearchFixture(t)
	p1 := s.add("P1", ehr.Patient{GivenNames: "Uno", FamilyNames: "Ident", DocumentType: "CC", DocumentNumber: "55555",
		Identifiers: []ehr.Identifier{{System: "MRN", Value: "H-1"}}})
	s.add("P2", ehr.Patient{GivenNames: "Dos", FamilyNames: "Ident", DocumentType: "TI", DocumentNumber: "77777",
		Identifiers: []ehr.Identifier{{System: "MRN", Value: "55555"}, {System: "EPS", Value: "X-9"}}})
	p3 := s.add("P3", ehr.Patient{GivenNames: "Tres", FamilyNames: "Ident", DocumentType: "CC", DocumentNumber: "99999"})
	type q = ehr.PatientQuery

	s.expect("value in any system", q{DocumentNumber: "55555"}, "P1", "P2")
	s.expect("value of the document type", q{DocumentNumber: "55555", IdentifierSystem: "CC"}, "P1")
	s.expect("value of an identifier system", q{DocumentNumber: "55 555", IdentifierSystem: " mrn "}, "P2")
	s.expect("value of another system", q{DocumentNumber: "55555", IdentifierSystem: "PASSPORT"})
	s.expect("identifier value upper-cased", q{DocumentNumber: "h-1"}, "P1")
	s.expect("identifier value in its system", q{DocumentNumber: "h-1", IdentifierSystem: "MRN"}, "P1")
	s.expect("unknown value", q{DocumentNumber: "NOPE-000"})
	s.expect("value no identifier can have", q{DocumentNumber: "1.234.567"})
	s.expect("system alone: identifiers", q{IdentifierSystem: "MRN"}, "P1", "P2")
	s.expect("system alone: document", q{IdentifierSystem: "cc"}, "P1", "P3")
	s.expect("system alone: second identifier", q{IdentifierSystem: "EPS"}, "P2")
	s.expect("system alone: none", q{IdentifierSystem: "PASSPORT"})

	s.expect("ids", q{IDs: []string{p1.ID, p3.ID}}, "P1", "P3")
	s.expect("ids repeated and upper-case", q{IDs: []string{strings.ToUpper(p3.ID), p3.ID}}, "P3")
	s.expect("unknown id", q{IDs: []string{uuid.NewString()}})
	s.expect("empty ids do not filter", q{IDs: []string{}}, "P1", "P2", "P3")
	s.expect("ids and value", q{IDs: []string{p1.ID, p3.ID}, DocumentNumber: "55555"}, "P1")
	s.expect("ids, value and system", q{IDs: []string{p1.ID, p3.ID}, DocumentNumber: "55555", IdentifierSystem: "MRN"})
	s.expect("ids and name", q{IDs: []string{p1.ID, p3.ID}, Name: "tres"}, "P3")

	// Another tenant sees none of them, by value or by id.
	other := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	for _, q := range []ehr.PatientQuery{{DocumentNumber: "55555"}, {IDs: []string{p1.ID}}, {IdentifierSystem: "MRN"}} {
		if page := must(other.Repo.SearchPatients(other.As(other.Medico), q)); len(page.Patients) != 0 {
			t.Errorf("other tenant %+v: %d patients", q, len(page.Patients))
		}
	}

	med := s.h.As(s.h.Medico)
	_, err := s.h.Repo.SearchPatients(med, q{IDs: []string{p1.ID, "not-a-uuid", "{" + p3.ID + "}"}})
	wantField(t, err, "IDs[1]", ehr.CodeInvalid)
	wantField(t, err, "IDs[2]", ehr.CodeInvalid)
	many := make([]string, ehr.MaxSearchIDs+1)
	for i := range many {
		many[i] = uuid.NewString()
	}
	_, err = s.h.Repo.SearchPatients(med, q{IDs: many})
	wantField(t, err, "IDs", ehr.CodeTooMany)
	s.expect("MaxSearchIDs ids", q{IDs: append(many[:ehr.MaxSearchIDs-1], p1.ID)}, "P1")
	for _, sys := range []string{"M R N", "1MRN", "MRN|", strings.Repeat("A", 21)} {
		_, err = s.h.Repo.SearchPatients(med, q{DocumentNumber: "55555", IdentifierSystem: sys})
		wantField(t, err, "IdentifierSystem", ehr.CodeInvalid)
	}
}

func TestSearchPatientBirthSex(t *testing.T) {
	s := newSearchFixture(t)
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	s.add("jan1", ehr.Patient{GivenNames: "Ana", FamilyNames: "Fecha", BirthDate: day(1980, 1, 1), Sex: ehr.SexFemale})
	s.add("jun15", ehr.Patient{GivenNames: "Beto", FamilyNames: "Fecha", BirthDate: day(1980, 6, 15), Sex: ehr.SexMale})
	s.add("dec31", ehr.Patient{GivenNames: "Cris", FamilyNames: "Fecha", BirthDate: day(1980, 12, 31), Sex: ehr.SexOther})
	s.add("next", ehr.Patient{GivenNames: "Dana", FamilyNames: "Fecha", BirthDate: day(1981, 1, 1), Sex: ehr.SexFemale})
	type q = ehr.PatientQuery

	s.expect("year, bounds inclusive", q{BirthFrom: day(1980, 1, 1), BirthTo: day(1980, 12, 31)}, "jan1", "jun15", "dec31")
	s.expect("from inclusive", q{BirthFrom: day(1980, 6, 15)}, "jun15", "dec31", "next")
	s.expect("to inclusive", q{BirthTo: day(1980, 6, 15)}, "jan1", "jun15")
	s.expect("one day", q{BirthFrom: day(1980, 6, 15), BirthTo: day(1980, 6, 15)}, "jun15")
	s.expect("gt as the next day", q{BirthFrom: day(1980, 6, 16)}, "dec31", "next")
	s.expect("lt as the day before", q{BirthTo: day(1980, 6, 14)}, "jan1")
	s.expect("empty range finds nothing", q{BirthFrom: day(1981, 1, 1), BirthTo: day(1980, 1, 1)})
	bogota := time.FixedZone("COT", -5*3600)
	s.expect("date in its own location", q{BirthFrom: time.Date(1980, 6, 15, 23, 30, 0, 0, bogota), BirthTo: time.Date(1980, 12, 31, 22, 0, 0, 0, bogota)}, "jun15", "dec31")
	s.expect("exact birth date", q{BirthDate: day(1980, 12, 31)}, "dec31")
	s.expect("exact and range", q{BirthDate: day(1980, 12, 31), BirthTo: day(1980, 6, 15)})
	s.expect("ne one day", q{BirthNotFrom: day(1980, 6, 15)}, "jan1", "dec31", "next")
	s.expect("ne a year", q{BirthNotFrom: day(1980, 1, 1), BirthNotTo: day(1980, 12, 31)}, "next")
	s.expect("ne an empty range", q{BirthNotFrom: day(1980, 12, 31), BirthNotTo: day(1980, 1, 1)}, "jan1", "jun15", "dec31", "next")
	s.expect("range and ne", q{BirthFrom: day(1980, 1, 1), BirthTo: day(1980, 12, 31), BirthNotFrom: day(1980, 6, 15)}, "jan1", "dec31")

	s.expect("female", q{Sex: ehr.SexFemale}, "jan1", "next")
	s.expect("sex normalized", q{Sex: " MALE "}, "jun15")
	s.expect("unknown", q{Sex: ehr.SexUnknown})
	s.expect("sex and range", q{Sex: ehr.SexFemale, BirthTo: day(1980, 12, 31)}, "jan1")

	med := s.h.As(s.h.Medico)
	for _, tc := range []struct {
		q           ehr.PatientQuery
		field, code string
	}{
		{q{Sex: "mujer"}, "Sex", ehr.CodeNotAllowed},
		{q{Sex: "f"}, "Sex", ehr.CodeNotAllowed},
		{q{BirthNotTo: day(1980, 1, 1)}, "BirthNotFrom", ehr.CodeRequired},
		{q{BirthFrom: day(10000, 1, 1)}, "BirthFrom", ehr.CodeOutOfRange},
		{q{BirthTo: day(-1, 1, 1)}, "BirthTo", ehr.CodeOutOfRange},
		{q{BirthDate: day(12000, 1, 1)}, "BirthDate", ehr.CodeOutOfRange},
		{q{BirthNotFrom: day(0, 1, 1)}, "BirthNotFrom", ehr.CodeOutOfRange},
	} {
		_, err := s.h.Repo.SearchPatients(med, tc.q)
		wantField(t, err, tc.field, tc.code)
	}
}

func TestSearchPatientUpdated(t *testing.T) {
	s := newSearchFixture(t)
	reg := func(label string) ehr.Patient {
		p := s.add(label, ehr.Patient{GivenNames: label, FamilyNames: "Cambio"})
		time.Sleep(2 * time.Millisecond)
		return p
	}
	p1, p2, p3 := reg("p1"), reg("p2"), reg("p3")
	if !p1.UpdatedAt.Before(p2.UpdatedAt) || !p2.UpdatedAt.Before(p3.UpdatedAt) {
		t.Fatalf("update times not increasing: %v %v %v", p1.UpdatedAt, p2.UpdatedAt, p3.UpdatedAt)
	}
	type q = ehr.PatientQuery
	s.expect("from inclusive", q{UpdatedFrom: p2.UpdatedAt}, "p2", "p3")
	s.expect("to exclusive", q{UpdatedTo: p2.UpdatedAt}, "p1")
	s.expect("from and to", q{UpdatedFrom: p2.UpdatedAt, UpdatedTo: p3.UpdatedAt}, "p2")
	s.expect("empty window", q{UpdatedFrom: p3.UpdatedAt, UpdatedTo: p1.UpdatedAt})
	s.expect("equal bounds", q{UpdatedFrom: p2.UpdatedAt, UpdatedTo: p2.UpdatedAt})
	// Bounds finer than a microsecond round up.
	s.expect("from a nanosecond after", q{UpdatedFrom: p2.UpdatedAt.Add(time.Nanosecond)}, "p3")
	s.expect("to a nanosecond after", q{UpdatedTo: p2.UpdatedAt.Add(time.Nanosecond)}, "p1", "p2")
	s.expect("other location", q{UpdatedFrom: p2.UpdatedAt.In(time.FixedZone("X", 7*3600))}, "p2", "p3")

	// An update moves the patient's last change.
	p1.GivenNames = "p1 bis"
	p1 = must(s.h.Repo.UpdatePatient(s.h.As(s.h.Admisionista), p1))
	got := must(s.h.Repo.GetPatient(s.h.As(s.h.Admisionista), p1.ID))
	s.expect("after the update", q{UpdatedFrom: p3.UpdatedAt.Add(time.Microsecond)}, "p1")
	s.expect("updated exactly", q{UpdatedFrom: got.UpdatedAt, UpdatedTo: got.UpdatedAt.Add(time.Microsecond)}, "p1")

	med := s.h.As(s.h.Medico)
	_, err := s.h.Repo.SearchPatients(med, q{UpdatedFrom: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	wantField(t, err, "UpdatedFrom", ehr.CodeOutOfRange)
	_, err = s.h.Repo.SearchPatients(med, q{UpdatedTo: time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC)})
	wantField(t, err, "UpdatedTo", ehr.CodeOutOfRange)
}

func TestSearchPatientCombined(t *testing.T) {
	s := newSearchFixture(t)
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	a := s.add("a", ehr.Patient{GivenNames: "María José", FamilyNames: "Gómez", BirthDate: day(1975, 4, 2), Sex: ehr.SexFemale,
		Identifiers: []ehr.Identifier{{System: "MRN", Value: "M-100"}}})
	s.add("b", ehr.Patient{GivenNames: "María", FamilyNames: "Gómez Ruiz", BirthDate: day(1990, 4, 2), Sex: ehr.SexFemale})
	s.add("c", ehr.Patient{GivenNames: "José María", FamilyNames: "Gómez", BirthDate: day(1975, 4, 2), Sex: ehr.SexMale,
		Identifiers: []ehr.Identifier{{System: "MRN", Value: "M-101"}}})
	s.add("d", ehr.Patient{GivenNames: "Marta", FamilyNames: "Gomes", BirthDate: day(1975, 4, 2), Sex: ehr.SexFemale})
	type q = ehr.PatientQuery

	s.expect("name", q{Name: "maria gomez"}, "a", "b", "c")
	s.expect("name and sex", q{Name: "maria gomez", Sex: ehr.SexFemale}, "a", "b")
	s.expect("name, sex and birth", q{Name: "maria gomez", Sex: ehr.SexFemale, BirthTo: day(1980, 1, 1)}, "a")
	s.expect("given prefix, family exact", q{Given: "mar", Family: "Gómez", FamilyMatch: ehr.MatchExact}, "a", "c")
	s.expect("family contains and system", q{Family: "gom", FamilyMatch: ehr.MatchContains, IdentifierSystem: "MRN"}, "a", "c")
	s.expect("identifier and sex", q{DocumentNumber: "m-101", Sex: ehr.SexFemale})
	s.expect("identifier and name", q{DocumentNumber: "m-101", Name: "jose"}, "c")
	s.expect("ids and birth", q{IDs: []string{a.ID, s.byKey["b"].ID}, BirthFrom: day(1975, 4, 2), BirthTo: day(1975, 4, 2)}, "a")
	s.expect("updated and name", q{UpdatedFrom: a.UpdatedAt, Name: "mar"}, "a", "b", "c", "d")

	// Entered in error is left out unless asked for, with any filter.
	c := s.byKey["c"]
	must(s.h.Repo.MarkEnteredInError(s.h.As(s.h.Admisionista), ehr.RecordRef{Kind: rbac.KindDemographics, PatientID: c.ID, ID: c.ID, Version: c.Version}, "registro duplicado"))
	s.expect("entered in error left out", q{Name: "jose", DocumentNumber: "M-101"})
	s.expect("entered in error included", q{Name: "jose", DocumentNumber: "M-101", IncludeEnteredInError: true}, "c")
}

// TestSearchPatientPaging pages through a search two patients at a time
// while other patients are registered, concurrently and between pages,
// before and after the cursor: no patient comes twice, every patient
// there at the start comes once, in order.
func TestSearchPatientPaging(t *testing.T) {
	s := newSearchFixture(t)
	initial := map[string]bool{}
	for i := range 15 {
		// Family names in a shuffled order, some equal (the id breaks ties).
		p := s.add(fmt.Sprintf("i%02d", i), ehr.Patient{GivenNames: "Paginado", FamilyNames: fmt.Sprintf("Mora %02d", (i*7)%11)})
		initial[p.ID] = true
	}
	s.add("other", ehr.Patient{GivenNames: "Otro", FamilyNames: "Mora 05"})
	adm := s.h.As(s.h.Admisionista)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	wg.Go(func() {
		for i := range 60 {
			select {
			case <-stop:
				return
			default:
			}
			_, err := s.h.Repo.RegisterPatient(adm, ehr.Patient{DocumentType: "CC", DocumentNumber: fmt.Sprintf("CONC%04d", i),
				GivenNames: "Paginado", FamilyNames: fmt.Sprintf("Mora %02d", (i*5)%13), BirthDate: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), Sex: ehr.SexUnknown})
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			time.Sleep(3 * time.Millisecond)
		}
	})

	med := s.h.As(s.h.Medico)
	q := ehr.PatientQuery{Given: "paginado", Limit: 2}
	seen := map[string]bool{}
	var order []string
	pages := 0
	for {
		page, err := s.h.Repo.SearchPatients(med, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Patients) > 2 {
			t.Fatalf("page of %d", len(page.Patients))
		}
		for _, p := range page.Patients {
			if seen[p.ID] {
				t.Fatalf("patient %s on two pages", p.ID)
			}
			seen[p.ID] = true
			order = append(order, ehr.Fold(p.FamilyNames)+"\x01"+ehr.Fold(p.GivenNames)+"\x01"+p.ID)
		}
		// Between pages: one patient sorting before every page (never
		// shown: it is behind the cursor) and one after.
		s.add(fmt.Sprintf("before%02d", pages), ehr.Patient{GivenNames: "Paginado", FamilyNames: "Alba"})
		s.add(fmt.Sprintf("after%02d", pages), ehr.Patient{GivenNames: "Paginado", FamilyNames: "Zúñiga"})
		if page.Next == "" {
			break
		}
		if pages > 200 {
			t.Fatal("paging does not end")
		}
		q.Cursor = page.Next
	}
	close(stop)
	wg.Wait()
	for _, err := range errs {
		t.Errorf("concurrent registration: %v", err)
	}
	for id := range initial {
		if !seen[id] {
			t.Errorf("patient %s there from the start was skipped", id)
		}
	}
	for id := range seen {
		if l := s.label[id]; strings.HasPrefix(l, "before") {
			t.Errorf("%s, registered behind the cursor, was shown", l)
		}
	}
	if !slices.IsSorted(order) {
		t.Errorf("not in (family, given, id) order: %q", order)
	}
	if pages < 8 {
		t.Errorf("%d pages for %d patients", pages, len(seen))
	}
	t.Logf("%d pages, %d patients seen (%d at the start)", pages, len(seen), len(initial))
}

// TestSearchPatientCursor: a cursor belongs to its query. It is refused
// by another query, accepted with another Limit or with the same filters
// spelled otherwise.
func TestSearchPatientCursor(t *testing.T) {
	s := newSearchFixture(t)
	for i := range 5 {
		s.add(fmt.Sprintf("c%d", i), ehr.Patient{GivenNames: "Cursor", FamilyNames: fmt.Sprintf("Ríos %d", i), Sex: ehr.SexFemale})
	}
	med := s.h.As(s.h.Medico)
	first := must(s.h.Repo.SearchPatients(med, ehr.PatientQuery{Name: "cursor rios", Limit: 2}))
	if first.Next == "" {
		t.Fatal("no next page")
	}
	for name, q := range map[string]ehr.PatientQuery{
		"other name":             {Name: "cursor"},
		"other match":            {Name: "cursor rios", NameMatch: ehr.MatchContains},
		"name as family":         {Family: "cursor rios"},
		"another filter added":   {Name: "cursor rios", Sex: ehr.SexFemale},
		"entered in error added": {Name: "cursor rios", IncludeEnteredInError: true},
		"no filter":              {},
	} {
		q.Cursor = first.Next
		_, err := s.h.Repo.SearchPatients(med, q)
		t.Run(name, func(t *testing.T) { wantField(t, err, "Cursor", ehr.CodeInvalid) })
	}
	// A cursor without the query's fingerprint (the earlier format) is refused.
	old := base64.RawURLEncoding.EncodeToString([]byte(`{"k":"rios 0\u0001cursor","i":"` + first.Patients[1].ID + `"}`))
	_, err := s.h.Repo.SearchPatients(med, ehr.PatientQuery{Name: "cursor rios", Limit: 2, Cursor: old})
	wantField(t, err, "Cursor", ehr.CodeInvalid)

	for name, q := range map[string]ehr.PatientQuery{
		"same query":          {Name: "cursor rios", Limit: 2},
		"other limit":         {Name: "cursor rios", Limit: 10},
		"same words, spelled": {Name: "  CURSOR  Ríos ", Limit: 2},
	} {
		q.Cursor = first.Next
		page, err := s.h.Repo.SearchPatients(med, q)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(page.Patients) == 0 || page.Patients[0].ID == first.Patients[0].ID || page.Patients[0].ID == first.Patients[1].ID {
			t.Errorf("%s: the second page does not follow the first", name)
		}
	}
}

// TestSearchPatientBadInput: each bad input fails before any SQL with a
// *ValidationError naming the field, whose text carries no value; a
// refused search writes no audit event, an accepted one exactly one, on
// the tenant's chain, without the search terms.
func TestSearchPatientBadInput(t *testing.T) {
	s := newSearchFixture(t)
	s.add("p", ehr.Patient{GivenNames: "Secreta", FamilyNames: "Reservada"})
	med, aud := s.h.As(s.h.Medico), s.h.As(s.h.Auditor)
	searches := func() []ehr.AuditEvent {
		t.Helper()
		return must(s.h.Repo.SearchAudit(aud, ehr.AuditQuery{ChainID: s.h.Tenant.ID, Action: "search", Kind: "demographics", Limit: 500})).Events
	}
	before := len(searches())

	long := strings.Repeat("Reservadísima ", 20)
	for _, tc := range []struct {
		q           ehr.PatientQuery
		field, code string
	}{
		{ehr.PatientQuery{Name: long}, "Name", ehr.CodeTooLong},
		{ehr.PatientQuery{Name: long, NameMatch: ehr.MatchContains}, "Name", ehr.CodeTooLong},
		{ehr.PatientQuery{Name: long + long, NameMatch: ehr.MatchExact}, "Name", ehr.CodeTooLong},
		{ehr.PatientQuery{Name: "Reserv\xffada"}, "Name", ehr.CodeInvalid},
		{ehr.PatientQuery{Name: "Reservada\x00", NameMatch: ehr.MatchExact}, "Name", ehr.CodeInvalid},
		{ehr.PatientQuery{Family: long}, "Family", ehr.CodeTooLong},
		{ehr.PatientQuery{Given: "Secr\xe9ta"}, "Given", ehr.CodeInvalid},
		{ehr.PatientQuery{DocumentNumber: strings.Repeat("9", 65)}, "DocumentNumber", ehr.CodeTooLong},
		{ehr.PatientQuery{DocumentNumber: "99\x00"}, "DocumentNumber", ehr.CodeInvalid},
		{ehr.PatientQuery{IdentifierSystem: "Reservada Secreta"}, "IdentifierSystem", ehr.CodeInvalid},
		{ehr.PatientQuery{IDs: []string{"Reservada"}}, "IDs[0]", ehr.CodeInvalid},
		{ehr.PatientQuery{Sex: "Reservada"}, "Sex", ehr.CodeNotAllowed},
		{ehr.PatientQuery{Limit: -1}, "Limit", ehr.CodeOutOfRange},
		{ehr.PatientQuery{Cursor: "Reservada"}, "Cursor", ehr.CodeInvalid},
	} {
		_, err := s.h.Repo.SearchPatients(med, tc.q)
		wantField(t, err, tc.field, tc.code)
		for _, secret := range []string{"Reserv", "Secr", "999"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error carries the value: %v", tc.field, err)
			}
		}
	}
	// Several bad fields are reported together.
	_, err := s.h.Repo.SearchPatients(med, ehr.PatientQuery{Name: long, Sex: "x", Limit: -2, NameMatch: 5})
	for _, f := range []string{"Name", "Sex", "Limit", "NameMatch"} {
		var ve *ehr.ValidationError
		if !errors.As(err, &ve) || !ve.Has(f) {
			t.Errorf("combined: %s not reported: %v", f, err)
		}
	}
	if n := len(searches()); n != before {
		t.Errorf("refused searches wrote %d audit events", n-before)
	}

	// The longest exact full name and the longest name filters pass.
	s.expect("longest", ehr.PatientQuery{Name: strings.Repeat("a", 401), NameMatch: ehr.MatchExact, Family: strings.Repeat("b", 200), Given: strings.Repeat("c", 200)})

	before = len(searches())
	q := ehr.PatientQuery{Name: "secreta", Family: "Reservada", FamilyMatch: ehr.MatchExact, DocumentNumber: "SR000001",
		IdentifierSystem: "CC", Sex: ehr.SexUnknown, BirthFrom: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)}
	if page := must(s.h.Repo.SearchPatients(med, q)); len(page.Patients) != 1 {
		t.Fatalf("search found %d", len(page.Patients))
	}
	events := searches()
	if len(events) != before+1 {
		t.Fatalf("%d audit events for one search", len(events)-before)
	}
	e := events[0]
	if e.ChainID != laneOf(t, s.h.Medico) || e.UserID != s.h.Medico.Principal.UserID || e.Outcome != ehr.OutcomeAllowed {
		t.Errorf("audit event %+v", e)
	}
	if text := fmt.Sprintf("%+v", e); strings.Contains(strings.ToLower(text), "secreta") ||
		strings.Contains(strings.ToLower(text), "reservada") || strings.Contains(text, "SR000001") {
		t.Errorf("audit event carries search terms: %s", text)
	}
}

// TestSearchPatientRouting: a search by identifier value or by ids is not
// a fan-out (it names its patients, and routes), any other search is
// marked as the patient-search fan-out.
func TestSearchPatientRouting(t *testing.T) {
	pool, rec := ehrtest.NewRecordedDB(t)
	h := ehrtest.NewHospital(t, pool)
	p := h.NewPatient(t)
	med := h.As(h.Medico)
	for _, tc := range []struct {
		q      ehr.PatientQuery
		fanout bool
	}{
		{ehr.PatientQuery{Name: "jose"}, true},
		{ehr.PatientQuery{IdentifierSystem: "CC"}, true},
		{ehr.PatientQuery{Sex: ehr.SexMale, UpdatedFrom: p.UpdatedAt, BirthFrom: p.BirthDate, BirthNotFrom: p.BirthDate.AddDate(0, 0, 1)}, true},
		{ehr.PatientQuery{DocumentNumber: p.DocumentNumber, Name: "jose"}, false},
		{ehr.PatientQuery{DocumentNumber: p.DocumentNumber, IdentifierSystem: "CC", Family: "perez"}, false},
		{ehr.PatientQuery{IDs: []string{p.ID}, Given: "maria", GivenMatch: ehr.MatchContains}, false},
		{ehr.PatientQuery{IDs: []string{p.ID}, DocumentNumber: p.DocumentNumber}, false},
	} {
		rec.Reset()
		page := must(h.Repo.SearchPatients(med, tc.q))
		if len(page.Patients) != 1 {
			t.Errorf("%+v: %d patients", tc.q, len(page.Patients))
		}
		var search string
		for _, st := range rec.Statements() {
			if strings.Contains(st.SQL, "FROM patients") && strings.Contains(st.SQL, "sort_key") {
				search = st.SQL
			}
		}
		fanout, problems := ehrtest.Routing(search)
		switch {
		case tc.fanout && fanout != "patient search":
			t.Errorf("%+v: not marked as fan-out: %s", tc.q, search)
		case !tc.fanout && (fanout != "" || len(problems) > 0):
			t.Errorf("%+v: fan-out %q, problems %q: %s", tc.q, fanout, problems, search)
		}
	}
}
