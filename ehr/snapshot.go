package ehr

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Record decodes the snapshot of v (Data, the record's row as written)
// into the record as it was at that version, as a value of the type Chart
// and GetPatient return: Patient (rbac.KindDemographics, KindContact),
// Encounter (KindEncounter, KindAdmission), Appointment, CareTeamMember,
// Note, Condition, Allergy, MedicationRequest or Observation. The
// record's fields are as those methods return them: ids as text, times
// in UTC at PostgreSQL's microsecond resolution, calendar dates at UTC
// midnight, an optional id that is not set as "", an optional time as
// nil. So the Record of the last version History returns equals the
// record in the Chart, field by field, and an older version's Record is
// the record as it was then (History blanks the contact data of a patient
// for an actor who may not read it, as Chart and GetPatient do).
//
// It returns an error wrapping ErrInvalid for a kind without versioned
// records, and an error naming the column for data that is not a snapshot
// of the kind's table (malformed JSON, a column missing or of the wrong
// type, a version or id other than v's). Errors name the kind, the record
// id and the column, never a value.
func (v Version) Record() (any, error) {
	t, ok := tableOf(v.Kind)
	if !ok {
		return nil, &snapshotError{v: v, err: invalid("Kind", CodeNotAllowed, "has no versioned records")}
	}
	s := snapshot{v: v, idCol: t.idCol}
	switch t {
	case tPatients:
		return decodeSnapshot(&s, patientSnapshot.record)
	case tEncounters:
		return decodeSnapshot(&s, encounterSnapshot.record)
	case tAppointments:
		return decodeSnapshot(&s, appointmentSnapshot.record)
	case tCareTeam:
		return decodeSnapshot(&s, careTeamSnapshot.record)
	case tNotes:
		return decodeSnapshot(&s, noteSnapshot.record)
	case tConditions:
		return decodeSnapshot(&s, conditionSnapshot.record)
	case tAllergies:
		return decodeSnapshot(&s, allergySnapshot.record)
	case tMedications:
		return decodeSnapshot(&s, medicationSnapshot.record)
	case tObservations:
		return decodeSnapshot(&s, observationSnapshot.record)
	}
	return nil, &snapshotError{v: v, err: invalid("Kind", CodeNotAllowed, "has no versioned records")}
}

// snapshotError is an error of Version.Record: the kind, the record id and
// what is wrong (a column name, never a value).
type snapshotError struct {
	v       Version
	column  string
	problem string
	err     error // a *ValidationError for a kind without records
}

func (e *snapshotError) Error() string {
	id := "(no id)"
	if _, err := uuid.Parse(e.v.RecordID); err == nil {
		id = e.v.RecordID
	}
	msg := "ehr: record " + e.v.Kind.String() + " " + id + " version " + itoa(max(e.v.Version, 0)) + ": "
	switch {
	case e.err != nil:
		return msg + e.err.Error()
	case e.column != "":
		return msg + "snapshot column " + e.column + " " + e.problem
	}
	return msg + "snapshot " + e.problem
}

// Unwrap returns the validation error of a kind without records, if any.
func (e *snapshotError) Unwrap() error { return e.err }

// snapshot decodes the columns of one version's row, keeping the first
// problem.
type snapshot struct {
	v     Version
	idCol string
	err   *snapshotError
}

func (s *snapshot) fail(column, problem string) {
	if s.err == nil {
		s.err = &snapshotError{v: s.v, column: column, problem: problem}
	}
}

// decodeSnapshot unmarshals the data of s into a row R and converts it
// with record.
func decodeSnapshot[R any, T any](s *snapshot, record func(R, *snapshot) T) (any, error) {
	var row R
	if err := json.Unmarshal(s.v.Data, &row); err != nil {
		// The decoder's messages may quote the data: keep the column only.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			s.fail(te.Field, "has the wrong type")
		} else {
			s.fail("", "is not a JSON object")
		}
		return nil, s.err
	}
	rec := record(row, s)
	if s.err != nil {
		return nil, s.err
	}
	return rec, nil
}

// common holds the columns every versioned table has.
type common struct {
	TenantID  *string `json:"tenant_id"`
	PatientID *string `json:"patient_id"`
	ID        *string `json:"id"`
	Version   *int    `json:"version"`
	CreatedAt *string `json:"created_at"`
	UpdatedAt *string `json:"updated_at"`
}

// head decodes the common columns: the record id (column idCol), tenant,
// patient, version, creation and update times. The id and the version
// must be v's (when v names them).
func (c common) head(s *snapshot) (id, tenant, patient string, version int, created, updated time.Time) {
	patient = s.uuid("patient_id", c.PatientID)
	id = patient
	if s.idCol != "patient_id" {
		id = s.uuid(s.idCol, c.ID)
	}
	if s.err == nil && s.v.RecordID != "" && !sameID(id, s.v.RecordID) {
		s.fail(s.idCol, "is not the version's record id")
	}
	tenant = s.uuid("tenant_id", c.TenantID)
	switch {
	case c.Version == nil:
		s.fail("version", "is missing")
	case *c.Version < 1:
		s.fail("version", "is not a version")
	case s.v.Version != 0 && *c.Version != s.v.Version:
		s.fail("version", "is not the version's")
	default:
		version = *c.Version
	}
	return id, tenant, patient, version, s.time("created_at", c.CreatedAt), s.time("updated_at", c.UpdatedAt)
}

// sameID reports whether a and b are the same UUID.
func sameID(a, b string) bool {
	x, err1 := uuid.Parse(a)
	y, err2 := uuid.Parse(b)
	return err1 == nil && err2 == nil && x == y
}

// uuid decodes a required uuid column as text (lower-case, as scanned).
func (s *snapshot) uuid(column string, v *string) string {
	if v == nil {
		s.fail(column, "is missing")
		return ""
	}
	id, err := uuid.Parse(*v)
	if err != nil {
		s.fail(column, "is not a UUID")
		return ""
	}
	return id.String()
}

// optUUID decodes a nullable uuid column; NULL is "".
func (s *snapshot) optUUID(column string, v *string) string {
	if v == nil {
		return ""
	}
	return s.uuid(column, v)
}

// Layouts of a timestamptz in a jsonb snapshot (to_jsonb writes ISO 8601
// in the session's time zone; an offset with seconds for old dates in
// some zones).
var snapshotTimeLayouts = [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-07:00:00"}

// time decodes a required timestamptz column, in UTC.
func (s *snapshot) time(column string, v *string) time.Time {
	if v == nil {
		s.fail(column, "is missing")
		return time.Time{}
	}
	for _, layout := range snapshotTimeLayouts {
		if t, err := time.Parse(layout, *v); err == nil {
			return t.UTC()
		}
	}
	s.fail(column, "is not a timestamp")
	return time.Time{}
}

// optTime decodes a nullable timestamptz column; NULL is nil.
func (s *snapshot) optTime(column string, v *string) *time.Time {
	if v == nil {
		return nil
	}
	t := s.time(column, v)
	return &t
}

// date decodes a required date column, at UTC midnight (as pgx scans a
// date).
func (s *snapshot) date(column string, v *string) time.Time {
	if v == nil {
		s.fail(column, "is missing")
		return time.Time{}
	}
	t, err := time.Parse(time.DateOnly, *v)
	if err != nil {
		s.fail(column, "is not a date")
		return time.Time{}
	}
	return t
}

// optDate decodes a nullable date column; NULL is nil.
func (s *snapshot) optDate(column string, v *string) *time.Time {
	if v == nil {
		return nil
	}
	t := s.date(column, v)
	return &t
}

// The snapshot rows: the columns that the scan functions read (the
// column lists patientColumns, encounterColumns, ...), by their names.
// Other columns (search_name, change_reason, updated_by, ...) are
// ignored.

type patientSnapshot struct {
	common
	DocumentType          string       `json:"document_type"`
	DocumentNumber        string       `json:"document_number"`
	Identifiers           []Identifier `json:"identifiers"`
	GivenNames            string       `json:"given_names"`
	FamilyNames           string       `json:"family_names"`
	BirthDate             *string      `json:"birth_date"`
	Sex                   string       `json:"sex"`
	Phone                 string       `json:"phone"`
	Email                 string       `json:"email"`
	Address               string       `json:"address"`
	EmergencyName         string       `json:"emergency_name"`
	EmergencyPhone        string       `json:"emergency_phone"`
	EmergencyRelationship string       `json:"emergency_relationship"`
	Status                string       `json:"status"`
}

func (r patientSnapshot) record(s *snapshot) Patient {
	p := Patient{DocumentType: r.DocumentType, DocumentNumber: r.DocumentNumber, Identifiers: r.Identifiers,
		GivenNames: r.GivenNames, FamilyNames: r.FamilyNames, BirthDate: s.date("birth_date", r.BirthDate), Sex: r.Sex,
		Contact:   Contact{Phone: r.Phone, Email: r.Email, Address: r.Address},
		Emergency: EmergencyContact{Name: r.EmergencyName, Phone: r.EmergencyPhone, Relationship: r.EmergencyRelationship},
		Status:    r.Status}
	if p.Identifiers == nil {
		p.Identifiers = []Identifier{} // the column is NOT NULL DEFAULT '[]', scanned as an empty slice
	}
	p.ID, p.TenantID, _, p.Version, p.CreatedAt, p.UpdatedAt = r.head(s)
	return p
}

type encounterSnapshot struct {
	common
	Class          string  `json:"class"`
	Status         string  `json:"status"`
	PractitionerID *string `json:"practitioner_id"`
	Ward           string  `json:"ward"`
	Bed            string  `json:"bed"`
	Reason         string  `json:"reason"`
	Disposition    string  `json:"disposition"`
	StartedAt      *string `json:"started_at"`
	EndedAt        *string `json:"ended_at"`
}

func (r encounterSnapshot) record(s *snapshot) Encounter {
	e := Encounter{Class: r.Class, Status: r.Status, PractitionerID: s.optUUID("practitioner_id", r.PractitionerID),
		Ward: r.Ward, Bed: r.Bed, Reason: r.Reason, Disposition: r.Disposition,
		StartedAt: s.time("started_at", r.StartedAt), EndedAt: s.optTime("ended_at", r.EndedAt)}
	e.ID, e.TenantID, e.PatientID, e.Version, e.CreatedAt, e.UpdatedAt = r.head(s)
	return e
}

type appointmentSnapshot struct {
	common
	PractitionerID *string `json:"practitioner_id"`
	StartsAt       *string `json:"starts_at"`
	EndsAt         *string `json:"ends_at"`
	Status         string  `json:"status"`
	Reason         string  `json:"reason"`
}

func (r appointmentSnapshot) record(s *snapshot) Appointment {
	ap := Appointment{PractitionerID: s.uuid("practitioner_id", r.PractitionerID), Start: s.time("starts_at", r.StartsAt),
		End: s.time("ends_at", r.EndsAt), Status: r.Status, Reason: r.Reason}
	ap.ID, ap.TenantID, ap.PatientID, ap.Version, ap.CreatedAt, ap.UpdatedAt = r.head(s)
	return ap
}

type careTeamSnapshot struct {
	common
	PractitionerID *string `json:"practitioner_id"`
	UserID         *string `json:"user_id"`
	Role           string  `json:"role"`
	Reason         string  `json:"reason"`
	StartsAt       *string `json:"starts_at"`
	EndsAt         *string `json:"ends_at"`
	Status         string  `json:"status"`
}

func (r careTeamSnapshot) record(s *snapshot) CareTeamMember {
	m := CareTeamMember{PractitionerID: s.uuid("practitioner_id", r.PractitionerID), UserID: s.uuid("user_id", r.UserID),
		Role: r.Role, Reason: r.Reason, StartsAt: s.time("starts_at", r.StartsAt), EndsAt: s.optTime("ends_at", r.EndsAt),
		Status: r.Status}
	m.ID, m.TenantID, m.PatientID, m.Version, m.CreatedAt, m.UpdatedAt = r.head(s)
	return m
}

type noteSnapshot struct {
	common
	EncounterID *string `json:"encounter_id"`
	AuthorID    string  `json:"author_id"`
	Title       string  `json:"title"`
	Body        string  `json:"body"`
	Status      string  `json:"status"`
	SignedAt    *string `json:"signed_at"`
	SignedBy    string  `json:"signed_by"`
}

func (r noteSnapshot) record(s *snapshot) Note {
	n := Note{EncounterID: s.optUUID("encounter_id", r.EncounterID), AuthorID: r.AuthorID, Title: r.Title, Body: r.Body,
		Status: r.Status, SignedAt: s.optTime("signed_at", r.SignedAt), SignedBy: r.SignedBy}
	n.ID, n.TenantID, n.PatientID, n.Version, n.CreatedAt, n.UpdatedAt = r.head(s)
	return n
}

type conditionSnapshot struct {
	common
	EncounterID *string `json:"encounter_id"`
	Code        string  `json:"code"`
	Display     string  `json:"display"`
	Status      string  `json:"status"`
	OnsetDate   *string `json:"onset_date"`
	Note        string  `json:"note"`
	RecordedBy  string  `json:"recorded_by"`
}

func (r conditionSnapshot) record(s *snapshot) Condition {
	c := Condition{EncounterID: s.optUUID("encounter_id", r.EncounterID), Code: r.Code, Display: r.Display, Status: r.Status,
		OnsetDate: s.optDate("onset_date", r.OnsetDate), Note: r.Note, RecordedBy: r.RecordedBy}
	c.ID, c.TenantID, c.PatientID, c.Version, c.CreatedAt, c.UpdatedAt = r.head(s)
	return c
}

type allergySnapshot struct {
	common
	Substance  string `json:"substance"`
	Reaction   string `json:"reaction"`
	Severity   string `json:"severity"`
	Status     string `json:"status"`
	RecordedBy string `json:"recorded_by"`
}

func (r allergySnapshot) record(s *snapshot) Allergy {
	al := Allergy{Substance: r.Substance, Reaction: r.Reaction, Severity: r.Severity, Status: r.Status, RecordedBy: r.RecordedBy}
	al.ID, al.TenantID, al.PatientID, al.Version, al.CreatedAt, al.UpdatedAt = r.head(s)
	return al
}

type medicationSnapshot struct {
	common
	EncounterID *string `json:"encounter_id"`
	Medication  string  `json:"medication"`
	// Dose is numeric: a JSON number, parsed as pgx parses the numeric's
	// text (strconv.ParseFloat), so it reads back equal.
	Dose         *float64 `json:"dose"`
	DoseUnit     string   `json:"dose_unit"`
	Route        string   `json:"route"`
	Frequency    string   `json:"frequency"`
	Status       string   `json:"status"`
	StartsOn     *string  `json:"starts_on"`
	EndsOn       *string  `json:"ends_on"`
	Note         string   `json:"note"`
	PrescriberID string   `json:"prescriber_id"`
}

func (r medicationSnapshot) record(s *snapshot) MedicationRequest {
	m := MedicationRequest{EncounterID: s.optUUID("encounter_id", r.EncounterID), Medication: r.Medication,
		DoseUnit: r.DoseUnit, Route: r.Route, Frequency: r.Frequency, Status: r.Status,
		StartsOn: s.optDate("starts_on", r.StartsOn), EndsOn: s.optDate("ends_on", r.EndsOn), Note: r.Note,
		PrescriberID: r.PrescriberID}
	if r.Dose == nil {
		s.fail("dose", "is missing")
	} else {
		m.Dose = *r.Dose
	}
	m.ID, m.TenantID, m.PatientID, m.Version, m.CreatedAt, m.UpdatedAt = r.head(s)
	return m
}

type observationSnapshot struct {
	common
	EncounterID *string  `json:"encounter_id"`
	Category    string   `json:"category"`
	Code        string   `json:"code"`
	Display     string   `json:"display"`
	Value       *float64 `json:"value"`
	ValueText   string   `json:"value_text"`
	Unit        string   `json:"unit"`
	EffectiveAt *string  `json:"effective_at"`
	Status      string   `json:"status"`
	RecordedBy  string   `json:"recorded_by"`
}

func (r observationSnapshot) record(s *snapshot) Observation {
	o := Observation{EncounterID: s.optUUID("encounter_id", r.EncounterID), Category: r.Category, Code: r.Code,
		Display: r.Display, Value: r.Value, ValueText: r.ValueText, Unit: r.Unit,
		EffectiveAt: s.time("effective_at", r.EffectiveAt), Status: r.Status, RecordedBy: r.RecordedBy}
	o.ID, o.TenantID, o.PatientID, o.Version, o.CreatedAt, o.UpdatedAt = r.head(s)
	return o
}
