package fhir

import (
	"encoding/json"
	"time"

	"github.com/historiaehr/historia/ehr"
)

// Code systems of clinical and verification statuses.
const (
	SystemConditionClinical     = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	SystemConditionVerification = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
	SystemAllergyClinical       = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
	SystemAllergyVerification   = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
)

// ReactionNotRecorded is the manifestation text of an allergy whose
// reaction ehr does not know (FHIR needs a manifestation to carry the
// severity); DecodeAllergy reads it back as an empty Reaction.
const ReactionNotRecorded = "not recorded"

// statuses encodes a clinical status: entered in error is a verification
// status, and FHIR then forbids a clinical status (con-5, ait-1).
func statuses(status, clinicalSystem, verificationSystem string) (clinical, verification *codeableConcept) {
	if status == ehr.StatusEnteredInError {
		return nil, &codeableConcept{Coding: []coding{{System: verificationSystem, Code: ehr.StatusEnteredInError}}}
	}
	return &codeableConcept{Coding: []coding{{System: clinicalSystem, Code: status}}},
		&codeableConcept{Coding: []coding{{System: verificationSystem, Code: "confirmed"}}}
}

// decodeStatuses is the inverse of statuses.
func (d *decoder) statuses(clinical, verification *codeableConcept, clinicalSystem, verificationSystem string, allowed []string) string {
	v, _ := d.code(verification, d.at("verificationStatus"), verificationSystem, false, "confirmed", ehr.StatusEnteredInError)
	if v == ehr.StatusEnteredInError {
		if clinical != nil {
			d.add(IssueValue, d.at("clinicalStatus"), "must be absent when verificationStatus is entered-in-error")
		}
		return ehr.StatusEnteredInError
	}
	c, _ := d.code(clinical, d.at("clinicalStatus"), clinicalSystem, true, allowed...)
	return c
}

func annotations(text string) []annotation {
	if text == "" {
		return nil
	}
	return []annotation{{Text: text}}
}

func (d *decoder) annotation(notes []annotation) string {
	if len(notes) > 1 {
		d.add(IssueNotSupported, d.at("note", 1), "only one note is supported")
	}
	if len(notes) > 0 {
		return notes[0].Text
	}
	return ""
}

func datep(t *time.Time) string {
	if t == nil {
		return ""
	}
	return date(*t)
}

// optDate parses an optional date that may be given as a dateTime too.
func (d *decoder) optDate(s, loc string) *time.Time {
	if s == "" {
		return nil
	}
	var t time.Time
	if len(s) == len(dateLayout) {
		t = d.date(s, loc)
	} else {
		t = d.instant(s, loc)
	}
	if t.IsZero() {
		return nil
	}
	return &t
}

var conditionStatuses = []string{"active", "recurrence", "relapse", "inactive", "remission", "resolved"}

// EncodeCondition returns c as a FHIR R4 Condition: clinicalStatus
// (condition-clinical) and verificationStatus confirmed, or only
// verificationStatus entered-in-error; the ICD-10 code (SystemICD10) with
// its display; subject, encounter, onsetDateTime (a date), the recorder
// and the note. It returns an error for an unknown status.
func EncodeCondition(c ehr.Condition) ([]byte, error) {
	if !oneOf(c.Status, append(conditionStatuses, ehr.StatusEnteredInError)...) {
		return nil, errf("condition %s: unknown status %q", c.ID, c.Status)
	}
	r := conditionResource{resourceBase: recordBase("Condition", c.ID, c.TenantID, c.Version, c.CreatedAt, c.UpdatedAt)}
	r.ClinicalStatus, r.VerificationStatus = statuses(c.Status, SystemConditionClinical, SystemConditionVerification)
	r.Code = &codeableConcept{Coding: []coding{{System: SystemICD10, Code: c.Code, Display: c.Display}}}
	r.Subject = ref("Patient", c.PatientID)
	r.Encounter = ref("Encounter", c.EncounterID)
	r.OnsetDateTime = datep(c.OnsetDate)
	r.Recorder = userRef(c.RecordedBy)
	r.Note = annotations(c.Note)
	return json.Marshal(r)
}

// DecodeCondition maps a FHIR R4 Condition to an ehr.Condition, the
// inverse of EncodeCondition. The code must have an ICD-10 coding of
// valid shape. It returns an *OperationOutcome.
func DecodeCondition(data []byte) (ehr.Condition, error) {
	var r conditionResource
	if err := decodeStrict(data, "Condition", &r); err != nil {
		return ehr.Condition{}, err
	}
	d := decoder{rt: "Condition"}
	var c ehr.Condition
	d.base(r.resourceBase, &c.ID, &c.TenantID, &c.Version, &c.CreatedAt, &c.UpdatedAt)
	c.Status = d.statuses(r.ClinicalStatus, r.VerificationStatus, SystemConditionClinical, SystemConditionVerification, conditionStatuses)
	var i int
	c.Code, i = d.code(r.Code, d.at("code"), SystemICD10, true)
	if i >= 0 {
		c.Display = r.Code.Coding[i].Display
		if c.Code != "" && !ehr.ValidICD10(c.Code) {
			d.add(IssueCodeInvalid, d.at("code", "coding", i, "code"), "%q is not an ICD-10 code", c.Code)
		}
	}
	c.PatientID = d.ref(r.Subject, d.at("subject"), "Patient", true)
	c.EncounterID = d.ref(r.Encounter, d.at("encounter"), "Encounter", false)
	c.OnsetDate = d.optDate(r.OnsetDateTime, d.at("onsetDateTime"))
	c.RecordedBy = d.user(r.Recorder, d.at("recorder"))
	c.Note = d.annotation(r.Note)
	return c, d.err()
}

// EncodeAllergy returns al as a FHIR R4 AllergyIntolerance: clinicalStatus
// and verificationStatus as for a condition, the substance as code text,
// the patient, the recorder, and one reaction with its manifestation and
// severity (mild, moderate, severe). It returns an error for an unknown
// status.
func EncodeAllergy(al ehr.Allergy) ([]byte, error) {
	if !oneOf(al.Status, "active", "inactive", "resolved", ehr.StatusEnteredInError) {
		return nil, errf("allergy %s: unknown status %q", al.ID, al.Status)
	}
	r := allergyResource{resourceBase: recordBase("AllergyIntolerance", al.ID, al.TenantID, al.Version, al.CreatedAt, al.UpdatedAt)}
	r.ClinicalStatus, r.VerificationStatus = statuses(al.Status, SystemAllergyClinical, SystemAllergyVerification)
	if al.Substance != "" {
		r.Code = &codeableConcept{Text: al.Substance}
	}
	r.Patient = ref("Patient", al.PatientID)
	r.Recorder = userRef(al.RecordedBy)
	if al.Reaction != "" || al.Severity != "" {
		m := al.Reaction
		if m == "" {
			m = ReactionNotRecorded
		}
		r.Reaction = []allergyReaction{{Manifestation: []codeableConcept{{Text: m}}, Severity: al.Severity}}
	}
	return json.Marshal(r)
}

// DecodeAllergy maps a FHIR R4 AllergyIntolerance to an ehr.Allergy, the
// inverse of EncodeAllergy. It returns an *OperationOutcome.
func DecodeAllergy(data []byte) (ehr.Allergy, error) {
	var r allergyResource
	if err := decodeStrict(data, "AllergyIntolerance", &r); err != nil {
		return ehr.Allergy{}, err
	}
	d := decoder{rt: "AllergyIntolerance"}
	var al ehr.Allergy
	d.base(r.resourceBase, &al.ID, &al.TenantID, &al.Version, &al.CreatedAt, &al.UpdatedAt)
	al.Status = d.statuses(r.ClinicalStatus, r.VerificationStatus, SystemAllergyClinical, SystemAllergyVerification, []string{"active", "inactive", "resolved"})
	if r.Code == nil || r.Code.Text == "" {
		d.add(IssueRequired, d.at("code", "text"), "the substance is required as code.text")
	} else {
		al.Substance = r.Code.Text
	}
	al.PatientID = d.ref(r.Patient, d.at("patient"), "Patient", true)
	al.RecordedBy = d.user(r.Recorder, d.at("recorder"))
	if len(r.Reaction) > 1 {
		d.add(IssueNotSupported, d.at("reaction", 1), "only one reaction is supported")
	}
	if len(r.Reaction) > 0 {
		re := r.Reaction[0]
		if len(re.Manifestation) > 1 {
			d.add(IssueNotSupported, d.at("reaction", 0, "manifestation", 1), "only one manifestation is supported")
		}
		if al.Reaction = re.Manifestation[0].Text; al.Reaction == ReactionNotRecorded {
			al.Reaction = ""
		}
		if !oneOf(re.Severity, "", "mild", "moderate", "severe") {
			d.add(IssueCodeInvalid, d.at("reaction", 0, "severity"), "%q is not mild, moderate or severe", re.Severity)
		}
		al.Severity = re.Severity
	}
	return al, d.err()
}

var medicationStatuses = []string{"active", "on-hold", "cancelled", "completed", ehr.StatusEnteredInError, "stopped", "draft", "unknown"}

// EncodeMedication returns m as a FHIR R4 MedicationRequest (intent order):
// status, the medication as text, subject, encounter, authoredOn (when it
// was created), the prescriber as requester, the note, and one dosage
// instruction: the dose as doseQuantity (with its UCUM code when known),
// the route, the frequency as timing text, and StartsOn..EndsOn as the
// timing's bounds. It returns an error for an unknown status.
func EncodeMedication(m ehr.MedicationRequest) ([]byte, error) {
	if !oneOf(m.Status, medicationStatuses...) {
		return nil, errf("medication request %s: unknown status %q", m.ID, m.Status)
	}
	r := medicationRequestResource{resourceBase: recordBase("MedicationRequest", m.ID, m.TenantID, m.Version, m.CreatedAt, m.UpdatedAt)}
	r.Status, r.Intent = m.Status, "order"
	if m.Medication != "" {
		r.MedicationCodeableConcept = &codeableConcept{Text: m.Medication}
	}
	r.Subject = ref("Patient", m.PatientID)
	r.Encounter = ref("Encounter", m.EncounterID)
	r.AuthoredOn = instant(m.CreatedAt)
	r.Requester = userRef(m.PrescriberID)
	r.Note = annotations(m.Note)
	var ds dosage
	if m.Route != "" {
		ds.Route = &codeableConcept{Text: m.Route}
	}
	if m.Frequency != "" || m.StartsOn != nil || m.EndsOn != nil {
		ds.Timing = &timing{}
		if m.Frequency != "" {
			ds.Timing.Code = &codeableConcept{Text: m.Frequency}
		}
		if m.StartsOn != nil || m.EndsOn != nil {
			ds.Timing.Repeat = &timingRepeat{BoundsPeriod: &period{Start: datep(m.StartsOn), End: datep(m.EndsOn)}}
		}
	}
	if m.Dose != 0 || m.DoseUnit != "" {
		ds.DoseAndRate = []doseAndRate{{DoseQuantity: obsQuantity(m.Dose, m.DoseUnit)}}
	}
	if ds.Route != nil || ds.Timing != nil || ds.DoseAndRate != nil {
		r.DosageInstruction = []dosage{ds}
	}
	return json.Marshal(r)
}

// DecodeMedication maps a FHIR R4 MedicationRequest to an
// ehr.MedicationRequest, the inverse of EncodeMedication. Only intent
// order and a medication given as text are accepted. It returns an
// *OperationOutcome.
func DecodeMedication(data []byte) (ehr.MedicationRequest, error) {
	var r medicationRequestResource
	if err := decodeStrict(data, "MedicationRequest", &r); err != nil {
		return ehr.MedicationRequest{}, err
	}
	d := decoder{rt: "MedicationRequest"}
	var m ehr.MedicationRequest
	d.base(r.resourceBase, &m.ID, &m.TenantID, &m.Version, &m.CreatedAt, &m.UpdatedAt)
	if !oneOf(r.Status, medicationStatuses...) {
		d.add(IssueCodeInvalid, d.at("status"), "%q is not a medication request status", r.Status)
	} else if oneOf(r.Status, "draft", "unknown") {
		d.add(IssueNotSupported, d.at("status"), "Historia does not store %s medication requests", r.Status)
	}
	m.Status = r.Status
	if r.Intent != "order" {
		if oneOf(r.Intent, "proposal", "plan", "original-order", "reflex-order", "filler-order", "instance-order", "option") {
			d.add(IssueNotSupported, d.at("intent"), "Historia stores orders, not %q", r.Intent)
		} else {
			d.add(IssueCodeInvalid, d.at("intent"), "%q is not a medication request intent", r.Intent)
		}
	}
	if r.MedicationCodeableConcept == nil || r.MedicationCodeableConcept.Text == "" {
		d.add(IssueRequired, d.at("medicationCodeableConcept", "text"), "the medication is required as text")
	} else {
		m.Medication = r.MedicationCodeableConcept.Text
	}
	m.PatientID = d.ref(r.Subject, d.at("subject"), "Patient", true)
	m.EncounterID = d.ref(r.Encounter, d.at("encounter"), "Encounter", false)
	if m.CreatedAt.IsZero() {
		m.CreatedAt = d.instant(r.AuthoredOn, d.at("authoredOn"))
	}
	m.PrescriberID = d.user(r.Requester, d.at("requester"))
	m.Note = d.annotation(r.Note)
	if len(r.DosageInstruction) > 1 {
		d.add(IssueNotSupported, d.at("dosageInstruction", 1), "only one dosage instruction is supported")
	}
	if len(r.DosageInstruction) > 0 {
		ds, loc := r.DosageInstruction[0], d.at("dosageInstruction", 0)
		if ds.Route != nil {
			m.Route = ds.Route.Text
		}
		if t := ds.Timing; t != nil {
			if t.Code != nil {
				m.Frequency = t.Code.Text
			}
			if t.Repeat != nil && t.Repeat.BoundsPeriod != nil {
				m.StartsOn = d.optDate(t.Repeat.BoundsPeriod.Start, path(loc, "timing", "repeat", "boundsPeriod", "start"))
				m.EndsOn = d.optDate(t.Repeat.BoundsPeriod.End, path(loc, "timing", "repeat", "boundsPeriod", "end"))
			}
		}
		if len(ds.DoseAndRate) > 1 {
			d.add(IssueNotSupported, path(loc, "doseAndRate", 1), "only one dose is supported")
		}
		if len(ds.DoseAndRate) > 0 && ds.DoseAndRate[0].DoseQuantity != nil {
			v, unit := d.quantity(ds.DoseAndRate[0].DoseQuantity, path(loc, "doseAndRate", 0, "doseQuantity"), "", false)
			if v != nil {
				m.Dose = *v
			}
			m.DoseUnit = unit
		}
	}
	return m, d.err()
}
