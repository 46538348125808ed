package fhir

import (
	"encoding/json"
	"strings"

	"github.com/historiaehr/historia/ehr"
)

// EncodePatient returns p as a FHIR R4 Patient: the identity document as
// the official identifier (system DocumentSystem(p.DocumentType)), the other
// identifiers under SystemIdentifierPrefix, the official name, gender,
// birthDate, telecom (phone, email), the address as text, the emergency
// contact as a contact with relationship C (v2-0131), and active false for
// a patient entered in error.
//
// It returns an error for a sex that is not an administrative gender.
func EncodePatient(p ehr.Patient) ([]byte, error) {
	r := patientResource{resourceBase: recordBase("Patient", p.ID, p.TenantID, p.Version, p.CreatedAt, p.UpdatedAt)}
	if p.DocumentType != "" || p.DocumentNumber != "" {
		doc := identifier{Use: "official", System: DocumentSystem(p.DocumentType), Value: p.DocumentNumber}
		if name, ok := documentTypes[p.DocumentType]; ok {
			doc.Type = &codeableConcept{Text: name}
		}
		if p.DocumentType == "PA" || p.DocumentType == "PASSPORT" {
			doc.Type.Coding = []coding{{System: SystemV20203, Code: "PPN", Display: "Passport number"}}
		}
		r.Identifier = append(r.Identifier, doc)
	}
	for _, id := range p.Identifiers {
		r.Identifier = append(r.Identifier, identifier{Use: "secondary", System: SystemIdentifierPrefix + id.System, Value: id.Value})
	}
	active := p.Status != ehr.StatusEnteredInError
	r.Active = &active
	if n := (humanName{Use: "official", Family: p.FamilyNames, Given: strings.Fields(p.GivenNames)}); n.Family != "" || len(n.Given) > 0 {
		r.Name = []humanName{n}
	}
	switch p.Sex {
	case "", ehr.SexFemale, ehr.SexMale, ehr.SexOther, ehr.SexUnknown:
		r.Gender = p.Sex
	default:
		return nil, errf("patient %s: sex %q is not an administrative gender", p.ID, p.Sex)
	}
	r.BirthDate = date(p.BirthDate)
	if p.Contact.Phone != "" {
		r.Telecom = append(r.Telecom, contactPoint{System: "phone", Value: p.Contact.Phone})
	}
	if p.Contact.Email != "" {
		r.Telecom = append(r.Telecom, contactPoint{System: "email", Value: p.Contact.Email})
	}
	if p.Contact.Address != "" {
		r.Address = []address{{Text: p.Contact.Address}}
	}
	if e := p.Emergency; e != (ehr.EmergencyContact{}) {
		c := patientContact{Relationship: []codeableConcept{{
			Coding: []coding{{System: SystemV20131, Code: "C", Display: "Emergency Contact"}},
			Text:   e.Relationship,
		}}}
		if e.Name != "" {
			c.Name = &humanName{Text: e.Name}
		}
		if e.Phone != "" {
			c.Telecom = []contactPoint{{System: "phone", Value: e.Phone}}
		}
		r.Contact = []patientContact{c}
	}
	return json.Marshal(r)
}

// DecodePatient maps a FHIR R4 Patient to an ehr.Patient, the inverse of
// EncodePatient. Exactly one identifier must be an identity document
// (system under SystemDocumentPrefix); others must be under
// SystemIdentifierPrefix. At most one name, one address, one phone, one
// email and one contact (the emergency contact) are accepted.
//
// It returns an *OperationOutcome (wrapping ErrInvalid) naming every
// problem. The result is not validated against ehr's rules (lengths,
// birth date range): the Repository does that when it is stored.
func DecodePatient(data []byte) (ehr.Patient, error) {
	var r patientResource
	if err := decodeStrict(data, "Patient", &r); err != nil {
		return ehr.Patient{}, err
	}
	d := decoder{rt: "Patient"}
	var p ehr.Patient
	d.base(r.resourceBase, &p.ID, &p.TenantID, &p.Version, &p.CreatedAt, &p.UpdatedAt)
	p.Identifiers = []ehr.Identifier{}
	docs := 0
	for i, id := range r.Identifier {
		loc := d.at("identifier", i)
		switch {
		case strings.HasPrefix(id.System, SystemDocumentPrefix):
			docs++
			p.DocumentType, p.DocumentNumber = strings.TrimPrefix(id.System, SystemDocumentPrefix), id.Value
			if docs > 1 {
				d.add(IssueNotSupported, path(loc, "system"), "a second identity document")
			}
		case strings.HasPrefix(id.System, SystemIdentifierPrefix):
			p.Identifiers = append(p.Identifiers, ehr.Identifier{System: strings.TrimPrefix(id.System, SystemIdentifierPrefix), Value: id.Value})
		default:
			d.add(IssueNotSupported, path(loc, "system"), "identifier system %q is not a Historia document or identifier system", id.System)
		}
		if id.Value == "" {
			d.add(IssueRequired, path(loc, "value"), "is required")
		}
	}
	if docs == 0 {
		d.add(IssueRequired, d.at("identifier"), "an identifier with a system under %s (the identity document) is required", SystemDocumentPrefix)
	}
	p.Status = "active"
	if r.Active != nil && !*r.Active {
		p.Status = ehr.StatusEnteredInError
	}
	if len(r.Name) > 1 {
		d.add(IssueNotSupported, d.at("name", 1), "only one name is supported")
	}
	if len(r.Name) > 0 {
		n := r.Name[0]
		if n.Text != "" && n.Family == "" && len(n.Given) == 0 {
			d.add(IssueNotSupported, d.at("name", 0, "text"), "give family and given, not only text")
		}
		p.FamilyNames, p.GivenNames = n.Family, strings.Join(n.Given, " ")
	}
	switch r.Gender {
	case "", ehr.SexFemale, ehr.SexMale, ehr.SexOther, ehr.SexUnknown:
		p.Sex = r.Gender
	default:
		d.add(IssueCodeInvalid, d.at("gender"), "%q is not an administrative gender (male, female, other, unknown)", r.Gender)
	}
	p.BirthDate = d.date(r.BirthDate, d.at("birthDate"))
	d.telecom(r.Telecom, d.at("telecom"), &p.Contact.Phone, &p.Contact.Email)
	if len(r.Address) > 1 {
		d.add(IssueNotSupported, d.at("address", 1), "only one address is supported")
	}
	if len(r.Address) > 0 {
		p.Contact.Address = r.Address[0].Text
	}
	if len(r.Contact) > 1 {
		d.add(IssueNotSupported, d.at("contact", 1), "only one contact (the emergency contact) is supported")
	}
	if len(r.Contact) > 0 {
		c, loc := r.Contact[0], d.at("contact", 0)
		if len(c.Relationship) != 1 {
			d.add(IssueRequired, path(loc, "relationship"), "one relationship with code C of %s is required", SystemV20131)
		} else {
			d.code(&c.Relationship[0], path(loc, "relationship", 0), SystemV20131, true, "C")
			p.Emergency.Relationship = c.Relationship[0].Text
		}
		if c.Name != nil {
			p.Emergency.Name = c.Name.Text
		}
		var email string
		d.telecom(c.Telecom, path(loc, "telecom"), &p.Emergency.Phone, &email)
		if email != "" {
			d.add(IssueNotSupported, path(loc, "telecom"), "the emergency contact has no email")
		}
	}
	return p, d.err()
}

// telecom reads at most one phone and one email.
func (d *decoder) telecom(cps []contactPoint, loc string, phone, email *string) {
	for i, cp := range cps {
		var dst *string
		switch cp.System {
		case "phone":
			dst = phone
		case "email":
			dst = email
		case "fax", "pager", "url", "sms", "other":
			d.add(IssueNotSupported, path(loc, i, "system"), "only phone and email are supported")
			continue
		default:
			d.add(IssueCodeInvalid, path(loc, i, "system"), "%q is not a contact point system", cp.System)
			continue
		}
		if *dst != "" {
			d.add(IssueNotSupported, path(loc, i), "only one %s is supported", cp.System)
		}
		*dst = cp.Value
	}
}

// EncodePractitioner returns pr as a FHIR R4 Practitioner: the staff user
// id and the licence as identifiers, the name as text, active, and the
// specialty as a qualification.
func EncodePractitioner(pr ehr.Practitioner) ([]byte, error) {
	r := practitionerResource{resourceBase: recordBase("Practitioner", pr.ID, pr.TenantID, pr.Version, pr.CreatedAt, pr.UpdatedAt)}
	if pr.UserID != "" {
		r.Identifier = append(r.Identifier, identifier{Use: "usual", System: SystemUser, Value: pr.UserID})
	}
	if pr.License != "" {
		r.Identifier = append(r.Identifier, identifier{Use: "official", System: SystemLicense, Value: pr.License})
	}
	r.Active = &pr.Active
	if pr.Name != "" {
		r.Name = []humanName{{Text: pr.Name}}
	}
	if pr.Specialty != "" {
		r.Qualification = []qualification{{Code: codeableConcept{Coding: []coding{{System: SystemSpecialty, Code: pr.Specialty}}, Text: pr.Specialty}}}
	}
	return json.Marshal(r)
}

// DecodePractitioner maps a FHIR R4 Practitioner to an ehr.Practitioner,
// the inverse of EncodePractitioner. It returns an *OperationOutcome.
func DecodePractitioner(data []byte) (ehr.Practitioner, error) {
	var r practitionerResource
	if err := decodeStrict(data, "Practitioner", &r); err != nil {
		return ehr.Practitioner{}, err
	}
	d := decoder{rt: "Practitioner"}
	var pr ehr.Practitioner
	d.base(r.resourceBase, &pr.ID, &pr.TenantID, &pr.Version, &pr.CreatedAt, &pr.UpdatedAt)
	for i, id := range r.Identifier {
		switch id.System {
		case SystemUser:
			pr.UserID = id.Value
		case SystemLicense:
			pr.License = id.Value
		default:
			d.add(IssueNotSupported, d.at("identifier", i, "system"), "identifier system %q is not %s or %s", id.System, SystemUser, SystemLicense)
		}
	}
	pr.Active = r.Active == nil || *r.Active
	if len(r.Name) > 1 {
		d.add(IssueNotSupported, d.at("name", 1), "only one name is supported")
	}
	if len(r.Name) > 0 {
		n := r.Name[0]
		pr.Name = n.Text
		if pr.Name == "" {
			pr.Name = strings.TrimSpace(strings.Join(n.Given, " ") + " " + n.Family)
		}
	}
	if len(r.Qualification) > 1 {
		d.add(IssueNotSupported, d.at("qualification", 1), "only one qualification (the specialty) is supported")
	}
	if len(r.Qualification) > 0 {
		q := r.Qualification[0]
		pr.Specialty = q.Code.Text
		if c, _ := d.code(&q.Code, d.at("qualification", 0, "code"), SystemSpecialty, false); pr.Specialty == "" {
			pr.Specialty = c
		}
	}
	return pr, d.err()
}
