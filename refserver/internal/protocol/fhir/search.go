package fhir

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
)

// The search interaction (GET [type], POST [type]/_search) answers a
// searchset Bundle. How each type is searched:
//
//   - Patient: ehr.Repository.SearchPatients, which matches, pages (keyset
//     on the name order) and audits in the database.
//   - Practitioner: the tenant's directory (ListPractitioners), matched
//     and paged here.
//   - The records of a patient: the patient's chart (ehr.Repository.Chart,
//     one audited read on the patient's chain), matched and paged here. A
//     search names the patient (patient, subject) or the records (_id,
//     found with Locate); a tenant-wide scan of clinical records is not
//     offered, except the two lists the desks use: an agenda
//     (Appointment with a date range, ListAppointments) and the open
//     admissions (Encounter?class=IMP&status=in-progress, ListAdmissions).
//
// Every parameter is parsed before ehr is asked anything: a malformed
// value is a 400 naming the parameter. Unknown parameters are ignored
// (and named in an OperationOutcome entry), unless the request prefers
// handling=strict; the self link lists the parameters applied.

// Search bounds.
const (
	// defaultCount and maxCount bound _count (a larger one is taken as
	// maxCount, and the self link says so).
	defaultCount = 20
	maxCount     = 200
	// maxRevincludeCount is the page size with _revinclude: each Patient
	// of the page costs a chart read.
	maxRevincludeCount = 50
	// maxSearchPatients is the most patients one search of records
	// reads (patient=a,b,...).
	maxSearchPatients = 20
	// maxLocateIDs is the most _id values a search of records without a
	// patient locates (each is a lookup on every shard).
	maxLocateIDs = 20
	// maxAgenda is the longest date range of a tenant-wide Appointment
	// search (ehr.ListAppointments's bound).
	maxAgenda = 62 * 24 * time.Hour
)

// Code systems of the statuses the token parameters compare.
const (
	systemObservationStatus = "http://hl7.org/fhir/observation-status"
	systemEncounterStatus   = "http://hl7.org/fhir/encounter-status"
	systemAppointmentStatus = "http://hl7.org/fhir/appointmentstatus"
	systemCareTeamStatus    = "http://hl7.org/fhir/care-team-status"
	systemMedicationStatus  = "http://hl7.org/fhir/CodeSystem/medicationrequest-status"
	systemDocumentStatus    = "http://hl7.org/fhir/document-reference-status"
	systemCompositionStatus = "http://hl7.org/fhir/composition-status"
	systemReactionSeverity  = "http://hl7.org/fhir/reaction-event-severity"
	systemGender            = "http://hl7.org/fhir/administrative-gender"
)

// search is GET [type] and POST [type]/_search: the parameters of the
// query string and of a form body, combined.
func (x *server) search(t *resourceType) handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		params, err := formOf(r) // the query string and a _search form body
		if err != nil {
			return err
		}
		q, err := parseSearch(t, params, preferStrict(r.Header))
		if err != nil {
			return err
		}
		b := newBundle("searchset")
		switch {
		case t.Name == "Patient":
			err = x.searchPatients(r, q, b)
		case t.Name == "Practitioner":
			err = x.searchPractitioners(r, q, b)
		default:
			err = x.searchRecords(r, q, b)
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, b)
		return nil
	}
}

// preferStrict reports whether the request prefers handling=strict
// (Prefer header, RFC 7240): unknown parameters are then refused.
func preferStrict(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
			if strings.EqualFold(strings.ReplaceAll(strings.TrimSpace(p), " ", ""), "handling=strict") {
				return true
			}
		}
	}
	return false
}

// ---- Parameters ----

// paramKind is the FHIR type of a search parameter.
type paramKind int

const (
	kindString paramKind = iota + 1
	kindToken
	kindDate
	kindReference
)

// paramSpec is a search parameter of a resource type, as the search
// parses and matches it (capability.go declares them to clients). The
// functions read the value a record has, for the parameters matched
// here; they are nil for the parameters ehr matches (Patient's).
type paramSpec struct {
	kind paramKind
	// targets are the resource types a reference parameter names.
	targets []string
	// patient marks the parameters that name the patient whose records
	// are searched (patient, subject).
	patient bool
	// enum, when set, are the only codes a token parameter takes (any
	// other is a 400).
	enum  []string
	codes func(v any) []coding
	date  func(v any) (time.Time, bool)
	refs  func(v any) []string // "Type/id"
	text  func(v any) string
}

// modifierOK reports whether mod (after the colon) is a modifier the
// parameter supports.
func (d *paramSpec) modifierOK(mod string) bool {
	switch d.kind {
	case kindString:
		return mod == "" || mod == "exact" || mod == "contains"
	case kindToken:
		return mod == "" || mod == "not" && d.codes != nil
	case kindReference:
		// A type modifier (subject:Patient): a type the parameter does
		// not name matches nothing.
		return mod == "" || isTypeName(mod)
	}
	return mod == ""
}

// isTypeName reports whether s looks like a resource type name.
func isTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func recordFn[T any, R any](f func(T) R) func(any) R { return func(v any) R { return f(v.(T)) } }

func tokenOf[T any](system string, f func(T) string) func(any) []coding {
	return func(v any) []coding {
		if s := f(v.(T)); s != "" {
			return []coding{{System: system, Code: s}}
		}
		return nil
	}
}

func dateOfRecord[T any](f func(T) time.Time) func(any) (time.Time, bool) {
	return func(v any) (time.Time, bool) {
		t := f(v.(T))
		return t, !t.IsZero()
	}
}

func refTo(typ string, id string) []string {
	if id == "" {
		return nil
	}
	return []string{typ + "/" + id}
}

// patientParam is patient (and subject): the record's patient.
var patientParam = &paramSpec{kind: kindReference, targets: []string{"Patient"}, patient: true,
	refs: func(v any) []string { return refTo("Patient", metaOf(v).PatientID) }}

func encounterParam[T any](f func(T) string) *paramSpec {
	return &paramSpec{kind: kindReference, targets: []string{"Encounter"},
		refs: recordFn(func(v T) []string { return refTo("Encounter", f(v)) })}
}

func practitionerParam[T any](f func(T) string) *paramSpec {
	return &paramSpec{kind: kindReference, targets: []string{"Practitioner"},
		refs: recordFn(func(v T) []string { return refTo("Practitioner", f(v)) })}
}

// encounterClassCodes are the v3-ActCode codes of ehr's encounter classes
// (as r4.EncodeEncounter writes them).
var encounterClassCodes = map[string]string{ehr.ClassAmbulatory: "AMB", ehr.ClassEmergency: "EMER", ehr.ClassInpatient: "IMP"}

// clinicalStatus is the clinical status of a condition or allergy (none
// when entered in error), as r4.EncodeCondition and r4.EncodeAllergy
// write it.
func clinicalStatus(status, system string) []coding {
	if status == "" || status == ehr.StatusEnteredInError {
		return nil
	}
	return []coding{{System: system, Code: status}}
}

// verificationStatus is the verification status of a condition or
// allergy: confirmed, or entered-in-error.
func verificationStatus(status, system string) []coding {
	if status == ehr.StatusEnteredInError {
		return []coding{{System: system, Code: ehr.StatusEnteredInError}}
	}
	return []coding{{System: system, Code: "confirmed"}}
}

// ownSearchParams are the parameters of each type beyond the common
// ones (_id, _lastUpdated; patient, subject and date for the records of a
// patient).
var ownSearchParams = map[string]map[string]*paramSpec{
	"Patient": {
		"name": {kind: kindString}, "family": {kind: kindString}, "given": {kind: kindString},
		"identifier": {kind: kindToken}, "birthdate": {kind: kindDate},
		"gender": {kind: kindToken, enum: []string{ehr.SexMale, ehr.SexFemale, ehr.SexOther, ehr.SexUnknown}},
		"_id":    {kind: kindToken}, "_lastUpdated": {kind: kindDate},
	},
	"Practitioner": {
		"name": {kind: kindString, text: recordFn(func(p ehr.Practitioner) string { return p.Name })},
		"identifier": {kind: kindToken, codes: recordFn(func(p ehr.Practitioner) []coding {
			var cs []coding
			if p.License != "" {
				cs = append(cs, coding{System: r4.SystemLicense, Code: p.License})
			}
			if p.UserID != "" {
				cs = append(cs, coding{System: r4.SystemUser, Code: p.UserID})
			}
			return cs
		})},
		"active": {kind: kindToken, enum: []string{"true", "false"}, codes: recordFn(func(p ehr.Practitioner) []coding {
			return []coding{{Code: strconv.FormatBool(p.Active)}}
		})},
	},
	"Observation": {
		"encounter": encounterParam(func(o ehr.Observation) string { return o.EncounterID }),
		"code": {kind: kindToken, codes: recordFn(func(o ehr.Observation) []coding {
			cs := []coding{{System: r4.SystemLOINC, Code: o.Code}}
			// As r4.EncodeObservation: pulse oximetry also carries 2708-6.
			if o.Category == ehr.CategoryVitalSigns && o.Code == ehr.CodeOxygenSat {
				cs = append(cs, coding{System: r4.SystemLOINC, Code: r4.CodeOxygenSatArterial})
			}
			return cs
		})},
		"category": {kind: kindToken, codes: tokenOf(r4.SystemObsCategory, func(o ehr.Observation) string { return o.Category })},
		"status": {kind: kindToken, codes: tokenOf(systemObservationStatus, func(o ehr.Observation) string {
			if o.Status == "" {
				return "final"
			}
			return o.Status
		})},
	},
	"Condition": {
		"encounter": encounterParam(func(c ehr.Condition) string { return c.EncounterID }),
		"code":      {kind: kindToken, codes: tokenOf(r4.SystemICD10, func(c ehr.Condition) string { return c.Code })},
		"clinical-status": {kind: kindToken, codes: recordFn(func(c ehr.Condition) []coding {
			return clinicalStatus(c.Status, r4.SystemConditionClinical)
		})},
		"verification-status": {kind: kindToken, codes: recordFn(func(c ehr.Condition) []coding {
			return verificationStatus(c.Status, r4.SystemConditionVerification)
		})},
		"onset-date": {kind: kindDate, date: func(v any) (time.Time, bool) {
			if c := v.(ehr.Condition); c.OnsetDate != nil {
				return *c.OnsetDate, true
			}
			return time.Time{}, false
		}},
		"recorded-date": {kind: kindDate, date: dateOfRecord(func(c ehr.Condition) time.Time { return c.CreatedAt })},
	},
	"AllergyIntolerance": {
		"clinical-status": {kind: kindToken, codes: recordFn(func(a ehr.Allergy) []coding {
			return clinicalStatus(a.Status, r4.SystemAllergyClinical)
		})},
		"verification-status": {kind: kindToken, codes: recordFn(func(a ehr.Allergy) []coding {
			return verificationStatus(a.Status, r4.SystemAllergyVerification)
		})},
		"severity": {kind: kindToken, codes: tokenOf(systemReactionSeverity, func(a ehr.Allergy) string { return a.Severity })},
	},
	"MedicationRequest": {
		"encounter":  encounterParam(func(m ehr.MedicationRequest) string { return m.EncounterID }),
		"status":     {kind: kindToken, codes: tokenOf(systemMedicationStatus, func(m ehr.MedicationRequest) string { return m.Status })},
		"authoredon": {kind: kindDate, date: dateOfRecord(func(m ehr.MedicationRequest) time.Time { return m.CreatedAt })},
	},
	"DocumentReference": {
		"encounter": encounterParam(func(n ehr.Note) string { return n.EncounterID }),
		// status is the FHIR status: current (draft, signed or amended)
		// or entered-in-error; doc-status (not an R4 parameter; R5's and
		// Da Vinci's name) is docStatus: preliminary (draft), final
		// (signed), amended.
		"status": {kind: kindToken, codes: tokenOf(systemDocumentStatus, func(n ehr.Note) string {
			if n.Status == ehr.StatusEnteredInError {
				return ehr.StatusEnteredInError
			}
			return "current"
		})},
		"doc-status": {kind: kindToken, codes: tokenOf(systemCompositionStatus, func(n ehr.Note) string {
			return map[string]string{ehr.NoteDraft: "preliminary", ehr.NoteSigned: "final", ehr.NoteAmended: "amended"}[n.Status]
		})},
	},
	"Encounter": {
		"status":       {kind: kindToken, codes: tokenOf(systemEncounterStatus, func(e ehr.Encounter) string { return e.Status })},
		"class":        {kind: kindToken, codes: tokenOf(r4.SystemActCode, func(e ehr.Encounter) string { return encounterClassCodes[e.Class] })},
		"participant":  practitionerParam(func(e ehr.Encounter) string { return e.PractitionerID }),
		"practitioner": practitionerParam(func(e ehr.Encounter) string { return e.PractitionerID }),
	},
	"Appointment": {
		"actor": {kind: kindReference, targets: []string{"Patient", "Practitioner"}, refs: recordFn(func(a ehr.Appointment) []string {
			return append(refTo("Patient", a.PatientID), refTo("Practitioner", a.PractitionerID)...)
		})},
		"practitioner": practitionerParam(func(a ehr.Appointment) string { return a.PractitionerID }),
		"status": {kind: kindToken, codes: tokenOf(systemAppointmentStatus, func(a ehr.Appointment) string {
			if a.Status == ehr.AppointmentNoShow {
				return "noshow"
			}
			return a.Status
		})},
	},
	"CareTeam": {
		"participant": practitionerParam(func(m ehr.CareTeamMember) string { return m.PractitionerID }),
		"status": {kind: kindToken, codes: tokenOf(systemCareTeamStatus, func(m ehr.CareTeamMember) string {
			if m.Status == ehr.CareTeamEnded {
				return "inactive"
			}
			return m.Status
		})},
	},
}

// searchParamsByType are the search parameters of each served type.
var searchParamsByType = func() map[string]map[string]*paramSpec {
	m := map[string]map[string]*paramSpec{}
	for _, t := range types {
		ps := map[string]*paramSpec{}
		if t.Name != "Patient" {
			ps["_id"] = &paramSpec{kind: kindToken, codes: func(v any) []coding { return []coding{{Code: metaOf(v).ID}} }}
			ps["_lastUpdated"] = &paramSpec{kind: kindDate, date: func(v any) (time.Time, bool) { return metaOf(v).Updated, true }}
		}
		if t.PerPatient {
			// subject too where R4 has none (AllergyIntolerance,
			// Appointment), as the CapabilityStatement declares.
			ps["patient"], ps["subject"] = patientParam, patientParam
			if date := t.date; date != nil {
				ps["date"] = &paramSpec{kind: kindDate, date: func(v any) (time.Time, bool) { return date(v), true }}
			}
		}
		for n, d := range ownSearchParams[t.Name] {
			ps[n] = d
		}
		m[t.Name] = ps
	}
	return m
}()

// ---- Values ----

// cutEscaped cuts s at the first sep not escaped by a backslash.
func cutEscaped(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// splitValues splits a parameter value into its alternatives (a,b: a or
// b); "\," is a comma inside a value. The parts keep their escapes.
func splitValues(s string) []string {
	var out []string
	for {
		before, after, found := cutEscaped(s, ',')
		out = append(out, before)
		if !found {
			return out
		}
		s = after
	}
}

// unescape removes the backslash of \, \| \$ and \\.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`,|$\`, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// tokenValue is a token search value: code, system|code, system| or
// |code.
type tokenValue struct {
	system    string
	code      string
	hasSystem bool // a | was given: system must equal (even empty)
}

// parseToken parses a token value.
func parseToken(s string) tokenValue {
	sys, code, found := cutEscaped(s, '|')
	if !found {
		return tokenValue{code: unescape(s)}
	}
	return tokenValue{system: unescape(sys), code: unescape(code), hasSystem: true}
}

// match reports whether one of cs matches v: the system (when given)
// exactly, the code ignoring case (a system| value matches any code of
// the system).
func (v tokenValue) match(cs []coding) bool {
	for _, c := range cs {
		if v.hasSystem && v.system != c.System {
			continue
		}
		if v.code == "" && v.hasSystem || strings.EqualFold(v.code, c.Code) {
			return true
		}
	}
	return false
}

// dateValue is a date search value: a prefix and the instants [lo, hi)
// its precision stands for (2024 is the year 2024).
type dateValue struct {
	prefix   string
	lo, hi   time.Time
	dateOnly bool // no time of day: YYYY, YYYY-MM or YYYY-MM-DD
}

var dateRE = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// errDateFormat is the diagnostics of a malformed date value.
const errDateFormat = "must be a date (YYYY, YYYY-MM, YYYY-MM-DD) or a time (YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]), after an optional prefix eq, ne, lt, le, gt, ge, sa or eb"

// parseDateValue parses a date search value. A time without a zone is
// taken as UTC, and so are the days of a date.
func parseDateValue(s string) (dateValue, error) {
	d := dateValue{prefix: "eq"}
	if len(s) >= 2 && s[0] >= 'a' && s[0] <= 'z' {
		switch p := s[:2]; p {
		case "eq", "ne", "lt", "le", "gt", "ge", "sa", "eb":
			d.prefix, s = p, s[2:]
		case "ap":
			return d, errors.New("the prefix ap is not supported")
		default:
			return d, errors.New(errDateFormat)
		}
	}
	// A query string decodes the + of an offset as a space.
	s = strings.Replace(s, " ", "+", 1)
	m := dateRE.FindStringSubmatch(s)
	if m == nil {
		return d, errors.New(errDateFormat)
	}
	num := func(s string, def int) int {
		if s == "" {
			return def
		}
		n, _ := strconv.Atoi(s)
		return n
	}
	year, month, day := num(m[1], 0), num(m[2], 1), num(m[3], 1)
	hour, minute, sec := num(m[4], 0), num(m[5], 0), num(m[6], 0)
	if year < 1 || month > 12 || month < 1 || hour > 23 || minute > 59 || sec > 59 {
		return d, errors.New(errDateFormat)
	}
	loc := time.UTC
	if z := m[8]; z != "" && z != "Z" {
		h, mm := num(z[1:3], 0), num(z[4:6], 0)
		if h > 14 || mm > 59 {
			return d, errors.New(errDateFormat)
		}
		off := h*3600 + mm*60
		if z[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	var nsec, frac int
	if f := m[7]; f != "" {
		frac = len(f) - 1
		nsec = num(f[1:], 0)
		for range 9 - frac {
			nsec *= 10
		}
	}
	lo := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if lo.Day() != day {
		return d, errors.New(errDateFormat) // 2023-02-30
	}
	var hi time.Time
	switch {
	case m[7] != "":
		step := time.Duration(1)
		for range 9 - frac {
			step *= 10
		}
		hi = lo.Add(step)
	case m[6] != "":
		hi = lo.Add(time.Second)
	case m[4] != "":
		hi = lo.Add(time.Minute)
	case m[3] != "":
		hi = lo.AddDate(0, 0, 1)
	case m[2] != "":
		hi = lo.AddDate(0, 1, 0)
	default:
		hi = lo.AddDate(1, 0, 0)
	}
	d.lo, d.hi, d.dateOnly = lo.UTC(), hi.UTC(), m[4] == ""
	return d, nil
}

// match reports whether the instant t meets d: eq t in [lo, hi), ne not,
// lt and eb t before lo, le t before hi, gt and sa t at or after hi, ge
// t at or after lo.
func (d dateValue) match(t time.Time) bool {
	switch d.prefix {
	case "ne":
		return t.Before(d.lo) || !t.Before(d.hi)
	case "lt", "eb":
		return t.Before(d.lo)
	case "le":
		return t.Before(d.hi)
	case "gt", "sa":
		return !t.Before(d.hi)
	case "ge":
		return !t.Before(d.lo)
	}
	return !t.Before(d.lo) && t.Before(d.hi)
}

// bounds returns the half-open range [from, to) of instants d can match;
// a zero bound is open.
func (d dateValue) bounds() (from, to time.Time) {
	switch d.prefix {
	case "eq":
		return d.lo, d.hi
	case "ge":
		return d.lo, time.Time{}
	case "gt", "sa":
		return d.hi, time.Time{}
	case "le":
		return time.Time{}, d.hi
	case "lt", "eb":
		return time.Time{}, d.lo
	}
	return time.Time{}, time.Time{}
}

// refValue is a reference search value: id, Type/id or a URL ending in
// Type/id (its base is not checked); a version (/_history/n) is ignored.
type refValue struct {
	typ string // "" when not given
	id  string
}

// parseReference parses a reference value; typeModifier is the modifier
// of subject:Patient.
func parseReference(s, typeModifier string) refValue {
	s = unescape(s)
	if i := strings.Index(s, "/_history/"); i >= 0 {
		s = s[:i]
	}
	var v refValue
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		rest := s[:i]
		v.typ, v.id = rest[strings.LastIndexByte(rest, '/')+1:], s[i+1:]
	} else {
		v.id = s
	}
	if typeModifier != "" {
		if v.typ == "" {
			v.typ = typeModifier
		} else if v.typ != typeModifier {
			v.typ = "\x00" // names no resource
		}
	}
	return v
}

// match reports whether one of refs ("Type/id") is v.
func (v refValue) match(refs []string) bool {
	for _, r := range refs {
		typ, id, _ := strings.Cut(r, "/")
		if id == v.id && (v.typ == "" || v.typ == typ) {
			return true
		}
	}
	return false
}

// foldText is text as the name parameters compare it: lower case,
// without diacritics, punctuation turned into spaces, words separated by
// one space (as ehr folds names).
func foldText(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	out = strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return ' '
	}, out)
	return strings.Join(strings.Fields(out), " ")
}

// matchText reports whether text meets the string search value v: by
// default every word of v, folded, starts a word of text, folded
// ("gonzalez" finds "González"); :exact the trimmed value equals text;
// :contains v, folded, occurs in text, folded.
func matchText(text, v, modifier string) bool {
	switch modifier {
	case "exact":
		return norm.NFC.String(strings.TrimSpace(v)) == norm.NFC.String(text)
	case "contains":
		return strings.Contains(foldText(text), foldText(v))
	}
	words := strings.Fields(foldText(text))
	for _, w := range strings.Fields(foldText(v)) {
		if !slices.ContainsFunc(words, func(x string) bool { return strings.HasPrefix(x, w) }) {
			return false
		}
	}
	return true
}

// ---- The query ----

// criterion is one occurrence of a parameter (criteria are ANDed), with
// its alternatives (ORed).
type criterion struct {
	name     string // the parameter, without modifier
	modifier string
	def      *paramSpec
	strs     []string
	tokens   []tokenValue
	dates    []dateValue
	refs     []refValue
}

// match reports whether record v meets c (parameters matched in Go).
func (c *criterion) match(v any) bool {
	found := false
	switch c.def.kind {
	case kindToken:
		cs := c.def.codes(v)
		found = slices.ContainsFunc(c.tokens, func(t tokenValue) bool { return t.match(cs) })
		if c.modifier == "not" {
			return !found
		}
	case kindDate:
		t, ok := c.def.date(v)
		found = ok && slices.ContainsFunc(c.dates, func(d dateValue) bool { return d.match(t) })
	case kindReference:
		refs := c.def.refs(v)
		found = slices.ContainsFunc(c.refs, func(r refValue) bool { return r.match(refs) })
	case kindString:
		s := c.def.text(v)
		found = slices.ContainsFunc(c.strs, func(q string) bool { return matchText(s, q, c.modifier) })
	}
	return found
}

// sortSpec is the order of a search: key "date", "_lastUpdated", "name"
// (Practitioner), or "" (Patient: ehr's name order); then the id, in the
// same direction.
type sortSpec struct {
	key  string
	desc bool
}

// defaultSort is the order of a search without _sort: Patients by name
// (ehr's order), Practitioners by name, records newest first.
func defaultSort(t *resourceType) sortSpec {
	switch {
	case t.Name == "Patient":
		return sortSpec{}
	case t.Name == "Practitioner":
		return sortSpec{key: "name"}
	}
	return sortSpec{key: "date", desc: true}
}

// parseSort parses a _sort value: one key, "-" for descending. ok is
// false for an order the server does not offer.
func parseSort(t *resourceType, s string) (sortSpec, bool) {
	desc := strings.HasPrefix(s, "-")
	key := strings.TrimPrefix(s, "-")
	switch {
	case t.Name == "Patient":
		// ehr's order only: family names, given names, id.
		return sortSpec{}, key == "family" && !desc
	case t.Name == "Practitioner":
		return sortSpec{key: key, desc: desc}, key == "name" || key == "_lastUpdated"
	case key == "date" && t.date != nil, key == "_lastUpdated":
		return sortSpec{key: key, desc: desc}, true
	}
	return sortSpec{}, false
}

// includeSpec is an _include: the reference parameter of the searched
// type whose Patient or Practitioner resources are included, of target
// type only when set.
type includeSpec struct {
	param  string
	target string
}

// includable are the types an _include brings.
var includable = []string{"Patient", "Practitioner"}

// parseInclude parses an _include value (Type:param[:Target]); ok is
// false for one the server does not offer.
func parseInclude(t *resourceType, s string) (spec includeSpec, ok bool, err error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return spec, false, errors.New("must be Type:parameter or Type:parameter:TargetType")
	}
	if parts[0] != t.Name {
		return spec, false, nil
	}
	d := searchParamsByType[t.Name][parts[1]]
	if d == nil || d.kind != kindReference || d.refs == nil {
		return spec, false, nil
	}
	spec.param = parts[1]
	if len(parts) == 3 {
		spec.target = parts[2]
		return spec, slices.Contains(d.targets, spec.target) && slices.Contains(includable, spec.target), nil
	}
	return spec, slices.ContainsFunc(d.targets, func(s string) bool { return slices.Contains(includable, s) }), nil
}

// revincludeSpec is a _revinclude of a Patient search: the records of
// source that name the patient through param.
type revincludeSpec struct {
	source *resourceType
	param  string
}

// parseRevinclude parses a _revinclude value (Type:param[:Patient]); ok
// is false for one the server does not offer (only on Patient searches,
// of the records that name the patient).
func parseRevinclude(t *resourceType, s string) (spec revincludeSpec, ok bool, err error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return spec, false, errors.New("must be Type:parameter or Type:parameter:TargetType")
	}
	if t.Name != "Patient" {
		return spec, false, nil
	}
	src, found := typeNamed(parts[0])
	if !found || !src.PerPatient {
		return spec, false, nil
	}
	d := searchParamsByType[src.Name][parts[1]]
	if d == nil || d.kind != kindReference || d.refs == nil || !slices.Contains(d.targets, "Patient") {
		return spec, false, nil
	}
	if len(parts) == 3 && parts[2] != "Patient" {
		return spec, false, nil
	}
	return revincludeSpec{source: src, param: parts[1]}, true, nil
}

// searchCursor is the opaque _cursor of a next link: the type and the
// fingerprint of the search it belongs to, and the keyset position after
// the last entry of the previous page: its sort value (times only: a
// name is recomputed from the id, so no name travels in a URL) and id,
// or ehr's cursor (Patient).
type searchCursor struct {
	T string `json:"t"`
	Q string `json:"q"`
	V string `json:"v,omitempty"`
	I string `json:"i,omitempty"`
	E string `json:"e,omitempty"`
}

func (c searchCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeSearchCursor(s string) (searchCursor, error) {
	var c searchCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	return c, err
}

// errCursor is the answer to a _cursor that is not one of the search.
func errCursor() error {
	return badParam("_cursor", "is not a cursor of this search: follow the next link of the previous page")
}

// searchQuery is a parsed search.
type searchQuery struct {
	t        *resourceType
	criteria []criterion
	sort     sortSpec
	count    int
	cursor   *searchCursor
	includes []includeSpec
	revs     []revincludeSpec
	// ignored are the parameters not applied (unknown, unsupported,
	// empty), named in an OperationOutcome entry.
	ignored []string
	// applied are the parameters applied, for the self and next links.
	applied url.Values
	// fp is the fingerprint of the filters and the order, bound into
	// the cursors.
	fp string
}

// parseSearch parses the parameters of a search of type t. A malformed
// value, or an unsupported modifier of a known parameter, is a 400
// naming the parameter; an unknown parameter, or an _include, _sort or
// _revinclude the server does not offer, is ignored, or refused with 400
// when strict (Prefer: handling=strict).
func parseSearch(t *resourceType, params url.Values, strict bool) (*searchQuery, error) {
	q := &searchQuery{t: t, sort: defaultSort(t), count: defaultCount, applied: url.Values{}}
	defs := searchParamsByType[t.Name]
	ignore := func(key, why string) error {
		if strict {
			return badParam(clip(key), "%s", why)
		}
		q.ignored = appendNew(q.ignored, clip(key))
		return nil
	}
	one := func(key string, vs []string) (string, error) {
		if len(vs) > 1 {
			return "", badParam(key, "is given more than once")
		}
		return vs[0], nil
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var cursor string
	for _, key := range keys {
		vs := params[key]
		name, mod, _ := strings.Cut(key, ":")
		switch name {
		case "_format", "_pretty":
			continue // content negotiation; answers are not indented
		case "_count":
			v, err := one(key, vs)
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || mod != "" {
				return nil, badParam("_count", "must be a number from 0 to %d", maxCount)
			}
			q.count = min(n, maxCount)
			continue
		case "_cursor":
			v, err := one(key, vs)
			if err != nil {
				return nil, err
			}
			cursor = v
			continue
		case "_sort":
			v, err := one(key, vs)
			if err != nil {
				return nil, err
			}
			s, ok := parseSort(t, v)
			if !ok || mod != "" {
				if err := ignore(key, "this order is not offered for "+t.Name+": see the CapabilityStatement"); err != nil {
					return nil, err
				}
				continue
			}
			q.sort = s
			q.applied.Set("_sort", v)
			continue
		case "_include", "_revinclude":
			for _, v := range vs {
				var ok bool
				var err error
				if name == "_include" {
					var spec includeSpec
					if spec, ok, err = parseInclude(t, v); ok && mod == "" {
						q.includes = append(q.includes, spec)
					}
				} else {
					var spec revincludeSpec
					if spec, ok, err = parseRevinclude(t, v); ok && mod == "" {
						q.revs = append(q.revs, spec)
					}
				}
				switch {
				case err != nil:
					return nil, badParam(name, "%s", err.Error())
				case !ok || mod != "":
					if err := ignore(key, "this "+name+" is not offered for "+t.Name+": see the CapabilityStatement"); err != nil {
						return nil, err
					}
				default:
					q.applied.Add(name, v)
				}
			}
			continue
		}
		d := defs[name]
		if d == nil {
			if err := ignore(key, "is not a search parameter of "+t.Name+" on this server"); err != nil {
				return nil, err
			}
			continue
		}
		if !d.modifierOK(mod) {
			return nil, badParam(clip(key), "the modifier is not supported")
		}
		refMod := mod
		if d.kind == kindReference && mod != "" && !slices.Contains(d.targets, mod) {
			refMod = "\x00" // a type the parameter does not name: matches nothing
		}
		for _, v := range vs {
			if v == "" {
				if err := ignore(key, "has no value"); err != nil {
					return nil, err
				}
				continue
			}
			c := criterion{name: name, modifier: mod, def: d}
			for _, alt := range splitValues(v) {
				switch d.kind {
				case kindString:
					c.strs = append(c.strs, unescape(alt))
				case kindToken:
					tv := parseToken(alt)
					if d.enum != nil && !slices.ContainsFunc(d.enum, func(e string) bool { return strings.EqualFold(e, tv.code) }) {
						return nil, badParam(key, "must be %s", strings.Join(d.enum, ", "))
					}
					c.tokens = append(c.tokens, tv)
				case kindDate:
					dv, err := parseDateValue(alt)
					if err != nil {
						return nil, badParam(key, "%s", err.Error())
					}
					c.dates = append(c.dates, dv)
				case kindReference:
					c.refs = append(c.refs, parseReference(alt, refMod))
				}
			}
			q.criteria = append(q.criteria, c)
			q.applied.Add(key, v)
		}
	}
	switch {
	case t.Name == "Patient" && q.count == 0:
		return nil, badParam("_count", "_count=0 (the total alone) is not offered for Patient: the total of a patient search is not counted")
	case len(q.revs) > 0 && q.count > maxRevincludeCount:
		// Each Patient of the page costs a chart read.
		q.count = maxRevincludeCount
	}
	if _, given := params["_count"]; given || q.count != defaultCount {
		q.applied.Set("_count", strconv.Itoa(q.count))
	}
	q.fp = searchFingerprint(t.Name, q.applied)
	if cursor != "" {
		c, err := decodeSearchCursor(cursor)
		if err != nil || c.T != t.Name || c.Q != q.fp {
			return nil, errCursor()
		}
		q.cursor = &c
		q.applied.Set("_cursor", cursor)
	}
	return q, nil
}

// searchFingerprint identifies a search by its type, filters and order
// (not its page size, cursor or includes), for its cursors.
func searchFingerprint(typ string, applied url.Values) string {
	f := url.Values{}
	for k, vs := range applied {
		switch k {
		case "_count", "_cursor", "_include", "_revinclude":
		default:
			f[k] = vs
		}
	}
	sum := sha256.Sum256([]byte(typ + "?" + f.Encode()))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// named returns the criteria of parameter name.
func (q *searchQuery) named(name string) []*criterion {
	var out []*criterion
	for i := range q.criteria {
		if q.criteria[i].name == name {
			out = append(out, &q.criteria[i])
		}
	}
	return out
}

// intersectIDs returns the values both in a and b (a nil a is "no set yet").
func intersectIDs(a []string, b []string, first bool) []string {
	if first {
		return b
	}
	return slices.DeleteFunc(a, func(s string) bool { return !slices.Contains(b, s) })
}

// patientIDs returns the patients the criteria name (patient, subject,
// actor=Patient/...), sorted: named is false when no criterion names
// them. An empty ids with named true matches nothing (patient=Group/x,
// or patient=a&patient=b).
func (q *searchQuery) patientIDs() (ids []string, named bool) {
	for _, c := range q.criteria {
		if c.def.kind != kindReference || !slices.Contains(c.def.targets, "Patient") {
			continue
		}
		var set []string
		all := true
		for _, r := range c.refs {
			switch {
			case r.typ == "Patient" || r.typ == "" && c.def.patient:
				if !slices.Contains(set, r.id) {
					set = append(set, r.id)
				}
			case !c.def.patient:
				all = false // actor=Practitioner/x, or a bare actor
			}
		}
		if c.def.patient || all {
			ids, named = intersectIDs(ids, set, !named), true
		}
	}
	sort.Strings(ids)
	return ids, named
}

// practitionerID returns the one practitioner the criteria name, if they
// name exactly one (an agenda's practitioner), else "".
func (q *searchQuery) practitionerID() string {
	var ids []string
	named := false
	for _, c := range q.criteria {
		if c.def.kind != kindReference || !slices.Contains(c.def.targets, "Practitioner") {
			continue
		}
		var set []string
		all := true
		for _, r := range c.refs {
			if r.typ == "Practitioner" || r.typ == "" && len(c.def.targets) == 1 {
				set = append(set, r.id)
			} else {
				all = false
			}
		}
		if all {
			ids, named = intersectIDs(ids, set, !named), true
		}
	}
	if len(ids) == 1 {
		return ids[0]
	}
	return ""
}

// ids returns the _id values (each _id criterion ANDed, its values ORed),
// and whether _id was given.
func (q *searchQuery) ids() (ids []string, given bool) {
	for _, c := range q.named("_id") {
		var set []string
		for _, t := range c.tokens {
			if !t.hasSystem && !slices.Contains(set, t.code) {
				set = append(set, t.code)
			}
		}
		ids, given = intersectIDs(ids, set, !given), true
	}
	return ids, given
}

// dateBounds returns the range [from, to) of instants the criteria of
// parameter name can match (zero: open).
func (q *searchQuery) dateBounds(name string) (from, to time.Time) {
	for _, c := range q.named(name) {
		var cf, ct time.Time
		openFrom, openTo := false, false
		for _, d := range c.dates {
			lo, hi := d.bounds()
			if lo.IsZero() {
				openFrom = true
			} else if cf.IsZero() || lo.Before(cf) {
				cf = lo
			}
			if hi.IsZero() {
				openTo = true
			} else if hi.After(ct) {
				ct = hi
			}
		}
		if !openFrom && (from.IsZero() || cf.After(from)) {
			from = cf
		}
		if !openTo && (to.IsZero() || ct.Before(to)) {
			to = ct
		}
	}
	return from, to
}

// admissions reports whether the query asks for the open admissions:
// Encounter with class IMP and status in-progress.
func (q *searchQuery) admissions() bool {
	only := func(name, system, code string) bool {
		cs := q.named(name)
		for _, c := range cs {
			if c.modifier != "" || slices.ContainsFunc(c.tokens, func(t tokenValue) bool {
				return !strings.EqualFold(t.code, code) || t.hasSystem && t.system != system
			}) {
				continue
			}
			return true
		}
		return false
	}
	return q.t.Name == "Encounter" && only("class", r4.SystemActCode, "IMP") && only("status", systemEncounterStatus, ehr.EncounterInProgress)
}

// matches reports whether record v meets every criterion.
func (q *searchQuery) matches(v any) bool {
	for i := range q.criteria {
		if !q.criteria[i].match(v) {
			return false
		}
	}
	return true
}

// sortValue is v's value for the order key, as a string that sorts like
// it.
func (q *searchQuery) sortValue(v any) string {
	switch q.sort.key {
	case "date":
		return timeKey(q.t.date(v))
	case "_lastUpdated":
		return timeKey(metaOf(v).Updated)
	case "name":
		if p, ok := v.(ehr.Practitioner); ok {
			return foldText(p.Name) + "\x00" + p.Name
		}
	}
	return ""
}

func timeKey(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// sortedRecord is a record with its sort value and id.
type sortedRecord struct {
	v       any
	key, id string
}

// pageOf sorts matches and returns the page after the cursor, and the
// cursor of the next page ("" on the last). pool is every record read,
// matched or not (where the id of a name-ordered cursor is looked up).
func (q *searchQuery) pageOf(matches, pool []any) ([]any, string, error) {
	ks := make([]sortedRecord, len(matches))
	for i, v := range matches {
		ks[i] = sortedRecord{v, q.sortValue(v), metaOf(v).ID}
	}
	less := func(a, b sortedRecord) int {
		c := strings.Compare(a.key, b.key)
		if c == 0 {
			c = strings.Compare(a.id, b.id)
		}
		if q.sort.desc {
			c = -c
		}
		return c
	}
	slices.SortFunc(ks, less)
	start := 0
	if c := q.cursor; c != nil {
		at := sortedRecord{key: c.V, id: c.I}
		if q.sort.key == "name" {
			i := slices.IndexFunc(pool, func(v any) bool { return metaOf(v).ID == c.I })
			if i < 0 {
				return nil, "", errCursor()
			}
			at.key = q.sortValue(pool[i])
		}
		start, _ = slices.BinarySearchFunc(ks, at, less)
		if start < len(ks) && ks[start].id == at.id && ks[start].key == at.key {
			start++
		}
	}
	end := min(start+q.count, len(ks))
	page := make([]any, 0, end-start)
	for _, k := range ks[start:end] {
		page = append(page, k.v)
	}
	next := ""
	if end < len(ks) && end > start {
		last := ks[end-1]
		c := searchCursor{T: q.t.Name, Q: q.fp, I: last.id}
		if q.sort.key != "name" {
			c.V = last.key
		}
		next = c.encode()
	}
	return page, next, nil
}

// ---- Patient ----

// patientParamOf names the parameter of an ehr.PatientQuery field, for
// ehr's validation errors.
func patientParamOf(field string) string {
	switch {
	case field == "Name", field == "Family", field == "Given":
		return strings.ToLower(field)
	case field == "DocumentNumber", field == "IdentifierSystem":
		return "identifier"
	case strings.HasPrefix(field, "IDs"):
		return "_id"
	case strings.HasPrefix(field, "Birth"):
		return "birthdate"
	case field == "Sex":
		return "gender"
	case strings.HasPrefix(field, "Updated"):
		return "_lastUpdated"
	case field == "Cursor":
		return "_cursor"
	case field == "Limit":
		return "_count"
	}
	return field
}

var systemNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,19}$`)

// patientQuery maps a Patient search to ehr's PatientQuery (without the
// page size and cursor). none is true when no patient can match (an
// identifier system this server does not issue, _id values that are not
// ids, two different genders).
func patientQuery(q *searchQuery) (pq ehr.PatientQuery, none bool, err error) {
	day := func(t time.Time) time.Time { return t.AddDate(0, 0, -1) }
	later := func(a, b time.Time) time.Time {
		if a.IsZero() || b.After(a) {
			return b
		}
		return a
	}
	earlier := func(a, b time.Time) time.Time {
		if a.IsZero() || b.Before(a) {
			return b
		}
		return a
	}
	single := func(c *criterion, n int) error {
		if n > 1 {
			return badParam(c.name, "takes one value here: alternatives (a,b) are not offered for Patient")
		}
		return nil
	}
	texts := map[string]*struct {
		s    *string
		mode *ehr.TextMatch
		set  bool
	}{
		"name":   {s: &pq.Name, mode: &pq.NameMatch},
		"family": {s: &pq.Family, mode: &pq.FamilyMatch},
		"given":  {s: &pq.Given, mode: &pq.GivenMatch},
	}
	var ids []string
	idsGiven, identifierSet, genderSet := false, false, false
	for i := range q.criteria {
		c := &q.criteria[i]
		switch c.name {
		case "name", "family", "given":
			if err := single(c, len(c.strs)); err != nil {
				return pq, false, err
			}
			f := texts[c.name]
			mode := map[string]ehr.TextMatch{"": ehr.MatchPrefix, "exact": ehr.MatchExact, "contains": ehr.MatchContains}[c.modifier]
			switch {
			case !f.set:
				*f.s, *f.mode, f.set = c.strs[0], mode, true
			case mode == ehr.MatchPrefix && *f.mode == ehr.MatchPrefix:
				// name=a&name=b: every word of both starts a word.
				*f.s += " " + c.strs[0]
			default:
				return pq, false, badParam(c.name, "is given more than once: only the starts-with search (no modifier) may repeat")
			}
		case "identifier":
			if err := single(c, len(c.tokens)); err != nil {
				return pq, false, err
			}
			if identifierSet {
				return pq, false, badParam("identifier", "is given more than once: one identifier is searched")
			}
			identifierSet = true
			t := c.tokens[0]
			pq.DocumentNumber = t.code
			if t.hasSystem {
				var name string
				switch {
				case strings.HasPrefix(t.system, r4.SystemDocumentPrefix):
					name = strings.TrimPrefix(t.system, r4.SystemDocumentPrefix)
				case strings.HasPrefix(t.system, r4.SystemIdentifierPrefix):
					name = strings.TrimPrefix(t.system, r4.SystemIdentifierPrefix)
				}
				if !systemNameRE.MatchString(name) {
					return pq, true, nil // a system this server does not issue
				}
				pq.IdentifierSystem = name
			}
		case "birthdate":
			if err := single(c, len(c.dates)); err != nil {
				return pq, false, err
			}
			d := c.dates[0]
			if !d.dateOnly {
				return pq, false, badParam("birthdate", "must be a date (YYYY, YYYY-MM or YYYY-MM-DD) after an optional prefix")
			}
			lo, hi := d.lo, day(d.hi) // the days [lo, hi]
			switch d.prefix {
			case "eq":
				pq.BirthFrom, pq.BirthTo = later(pq.BirthFrom, lo), earlier(pq.BirthTo, hi)
			case "ge":
				pq.BirthFrom = later(pq.BirthFrom, lo)
			case "gt", "sa":
				pq.BirthFrom = later(pq.BirthFrom, d.hi)
			case "le":
				pq.BirthTo = earlier(pq.BirthTo, hi)
			case "lt", "eb":
				pq.BirthTo = earlier(pq.BirthTo, day(lo))
			case "ne":
				if !pq.BirthNotFrom.IsZero() {
					return pq, false, badParam("birthdate", "the prefix ne may be given once")
				}
				pq.BirthNotFrom, pq.BirthNotTo = lo, hi
			}
		case "gender":
			if err := single(c, len(c.tokens)); err != nil {
				return pq, false, err
			}
			t := c.tokens[0]
			g := strings.ToLower(t.code)
			switch g {
			case ehr.SexFemale, ehr.SexMale, ehr.SexOther, ehr.SexUnknown:
			default:
				return pq, false, badParam("gender", "must be male, female, other or unknown")
			}
			if t.hasSystem && t.system != systemGender || genderSet && pq.Sex != g {
				return pq, true, nil
			}
			pq.Sex, genderSet = g, true
		case "_id":
			var set []string
			for _, t := range c.tokens {
				if u, err := uuid.Parse(t.code); err == nil && !t.hasSystem && u.String() == strings.ToLower(t.code) {
					set = append(set, u.String())
				}
			}
			ids, idsGiven = intersectIDs(ids, set, !idsGiven), true
		case "_lastUpdated":
			if err := single(c, len(c.dates)); err != nil {
				return pq, false, err
			}
			d := c.dates[0]
			switch d.prefix {
			case "eq":
				pq.UpdatedFrom, pq.UpdatedTo = later(pq.UpdatedFrom, d.lo), earlier(pq.UpdatedTo, d.hi)
			case "ge":
				pq.UpdatedFrom = later(pq.UpdatedFrom, d.lo)
			case "gt", "sa":
				pq.UpdatedFrom = later(pq.UpdatedFrom, d.hi)
			case "le":
				pq.UpdatedTo = earlier(pq.UpdatedTo, d.hi)
			case "lt", "eb":
				pq.UpdatedTo = earlier(pq.UpdatedTo, d.lo)
			case "ne":
				return pq, false, badParam("_lastUpdated", "the prefix ne is not offered for Patient")
			}
		}
	}
	if idsGiven {
		if len(ids) == 0 {
			return pq, true, nil
		}
		if len(ids) > ehr.MaxSearchIDs {
			return pq, false, badParam("_id", "takes at most %d ids", ehr.MaxSearchIDs)
		}
		pq.IDs = ids
	}
	return pq, false, nil
}

// searchPatients answers a Patient search through ehr's SearchPatients
// (matched, paged and audited in the database), with the records of each
// patient of the page that _revinclude asks for (one chart read each).
func (x *server) searchPatients(r *http.Request, q *searchQuery, b *bundle) error {
	ctx := r.Context()
	pq, none, err := patientQuery(q)
	if err != nil {
		return err
	}
	b.link(r, "self", "/Patient", q.applied)
	if none {
		b.setTotal(0)
		q.addOutcome(b, nil)
		return nil
	}
	pq.Limit = q.count
	if q.cursor != nil {
		pq.Cursor = q.cursor.E
	}
	page, err := x.records.SearchPatients(ctx, pq)
	var ve *ehr.ValidationError
	if errors.As(err, &ve) && len(ve.Fields) > 0 {
		f := ve.Fields[0]
		if f.Field == "Cursor" {
			return errCursor()
		}
		return badParam(patientParamOf(f.Field), "%s", f.Message)
	}
	if err != nil {
		return err
	}
	if q.cursor == nil && page.Next == "" {
		b.setTotal(len(page.Patients)) // the whole result is on this page
	}
	seen := map[string]bool{}
	for _, p := range page.Patients {
		if err := addEntry(r, b, p, "match", seen); err != nil {
			return err
		}
	}
	var withheld []string
	if len(q.revs) > 0 {
		for _, p := range page.Patients {
			ch, err := x.records.Chart(ctx, p.ID)
			if errors.Is(err, ehr.ErrDenied) || errors.Is(err, ehr.ErrNotFound) {
				for _, rv := range q.revs {
					withheld = appendNew(withheld, rv.source.Name)
				}
				continue
			}
			if err != nil {
				return err
			}
			for _, rv := range q.revs {
				if slices.Contains(ch.Withheld, rv.source.Kind) {
					withheld = appendNew(withheld, rv.source.Name)
					continue
				}
				d := searchParamsByType[rv.source.Name][rv.param]
				for _, v := range rv.source.chart(&ch) {
					if slices.Contains(d.refs(v), "Patient/"+p.ID) {
						if err := addEntry(r, b, v, "include", seen); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	if page.Next != "" {
		next := cloneValues(q.applied)
		next.Set("_cursor", searchCursor{T: "Patient", Q: q.fp, E: page.Next}.encode())
		b.link(r, "next", "/Patient", next)
	}
	q.addOutcome(b, withheld)
	return nil
}

// ---- Practitioner ----

// searchPractitioners answers a Practitioner search: the tenant's
// directory (any principal of the tenant may list it), matched and paged
// here.
func (x *server) searchPractitioners(r *http.Request, q *searchQuery, b *bundle) error {
	ps, err := x.records.ListPractitioners(r.Context(), false)
	if err != nil {
		return err
	}
	pool := make([]any, len(ps))
	for i, p := range ps {
		pool[i] = p
	}
	return x.respond(r, q, pool, nil, b)
}

// ---- Records of a patient ----

// errNoPatient is the answer to a search of records that names neither
// the patient nor the records.
func errNoPatient(t *resourceType) error {
	also := ""
	switch t.Name {
	case "Appointment":
		also = "; an agenda takes a date range of at most 62 days instead (date=geYYYY-MM-DD&date=ltYYYY-MM-DD, and practitioner)"
	case "Encounter":
		also = "; the open admissions are class=IMP&status=in-progress"
	}
	return badParam("patient", "a search of %s names the patient (patient or subject) or the records (_id): this server does not scan the clinical records of the whole tenant%s", t.Name, also)
}

// searchRecords answers a search of the records of a patient: it reads
// the charts of the patients the search names (or of the records _id
// names, found with Locate), or one of the desks' lists (an agenda, the
// open admissions), then matches and pages here.
func (x *server) searchRecords(r *http.Request, q *searchQuery, b *bundle) error {
	ctx := r.Context()
	t := q.t
	var pool []any
	pids, named := q.patientIDs()
	ids, idsGiven := q.ids()
	switch {
	case named && len(pids) > maxSearchPatients:
		return badParam("patient", "names more than %d patients", maxSearchPatients)
	case named:
	case idsGiven:
		if len(ids) > maxLocateIDs {
			return badParam("_id", "takes at most %d ids without patient", maxLocateIDs)
		}
		for _, id := range ids {
			if logicalID(t.Name, id) != nil {
				continue // not an id: names nothing
			}
			pid, err := x.records.Locate(ctx, t.Kind, id)
			if errors.Is(err, ehr.ErrNotFound) || errors.Is(err, ehr.ErrInvalid) {
				continue
			}
			if err != nil {
				return err
			}
			pids = appendNew(pids, pid)
		}
		sort.Strings(pids)
	case t.Name == "Appointment" && len(q.named("date")) > 0:
		from, to := q.dateBounds("date")
		if from.IsZero() || to.IsZero() || to.Sub(from) > maxAgenda {
			return badParam("date", "an agenda (Appointment without patient) takes a date range of at most 62 days: date=geYYYY-MM-DD&date=ltYYYY-MM-DD")
		}
		pr := q.practitionerID()
		if logicalID("Practitioner", pr) != nil {
			pr = ""
		}
		if to.After(from) {
			as, err := x.records.ListAppointments(ctx, ehr.AppointmentQuery{PractitionerID: pr, From: from, To: to, IncludeCancelled: true})
			if err != nil {
				return err
			}
			for _, a := range as {
				pool = append(pool, a.Appointment)
			}
		}
		return x.respond(r, q, pool, nil, b)
	case q.admissions():
		as, err := x.records.ListAdmissions(ctx, "")
		if err != nil {
			return err
		}
		for _, a := range as {
			pool = append(pool, a.Encounter)
		}
		return x.respond(r, q, pool, nil, b)
	default:
		return errNoPatient(t)
	}
	charts := map[string]*ehr.Chart{}
	for _, pid := range pids {
		if err := logicalID("Patient", pid); err != nil {
			return err
		}
		ch, err := x.records.Chart(ctx, pid)
		if err != nil {
			return err
		}
		if k := x.readKind(ctx, t); slices.Contains(ch.Withheld, k) {
			// Refused as a read of that kind is: with a denied attempt
			// in the patient's trail (the chart read was allowed).
			if err := x.records.Authorize(ctx, rbac.ActionRead, k, pid); err != nil {
				return err
			}
			return fmt.Errorf("fhir: search %s of patient %s: the policy withholds them: %w", t.Name, pid, ehr.ErrDenied)
		}
		charts[pid] = &ch
		pool = append(pool, t.chart(&ch)...)
	}
	return x.respond(r, q, pool, charts, b)
}

// respond fills b with the records of pool that match q (Practitioner,
// and the records of a patient): the page, the resources _include asks
// for, the total, and the self and next links. charts are the charts
// read, by patient id (where an included Patient is found).
func (x *server) respond(r *http.Request, q *searchQuery, pool []any, charts map[string]*ehr.Chart, b *bundle) error {
	var matches []any
	for _, v := range pool {
		if q.matches(v) {
			matches = append(matches, v)
		}
	}
	page, next, err := q.pageOf(matches, pool)
	if err != nil {
		return err
	}
	b.setTotal(len(matches))
	b.link(r, "self", "/"+q.t.Name, q.applied)
	seen := map[string]bool{}
	for _, v := range page {
		if err := addEntry(r, b, v, "match", seen); err != nil {
			return err
		}
	}
	withheld, err := x.include(r, q, page, charts, b, seen)
	if err != nil {
		return err
	}
	if next != "" {
		nq := cloneValues(q.applied)
		nq.Set("_cursor", next)
		b.link(r, "next", "/"+q.t.Name, nq)
	}
	q.addOutcome(b, withheld)
	return nil
}

// include adds the Patient and Practitioner resources the page's records
// reference through the parameters of _include, once each: a Patient from
// the chart read, or read (GetPatient, audited) for a desk's list; a
// Practitioner from the directory. It returns the types it could not
// read (the policy, or gone).
func (x *server) include(r *http.Request, q *searchQuery, page []any, charts map[string]*ehr.Chart, b *bundle, seen map[string]bool) ([]string, error) {
	ctx := r.Context()
	var withheld []string
	for _, spec := range q.includes {
		d := searchParamsByType[q.t.Name][spec.param]
		for _, v := range page {
			for _, ref := range d.refs(v) {
				typ, id, _ := strings.Cut(ref, "/")
				if spec.target != "" && typ != spec.target || !slices.Contains(includable, typ) || seen[ref] {
					continue
				}
				var inc any
				var err error
				switch {
				case typ == "Patient" && charts[id] != nil:
					inc = charts[id].Patient
				case typ == "Patient":
					inc, err = x.records.GetPatient(ctx, id)
				default:
					inc, err = x.records.GetPractitioner(ctx, id)
				}
				if errors.Is(err, ehr.ErrDenied) || errors.Is(err, ehr.ErrNotFound) {
					withheld = appendNew(withheld, typ)
					seen[ref] = true
					continue
				}
				if err != nil {
					return nil, err
				}
				if err := addEntry(r, b, inc, "include", seen); err != nil {
					return nil, err
				}
			}
		}
	}
	return withheld, nil
}

// addEntry adds record v to b with its search mode, unless seen.
func addEntry(r *http.Request, b *bundle, v any, mode string, seen map[string]bool) error {
	t := typeOf(v)
	id := metaOf(v).ID
	if seen[t.Name+"/"+id] {
		return nil
	}
	seen[t.Name+"/"+id] = true
	body, err := t.encode(v)
	if err != nil {
		return err
	}
	b.addResource(r, t.Name, id, body, mode)
	return nil
}

// addOutcome adds, when there is something to say, an OperationOutcome
// entry (search.mode outcome) naming the parameters ignored and the
// types the policy kept out of the includes.
func (q *searchQuery) addOutcome(b *bundle, withheld []string) {
	var is []issue
	if len(q.ignored) > 0 {
		is = append(is, issue{Severity: "warning", Code: "not-supported",
			Diagnostics: "parameters ignored (not supported by this server; Prefer: handling=strict refuses them): " + strings.Join(q.ignored, ", ")})
	}
	if len(withheld) > 0 {
		is = append(is, issue{Severity: "information", Code: "suppressed",
			Diagnostics: "not all included: the policy does not let the caller read every " + strings.Join(withheld, ", ") + " asked for"})
	}
	if len(is) == 0 {
		return
	}
	body, _ := json.Marshal(struct {
		ResourceType string  `json:"resourceType"`
		Issue        []issue `json:"issue"`
	}{"OperationOutcome", is})
	b.Entry = append(b.Entry, bundleEntry{Resource: body, Search: &entrySearch{Mode: "outcome"}})
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// isSearchPost reports whether r is POST [type]/_search, whose body is a
// form.
func isSearchPost(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_search")
}
