package fhir

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
)

// Code systems of encounters.
const (
	SystemParticipationType    = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	SystemLocationPhysicalType = "http://terminology.hl7.org/CodeSystem/location-physical-type"
	SystemDischargeDisposition = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
)

// encounterClasses maps ehr classes to v3-ActCode.
var encounterClasses = map[string]string{ehr.ClassAmbulatory: "AMB", ehr.ClassEmergency: "EMER", ehr.ClassInpatient: "IMP"}

// dispositions maps the dispositions ehr's front ends use to
// discharge-disposition codes; others are sent as text with code oth.
var dispositions = map[string]string{"home": "home", "transfer": "other-hcf", "deceased": "exp", "against-advice": "aadvice"}

// Stay is where an admitted patient was from Since: a ward and a bed.
// EncodeEncounter sends the stays of an encounter as its location history.
type Stay struct {
	Ward  string
	Bed   string
	Since time.Time
}

// Stays returns the wards and beds an encounter went through, oldest first,
// from its versions (Repository.History of the encounter, oldest first):
// a new Stay wherever the ward or the bed changes.
//
// It returns an error when a version is not an encounter's JSON snapshot.
func Stays(versions []ehr.Version) ([]Stay, error) {
	var out []Stay
	for _, v := range versions {
		var row struct {
			Ward      string    `json:"ward"`
			Bed       string    `json:"bed"`
			StartedAt time.Time `json:"started_at"`
		}
		if err := json.Unmarshal(v.Data, &row); err != nil {
			return nil, errf("encounter %s version %d: %w", v.RecordID, v.Version, err)
		}
		if n := len(out); n > 0 && out[n-1].Ward == row.Ward && out[n-1].Bed == row.Bed {
			continue
		}
		since := v.ChangedAt
		if len(out) == 0 && !row.StartedAt.IsZero() {
			since = row.StartedAt
		}
		out = append(out, Stay{Ward: row.Ward, Bed: row.Bed, Since: since.UTC()})
	}
	return out, nil
}

func physical(code, display string) *codeableConcept {
	return &codeableConcept{Coding: []coding{{System: SystemLocationPhysicalType, Code: code, Display: display}}}
}

// EncodeEncounter returns e as a FHIR R4 Encounter: status, class (v3-ActCode
// AMB, EMER or IMP), subject, the attending practitioner as participant
// ATND, period (start, and end once finished), the reason as text, the
// disposition as hospitalization.dischargeDisposition, and the location
// history: each stay (stays, as Stays returns them; or the encounter's
// current ward and bed since its start when none are given) as a ward
// entry and a bed entry (location-physical-type wa, bd) with its period,
// active for the current stay of an open encounter, completed otherwise.
//
// It returns an error for an unknown class.
func EncodeEncounter(e ehr.Encounter, stays ...Stay) ([]byte, error) {
	r := encounterResource{resourceBase: recordBase("Encounter", e.ID, e.TenantID, e.Version, e.CreatedAt, e.UpdatedAt)}
	r.Status = e.Status
	cls, ok := encounterClasses[e.Class]
	if !ok {
		return nil, errf("encounter %s: class %q has no v3-ActCode", e.ID, e.Class)
	}
	r.Class = coding{System: SystemActCode, Code: cls}
	r.Subject = ref("Patient", e.PatientID)
	if p := ref("Practitioner", e.PractitionerID); p != nil {
		r.Participant = []encounterParticipant{{
			Type:       []codeableConcept{{Coding: []coding{{System: SystemParticipationType, Code: "ATND", Display: "attender"}}}},
			Individual: p,
		}}
	}
	r.Period = &period{Start: instant(e.StartedAt)}
	if e.EndedAt != nil {
		r.Period.End = instant(*e.EndedAt)
	}
	if e.Reason != "" {
		r.ReasonCode = []codeableConcept{{Text: e.Reason}}
	}
	if e.Disposition != "" {
		dd := &codeableConcept{Text: e.Disposition}
		code, ok := dispositions[e.Disposition]
		if !ok {
			code = "oth"
		}
		dd.Coding = []coding{{System: SystemDischargeDisposition, Code: code}}
		r.Hospitalization = &encounterHospitalization{DischargeDisposition: dd}
	}
	if len(stays) == 0 && (e.Ward != "" || e.Bed != "") {
		stays = []Stay{{Ward: e.Ward, Bed: e.Bed, Since: e.StartedAt}}
	}
	for i, s := range stays {
		p := &period{Start: instant(s.Since)}
		status := "completed"
		switch {
		case i+1 < len(stays):
			p.End = instant(stays[i+1].Since)
		case e.EndedAt != nil:
			p.End = instant(*e.EndedAt)
		default:
			status = "active"
		}
		if s.Ward != "" {
			r.Location = append(r.Location, encounterLocation{Location: reference{Display: s.Ward}, PhysicalType: physical("wa", "Ward"), Status: status, Period: p})
		}
		if s.Bed != "" {
			r.Location = append(r.Location, encounterLocation{Location: reference{Display: s.Bed}, PhysicalType: physical("bd", "Bed"), Status: status, Period: p})
		}
	}
	return json.Marshal(r)
}

var encounterStatuses = []string{"planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", ehr.StatusEnteredInError, "unknown"}

// DecodeEncounter maps a FHIR R4 Encounter to an ehr.Encounter and its
// stays, the inverse of EncodeEncounter: the ward and bed of the encounter
// are those of the last stay. It returns an *OperationOutcome.
func DecodeEncounter(data []byte) (ehr.Encounter, []Stay, error) {
	var r encounterResource
	if err := decodeStrict(data, "Encounter", &r); err != nil {
		return ehr.Encounter{}, nil, err
	}
	d := decoder{rt: "Encounter"}
	var e ehr.Encounter
	d.base(r.resourceBase, &e.ID, &e.TenantID, &e.Version, &e.CreatedAt, &e.UpdatedAt)
	switch {
	case oneOf(r.Status, ehr.EncounterInProgress, ehr.EncounterFinished, ehr.EncounterCancelled, ehr.StatusEnteredInError):
		e.Status = r.Status
	case oneOf(r.Status, encounterStatuses...):
		d.add(IssueNotSupported, d.at("status"), "Historia stores in-progress, finished, cancelled and entered-in-error encounters, not %q", r.Status)
	default:
		d.add(IssueCodeInvalid, d.at("status"), "%q is not an encounter status", r.Status)
	}
	for class, code := range encounterClasses {
		if r.Class.System == SystemActCode && r.Class.Code == code {
			e.Class = class
		}
	}
	if e.Class == "" {
		d.add(IssueCodeInvalid, d.at("class"), "must be AMB, EMER or IMP of %s", SystemActCode)
	}
	e.PatientID = d.ref(r.Subject, d.at("subject"), "Patient", true)
	if len(r.Participant) > 1 {
		d.add(IssueNotSupported, d.at("participant", 1), "only one participant (the attending) is supported")
	}
	if len(r.Participant) > 0 {
		p, loc := r.Participant[0], d.at("participant", 0)
		for i := range p.Type {
			d.code(&p.Type[i], path(loc, "type", i), SystemParticipationType, true, "ATND")
		}
		e.PractitionerID = d.ref(p.Individual, path(loc, "individual"), "Practitioner", true)
	}
	if r.Period == nil || r.Period.Start == "" {
		d.add(IssueRequired, d.at("period", "start"), "is required")
	} else {
		e.StartedAt = d.instant(r.Period.Start, d.at("period", "start"))
		if r.Period.End != "" {
			t := d.instant(r.Period.End, d.at("period", "end"))
			e.EndedAt = &t
		}
	}
	if len(r.ReasonCode) > 1 {
		d.add(IssueNotSupported, d.at("reasonCode", 1), "only one reason is supported")
	}
	if len(r.ReasonCode) > 0 {
		e.Reason = r.ReasonCode[0].Text
	}
	if h := r.Hospitalization; h != nil && h.DischargeDisposition != nil {
		code, _ := d.code(h.DischargeDisposition, d.at("hospitalization", "dischargeDisposition"), SystemDischargeDisposition, false)
		if e.Disposition = h.DischargeDisposition.Text; e.Disposition == "" {
			e.Disposition = code
		}
	}
	var stays []Stay
	for i, l := range r.Location {
		loc := d.at("location", i)
		kind, _ := d.code(l.PhysicalType, path(loc, "physicalType"), SystemLocationPhysicalType, true, "wa", "bd")
		if l.Location.Display == "" || l.Location.Reference != "" {
			d.add(IssueNotSupported, path(loc, "location"), "a ward or bed is given by its display")
		}
		if l.Period == nil || l.Period.Start == "" {
			d.add(IssueRequired, path(loc, "period", "start"), "is required")
			continue
		}
		since := d.instant(l.Period.Start, path(loc, "period", "start"))
		if n := len(stays); n == 0 || !stays[n-1].Since.Equal(since) {
			stays = append(stays, Stay{Since: since})
		}
		s := &stays[len(stays)-1]
		if kind == "wa" {
			s.Ward = l.Location.Display
		} else if kind == "bd" {
			s.Bed = l.Location.Display
		}
	}
	if n := len(stays); n > 0 {
		e.Ward, e.Bed = stays[n-1].Ward, stays[n-1].Bed
	}
	return e, stays, d.err()
}

// appointmentStatuses maps ehr statuses to FHIR's (no-show is noshow).
var appointmentStatuses = map[string]string{
	ehr.AppointmentBooked: "booked", ehr.AppointmentArrived: "arrived", ehr.AppointmentFulfilled: "fulfilled",
	ehr.AppointmentCancelled: "cancelled", ehr.AppointmentNoShow: "noshow", ehr.StatusEnteredInError: ehr.StatusEnteredInError,
}

// EncodeAppointment returns ap as a FHIR R4 Appointment: status (no-show is
// noshow), the reason as text, start, end, and the patient and the
// practitioner as accepted participants.
func EncodeAppointment(ap ehr.Appointment) ([]byte, error) {
	r := appointmentResource{resourceBase: recordBase("Appointment", ap.ID, ap.TenantID, ap.Version, ap.CreatedAt, ap.UpdatedAt)}
	st, ok := appointmentStatuses[ap.Status]
	if !ok {
		return nil, errf("appointment %s: unknown status %q", ap.ID, ap.Status)
	}
	r.Status = st
	if ap.Reason != "" {
		r.ReasonCode = []codeableConcept{{Text: ap.Reason}}
	}
	r.Start, r.End = instant(ap.Start), instant(ap.End)
	r.Participant = []appointmentParticipant{
		{Actor: ref("Patient", ap.PatientID), Status: "accepted"},
		{Actor: ref("Practitioner", ap.PractitionerID), Status: "accepted"},
	}
	return json.Marshal(r)
}

// DecodeAppointment maps a FHIR R4 Appointment to an ehr.Appointment, the
// inverse of EncodeAppointment: one patient and one practitioner
// participant. It returns an *OperationOutcome.
func DecodeAppointment(data []byte) (ehr.Appointment, error) {
	var r appointmentResource
	if err := decodeStrict(data, "Appointment", &r); err != nil {
		return ehr.Appointment{}, err
	}
	d := decoder{rt: "Appointment"}
	var ap ehr.Appointment
	d.base(r.resourceBase, &ap.ID, &ap.TenantID, &ap.Version, &ap.CreatedAt, &ap.UpdatedAt)
	for k, v := range appointmentStatuses {
		if v == r.Status {
			ap.Status = k
		}
	}
	if ap.Status == "" {
		if oneOf(r.Status, "proposed", "pending", "checked-in", "waitlist") {
			d.add(IssueNotSupported, d.at("status"), "Historia does not store %s appointments", r.Status)
		} else {
			d.add(IssueCodeInvalid, d.at("status"), "%q is not an appointment status", r.Status)
		}
	}
	if len(r.ReasonCode) > 1 {
		d.add(IssueNotSupported, d.at("reasonCode", 1), "only one reason is supported")
	}
	if len(r.ReasonCode) > 0 {
		ap.Reason = r.ReasonCode[0].Text
	}
	if r.Start == "" || r.End == "" {
		d.add(IssueRequired, d.at("start"), "start and end are required")
	}
	ap.Start, ap.End = d.instant(r.Start, d.at("start")), d.instant(r.End, d.at("end"))
	for i, p := range r.Participant {
		loc := path(d.at("participant", i), "actor")
		if !oneOf(p.Status, "accepted", "declined", "tentative", "needs-action") {
			d.add(IssueCodeInvalid, d.at("participant", i, "status"), "%q is not a participation status", p.Status)
		}
		if p.Actor == nil {
			d.add(IssueRequired, loc, "is required")
			continue
		}
		switch ref := p.Actor.Reference; {
		case strings.HasPrefix(ref, "Patient/") && ap.PatientID == "":
			ap.PatientID = d.ref(p.Actor, loc, "Patient", true)
		case strings.HasPrefix(ref, "Practitioner/") && ap.PractitionerID == "":
			ap.PractitionerID = d.ref(p.Actor, loc, "Practitioner", true)
		default:
			d.add(IssueValue, path(loc, "reference"), "must refer to the Patient or the Practitioner, once each")
		}
	}
	if ap.PatientID == "" || ap.PractitionerID == "" {
		d.add(IssueRequired, d.at("participant"), "a Patient and a Practitioner participant are required")
	}
	return ap, d.err()
}

// careTeamStatuses maps ehr membership statuses to CareTeam statuses.
var careTeamStatuses = map[string]string{ehr.CareTeamActive: "active", ehr.CareTeamEnded: "inactive", ehr.StatusEnteredInError: ehr.StatusEnteredInError}

// EncodeCareTeam returns m, one care-team membership, as a FHIR R4 CareTeam
// with one participant: status (ended is inactive), subject, the period,
// the practitioner as member (a literal reference that also carries the
// staff user id as identifier), the role as text, and the reason.
func EncodeCareTeam(m ehr.CareTeamMember) ([]byte, error) {
	r := careTeamResource{resourceBase: recordBase("CareTeam", m.ID, m.TenantID, m.Version, m.CreatedAt, m.UpdatedAt)}
	st, ok := careTeamStatuses[m.Status]
	if !ok {
		return nil, errf("care team %s: unknown status %q", m.ID, m.Status)
	}
	r.Status = st
	r.Subject = ref("Patient", m.PatientID)
	p := &period{Start: instant(m.StartsAt)}
	if m.EndsAt != nil {
		p.End = instant(*m.EndsAt)
	}
	r.Period = p
	part := careTeamParticipant{Member: ref("Practitioner", m.PractitionerID), Period: p}
	if part.Member != nil && m.UserID != "" {
		part.Member.Identifier = &identifier{System: SystemUser, Value: m.UserID}
	}
	if m.Role != "" {
		part.Role = []codeableConcept{{Text: m.Role}}
	}
	r.Participant = []careTeamParticipant{part}
	if m.Reason != "" {
		r.ReasonCode = []codeableConcept{{Text: m.Reason}}
	}
	return json.Marshal(r)
}

// DecodeCareTeam maps a FHIR R4 CareTeam of one participant to an
// ehr.CareTeamMember, the inverse of EncodeCareTeam. It returns an
// *OperationOutcome.
func DecodeCareTeam(data []byte) (ehr.CareTeamMember, error) {
	var r careTeamResource
	if err := decodeStrict(data, "CareTeam", &r); err != nil {
		return ehr.CareTeamMember{}, err
	}
	d := decoder{rt: "CareTeam"}
	var m ehr.CareTeamMember
	d.base(r.resourceBase, &m.ID, &m.TenantID, &m.Version, &m.CreatedAt, &m.UpdatedAt)
	for k, v := range careTeamStatuses {
		if v == r.Status {
			m.Status = k
		}
	}
	if m.Status == "" {
		if oneOf(r.Status, "proposed", "suspended") {
			d.add(IssueNotSupported, d.at("status"), "Historia does not store %s care teams", r.Status)
		} else {
			d.add(IssueCodeInvalid, d.at("status"), "%q is not a care team status", r.Status)
		}
	}
	m.PatientID = d.ref(r.Subject, d.at("subject"), "Patient", true)
	if r.Period == nil || r.Period.Start == "" {
		d.add(IssueRequired, d.at("period", "start"), "is required")
	} else {
		m.StartsAt = d.instant(r.Period.Start, d.at("period", "start"))
		if r.Period.End != "" {
			t := d.instant(r.Period.End, d.at("period", "end"))
			m.EndsAt = &t
		}
	}
	if len(r.Participant) != 1 {
		d.add(IssueNotSupported, d.at("participant"), "exactly one participant (the membership's practitioner) is supported")
	}
	if len(r.Participant) > 0 {
		p, loc := r.Participant[0], d.at("participant", 0)
		m.PractitionerID = d.ref(p.Member, path(loc, "member"), "Practitioner", true)
		if p.Member != nil && p.Member.Identifier != nil {
			if p.Member.Identifier.System != SystemUser {
				d.add(IssueNotSupported, path(loc, "member", "identifier", "system"), "must be %s", SystemUser)
			}
			m.UserID = p.Member.Identifier.Value
		}
		if len(p.Role) > 0 {
			m.Role = p.Role[0].Text
		}
	}
	if len(r.ReasonCode) > 0 {
		m.Reason = r.ReasonCode[0].Text
	}
	return m, d.err()
}
