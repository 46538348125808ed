package fhir

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/historiaehr/historia/ehr"
)

// ExtSignedAt carries when a note was signed (valueInstant); the signer is
// DocumentReference.authenticator.
const ExtSignedAt = Base + "/StructureDefinition/signed-at"

// NoteContentType is the content type of a note's text attachment.
const NoteContentType = "text/plain; charset=utf-8"

// CodeNote is the LOINC code of a generic clinical note (34109-9 "Note"),
// the DocumentReference.type of every note.
const CodeNote = "34109-9"

// EncodeNote returns n as a FHIR R4 DocumentReference: status current (or
// entered-in-error), docStatus preliminary (draft), final (signed) or
// amended, type LOINC 34109-9, subject, date (created), author,
// authenticator (the signer) and ExtSignedAt, the title as description,
// the body as a text/plain attachment (base64, UTF-8) titled with the
// title, and the encounter as context.
func EncodeNote(n ehr.Note) ([]byte, error) {
	r := documentReferenceResource{resourceBase: recordBase("DocumentReference", n.ID, n.TenantID, n.Version, n.CreatedAt, n.UpdatedAt)}
	if n.SignedAt != nil {
		r.Extension = append(r.Extension, extension{URL: ExtSignedAt, ValueInstant: strp(instant(*n.SignedAt))})
	}
	r.Status = "current"
	switch n.Status {
	case ehr.NoteDraft:
		r.DocStatus = "preliminary"
	case ehr.NoteSigned:
		r.DocStatus = "final"
	case ehr.NoteAmended:
		r.DocStatus = "amended"
	case ehr.StatusEnteredInError:
		r.Status = ehr.StatusEnteredInError
	default:
		return nil, errf("note %s: status %q has no FHIR docStatus", n.ID, n.Status)
	}
	r.Type = &codeableConcept{Coding: []coding{{System: SystemLOINC, Code: CodeNote, Display: "Note"}}}
	r.Subject = ref("Patient", n.PatientID)
	r.Date = instant(n.CreatedAt)
	if a := userRef(n.AuthorID); a != nil {
		r.Author = []reference{*a}
	}
	r.Authenticator = userRef(n.SignedBy)
	r.Description = n.Title
	r.Content = []docContent{{Attachment: attachment{ContentType: NoteContentType, Title: n.Title}}}
	if n.Body != "" {
		r.Content[0].Attachment.Data = base64.StdEncoding.EncodeToString([]byte(n.Body))
	}
	if e := ref("Encounter", n.EncounterID); e != nil {
		r.Context = &docContext{Encounter: []reference{*e}}
	}
	return json.Marshal(r)
}

// DecodeNote maps a FHIR R4 DocumentReference to an ehr.Note, the inverse
// of EncodeNote. The content must be one text/plain attachment with its
// data inline. It returns an *OperationOutcome.
func DecodeNote(data []byte) (ehr.Note, error) {
	var r documentReferenceResource
	if err := decodeStrict(data, "DocumentReference", &r); err != nil {
		return ehr.Note{}, err
	}
	d := decoder{rt: "DocumentReference", own: []string{ExtSignedAt}}
	var n ehr.Note
	d.base(r.resourceBase, &n.ID, &n.TenantID, &n.Version, &n.CreatedAt, &n.UpdatedAt)
	for i, e := range r.Extension {
		if e.URL == ExtSignedAt {
			loc := d.at("extension", i, "valueInstant")
			if t := d.instant(d.extString(e, e.ValueInstant, d.at("extension", i), "valueInstant"), loc); !t.IsZero() {
				n.SignedAt = &t
			}
		}
	}
	docStatus := map[string]string{"preliminary": ehr.NoteDraft, "final": ehr.NoteSigned, "amended": ehr.NoteAmended}
	switch r.Status {
	case "current":
		if n.Status = docStatus[r.DocStatus]; n.Status == "" {
			if r.DocStatus == "" || r.DocStatus == ehr.StatusEnteredInError {
				d.add(IssueRequired, d.at("docStatus"), "preliminary, final or amended is required")
			} else {
				d.add(IssueCodeInvalid, d.at("docStatus"), "%q is not a composition status", r.DocStatus)
			}
		}
	case ehr.StatusEnteredInError:
		n.Status = ehr.StatusEnteredInError
	case "superseded":
		d.add(IssueNotSupported, d.at("status"), "Historia keeps versions, not superseded documents")
	default:
		d.add(IssueCodeInvalid, d.at("status"), "%q is not a document reference status", r.Status)
	}
	if r.Type != nil {
		d.code(r.Type, d.at("type"), SystemLOINC, false)
	}
	n.PatientID = d.ref(r.Subject, d.at("subject"), "Patient", true)
	if n.CreatedAt.IsZero() {
		n.CreatedAt = d.instant(r.Date, d.at("date"))
	}
	if len(r.Author) > 1 {
		d.add(IssueNotSupported, d.at("author", 1), "only one author is supported")
	}
	if len(r.Author) > 0 {
		n.AuthorID = d.user(&r.Author[0], d.at("author", 0))
	}
	n.SignedBy = d.user(r.Authenticator, d.at("authenticator"))
	n.Title = r.Description
	if len(r.Content) != 1 {
		d.add(IssueNotSupported, d.at("content", 1), "exactly one content is supported")
	}
	if len(r.Content) > 0 {
		a, loc := r.Content[0].Attachment, d.at("content", 0, "attachment")
		if mt, _, _ := strings.Cut(a.ContentType, ";"); strings.TrimSpace(mt) != "text/plain" {
			d.add(IssueNotSupported, path(loc, "contentType"), "only text/plain notes are supported")
		}
		if n.Title == "" {
			n.Title = a.Title
		}
		if a.Data != "" {
			body, err := base64.StdEncoding.DecodeString(a.Data)
			if err != nil {
				d.add(IssueValue, path(loc, "data"), "is not base64")
			}
			n.Body = string(body)
		}
	}
	if r.Context != nil {
		if len(r.Context.Encounter) > 1 {
			d.add(IssueNotSupported, d.at("context", "encounter", 1), "only one encounter is supported")
		}
		if len(r.Context.Encounter) > 0 {
			n.EncounterID = d.ref(&r.Context.Encounter[0], d.at("context", "encounter", 0), "Encounter", true)
		}
	}
	return n, d.err()
}
