package fhir

import "encoding/json"

// The FHIR R4 data types and resources Historia emits, with the elements it
// uses and no others. They are unexported: the API maps between ehr records
// and JSON, and the strict decoder (strict.go) rejects any element not
// declared here.

type meta struct {
	VersionID   string   `json:"versionId,omitempty"`
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Profile     []string `json:"profile,omitempty"`
}

type extension struct {
	URL               string       `json:"url"`
	ValueString       *string      `json:"valueString,omitempty"`
	ValueID           *string      `json:"valueId,omitempty"`
	ValueInstant      *string      `json:"valueInstant,omitempty"`
	ValueInteger      *int64       `json:"valueInteger,omitempty"`
	ValueDecimal      *json.Number `json:"valueDecimal,omitempty"`
	ValueBase64Binary *string      `json:"valueBase64Binary,omitempty"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	Use    string           `json:"use,omitempty"`
	Type   *codeableConcept `json:"type,omitempty"`
	System string           `json:"system,omitempty"`
	Value  string           `json:"value,omitempty"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type humanName struct {
	Use    string   `json:"use,omitempty"`
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

type contactPoint struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
	Use    string `json:"use,omitempty"`
}

type address struct {
	Text string `json:"text,omitempty"`
}

type period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type quantity struct {
	Value  *json.Number `json:"value,omitempty"`
	Unit   string       `json:"unit,omitempty"`
	System string       `json:"system,omitempty"`
	Code   string       `json:"code,omitempty"`
}

type annotation struct {
	Text string `json:"text"`
}

// resourceBase holds the elements every resource Historia emits has.
type resourceBase struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id,omitempty"`
	Meta         *meta       `json:"meta,omitempty"`
	Extension    []extension `json:"extension,omitempty"`
}

type patientContact struct {
	Relationship []codeableConcept `json:"relationship,omitempty"`
	Name         *humanName        `json:"name,omitempty"`
	Telecom      []contactPoint    `json:"telecom,omitempty"`
}

type patientResource struct {
	resourceBase
	Identifier []identifier     `json:"identifier,omitempty"`
	Active     *bool            `json:"active,omitempty"`
	Name       []humanName      `json:"name,omitempty"`
	Telecom    []contactPoint   `json:"telecom,omitempty"`
	Gender     string           `json:"gender,omitempty"`
	BirthDate  string           `json:"birthDate,omitempty"`
	Address    []address        `json:"address,omitempty"`
	Contact    []patientContact `json:"contact,omitempty"`
}

type qualification struct {
	Identifier []identifier    `json:"identifier,omitempty"`
	Code       codeableConcept `json:"code"`
}

type practitionerResource struct {
	resourceBase
	Identifier    []identifier    `json:"identifier,omitempty"`
	Active        *bool           `json:"active,omitempty"`
	Name          []humanName     `json:"name,omitempty"`
	Qualification []qualification `json:"qualification,omitempty"`
}

type observationComponent struct {
	Extension     []extension     `json:"extension,omitempty"`
	Code          codeableConcept `json:"code"`
	ValueQuantity *quantity       `json:"valueQuantity,omitempty"`
}

type observationResource struct {
	resourceBase
	Status            string                 `json:"status"`
	Category          []codeableConcept      `json:"category,omitempty"`
	Code              codeableConcept        `json:"code"`
	Subject           *reference             `json:"subject,omitempty"`
	Encounter         *reference             `json:"encounter,omitempty"`
	EffectiveDateTime string                 `json:"effectiveDateTime,omitempty"`
	Performer         []reference            `json:"performer,omitempty"`
	ValueQuantity     *quantity              `json:"valueQuantity,omitempty"`
	ValueString       *string                `json:"valueString,omitempty"`
	Note              []annotation           `json:"note,omitempty"`
	Component         []observationComponent `json:"component,omitempty"`
}

type conditionResource struct {
	resourceBase
	ClinicalStatus     *codeableConcept `json:"clinicalStatus,omitempty"`
	VerificationStatus *codeableConcept `json:"verificationStatus,omitempty"`
	Code               *codeableConcept `json:"code,omitempty"`
	Subject            *reference       `json:"subject"`
	Encounter          *reference       `json:"encounter,omitempty"`
	OnsetDateTime      string           `json:"onsetDateTime,omitempty"`
	Recorder           *reference       `json:"recorder,omitempty"`
	Note               []annotation     `json:"note,omitempty"`
}

type allergyReaction struct {
	Manifestation []codeableConcept `json:"manifestation"`
	Severity      string            `json:"severity,omitempty"`
}

type allergyResource struct {
	resourceBase
	ClinicalStatus     *codeableConcept  `json:"clinicalStatus,omitempty"`
	VerificationStatus *codeableConcept  `json:"verificationStatus,omitempty"`
	Code               *codeableConcept  `json:"code,omitempty"`
	Patient            *reference        `json:"patient"`
	Recorder           *reference        `json:"recorder,omitempty"`
	Reaction           []allergyReaction `json:"reaction,omitempty"`
}

type timingRepeat struct {
	BoundsPeriod *period `json:"boundsPeriod,omitempty"`
}

type timing struct {
	Repeat *timingRepeat    `json:"repeat,omitempty"`
	Code   *codeableConcept `json:"code,omitempty"`
}

type doseAndRate struct {
	DoseQuantity *quantity `json:"doseQuantity,omitempty"`
}

type dosage struct {
	Text        string           `json:"text,omitempty"`
	Timing      *timing          `json:"timing,omitempty"`
	Route       *codeableConcept `json:"route,omitempty"`
	DoseAndRate []doseAndRate    `json:"doseAndRate,omitempty"`
}

type medicationRequestResource struct {
	resourceBase
	Status                    string           `json:"status"`
	Intent                    string           `json:"intent"`
	MedicationCodeableConcept *codeableConcept `json:"medicationCodeableConcept,omitempty"`
	Subject                   *reference       `json:"subject"`
	Encounter                 *reference       `json:"encounter,omitempty"`
	AuthoredOn                string           `json:"authoredOn,omitempty"`
	Requester                 *reference       `json:"requester,omitempty"`
	Note                      []annotation     `json:"note,omitempty"`
	DosageInstruction         []dosage         `json:"dosageInstruction,omitempty"`
}

type attachment struct {
	ContentType string `json:"contentType,omitempty"`
	Data        string `json:"data,omitempty"`
	Title       string `json:"title,omitempty"`
}

type docContent struct {
	Attachment attachment `json:"attachment"`
}

type docContext struct {
	Encounter []reference `json:"encounter,omitempty"`
}

type documentReferenceResource struct {
	resourceBase
	Status        string            `json:"status"`
	DocStatus     string            `json:"docStatus,omitempty"`
	Type          *codeableConcept  `json:"type,omitempty"`
	Category      []codeableConcept `json:"category,omitempty"`
	Subject       *reference        `json:"subject,omitempty"`
	Date          string            `json:"date,omitempty"`
	Author        []reference       `json:"author,omitempty"`
	Authenticator *reference        `json:"authenticator,omitempty"`
	Description   string            `json:"description,omitempty"`
	Content       []docContent      `json:"content"`
	Context       *docContext       `json:"context,omitempty"`
}

type encounterParticipant struct {
	Type       []codeableConcept `json:"type,omitempty"`
	Individual *reference        `json:"individual,omitempty"`
}

type encounterLocation struct {
	Location     reference        `json:"location"`
	PhysicalType *codeableConcept `json:"physicalType,omitempty"`
	Status       string           `json:"status,omitempty"`
	Period       *period          `json:"period,omitempty"`
}

type encounterHospitalization struct {
	DischargeDisposition *codeableConcept `json:"dischargeDisposition,omitempty"`
}

type encounterResource struct {
	resourceBase
	Status          string                    `json:"status"`
	Class           coding                    `json:"class"`
	Subject         *reference                `json:"subject,omitempty"`
	Participant     []encounterParticipant    `json:"participant,omitempty"`
	Period          *period                   `json:"period,omitempty"`
	ReasonCode      []codeableConcept         `json:"reasonCode,omitempty"`
	Hospitalization *encounterHospitalization `json:"hospitalization,omitempty"`
	Location        []encounterLocation       `json:"location,omitempty"`
}

type appointmentParticipant struct {
	Actor  *reference `json:"actor,omitempty"`
	Status string     `json:"status"`
}

type appointmentResource struct {
	resourceBase
	Status      string                   `json:"status"`
	ReasonCode  []codeableConcept        `json:"reasonCode,omitempty"`
	Start       string                   `json:"start,omitempty"`
	End         string                   `json:"end,omitempty"`
	Created     string                   `json:"created,omitempty"`
	Participant []appointmentParticipant `json:"participant"`
}

type careTeamParticipant struct {
	Role   []codeableConcept `json:"role,omitempty"`
	Member *reference        `json:"member,omitempty"`
	Period *period           `json:"period,omitempty"`
}

type careTeamResource struct {
	resourceBase
	Status      string                `json:"status,omitempty"`
	Subject     *reference            `json:"subject,omitempty"`
	Period      *period               `json:"period,omitempty"`
	Participant []careTeamParticipant `json:"participant,omitempty"`
	ReasonCode  []codeableConcept     `json:"reasonCode,omitempty"`
}

type auditAgent struct {
	Type      *codeableConcept  `json:"type,omitempty"`
	Role      []codeableConcept `json:"role,omitempty"`
	Who       *reference        `json:"who,omitempty"`
	Requestor bool              `json:"requestor"`
	Network   *auditNetwork     `json:"network,omitempty"`
}

type auditNetwork struct {
	Address string `json:"address,omitempty"`
	Type    string `json:"type,omitempty"`
}

type auditSource struct {
	Observer reference `json:"observer"`
}

type auditEntity struct {
	What *reference `json:"what,omitempty"`
	Type *coding    `json:"type,omitempty"`
}

type auditEventResource struct {
	resourceBase
	Type           coding            `json:"type"`
	Subtype        []coding          `json:"subtype,omitempty"`
	Action         string            `json:"action,omitempty"`
	Recorded       string            `json:"recorded"`
	Outcome        string            `json:"outcome,omitempty"`
	OutcomeDesc    string            `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []codeableConcept `json:"purposeOfEvent,omitempty"`
	Agent          []auditAgent      `json:"agent"`
	Source         auditSource       `json:"source"`
	Entity         []auditEntity     `json:"entity,omitempty"`
}
