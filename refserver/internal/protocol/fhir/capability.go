package fhir

import (
	"net/http"
	"slices"
	"strings"
	"time"

	r4 "github.com/historiaehr/historia/fhir"
)

// paramDef is a search parameter as the CapabilityStatement declares it.
type paramDef struct {
	Name string `json:"name"`
	// Type is the FHIR search parameter type: string, token, date,
	// reference, number, uri.
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

// paramDocs documents the search parameters whose meaning is Historia's
// own choice (the rest mean what R4 defines).
var paramDocs = map[string]string{
	"Patient.name":                 "any word of the given or family names starts with the value, ignoring case and accents; :exact, :contains",
	"Patient.family":               "a word of the family names starts with the value, ignoring case and accents; :exact, :contains",
	"Patient.given":                "a word of the given names starts with the value, ignoring case and accents; :exact, :contains",
	"Patient.identifier":           "system|value: the identity document (system " + r4.SystemDocumentPrefix + "<type>) or another identifier (" + r4.SystemIdentifierPrefix + "<name>)",
	"patient":                      "the patient (Patient/[id]); patient or subject is required unless _id is given",
	"subject":                      "the same as patient",
	"date":                         "the record's clinical date, with the prefixes eq, ne, lt, le, gt, ge, sa, eb",
	"_lastUpdated":                 "when the record last changed, with the prefixes eq, lt, le, gt, ge (and ne but on Patient)",
	"DocumentReference.doc-status": "the note's docStatus: preliminary, final, amended",
	"Appointment.date":             "without patient: the agenda between two dates (at most 62 days), optionally of one practitioner",
}

// paramsOf returns the search parameters type t declares: exactly those
// its search takes (searchParamsByType), sorted by name.
func paramsOf(t *resourceType) []paramDef {
	var out []paramDef
	for name, spec := range searchParamsByType[t.Name] {
		d := paramDef{Name: name, Type: map[paramKind]string{kindString: "string", kindToken: "token", kindDate: "date", kindReference: "reference"}[spec.kind]}
		d.Documentation = paramDocs[t.Name+"."+name]
		if d.Documentation == "" {
			d.Documentation = paramDocs[name]
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b paramDef) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// includesOf returns the _include values type t's search takes: its
// reference parameters that name a Patient or a Practitioner.
func includesOf(t *resourceType) []string {
	var out []string
	for name := range searchParamsByType[t.Name] {
		if _, ok, _ := parseInclude(t, t.Name+":"+name); ok {
			out = append(out, t.Name+":"+name)
		}
	}
	slices.Sort(out)
	return out
}

// revIncludes are the _revinclude values of a Patient search.
func revIncludes() []string {
	pt, _ := typeNamed("Patient")
	var out []string
	for _, t := range types {
		for name := range searchParamsByType[t.Name] {
			if _, ok, _ := parseRevinclude(pt, t.Name+":"+name); ok {
				out = append(out, t.Name+":"+name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// bulkData is the canonical base of the FHIR Bulk Data Access IG.
const bulkData = "http://hl7.org/fhir/uv/bulkdata"

// capability is the CapabilityStatement, built from the routes.
type capability struct {
	ResourceType   string       `json:"resourceType"`
	Status         string       `json:"status"`
	Date           string       `json:"date"`
	Kind           string       `json:"kind"`
	Instantiates   []string     `json:"instantiates,omitempty"`
	Software       *capSoftware `json:"software,omitempty"`
	Implementation *capImpl     `json:"implementation,omitempty"`
	FHIRVersion    string       `json:"fhirVersion"`
	Format         []string     `json:"format"`
	Rest           []capRest    `json:"rest"`
}

type capSoftware struct {
	Name string `json:"name"`
}

type capImpl struct {
	Description string `json:"description"`
	URL         string `json:"url,omitempty"`
}

type capRest struct {
	Mode          string           `json:"mode"`
	Documentation string           `json:"documentation,omitempty"`
	Security      *capSecurity     `json:"security,omitempty"`
	Resource      []capResource    `json:"resource"`
	Interaction   []capInteraction `json:"interaction,omitempty"`
	Operation     []capOperation   `json:"operation,omitempty"`
}

type capSecurity struct {
	Service     []codeableConcept `json:"service,omitempty"`
	Description string            `json:"description,omitempty"`
}

type capResource struct {
	Type              string           `json:"type"`
	Documentation     string           `json:"documentation,omitempty"`
	Interaction       []capInteraction `json:"interaction,omitempty"`
	Versioning        string           `json:"versioning"`
	ReadHistory       bool             `json:"readHistory"`
	UpdateCreate      bool             `json:"updateCreate"`
	ConditionalCreate bool             `json:"conditionalCreate,omitempty"`
	ConditionalUpdate bool             `json:"conditionalUpdate"`
	ConditionalDelete string           `json:"conditionalDelete"`
	SearchInclude     []string         `json:"searchInclude,omitempty"`
	SearchRevInclude  []string         `json:"searchRevInclude,omitempty"`
	SearchParam       []paramDef       `json:"searchParam,omitempty"`
	Operation         []capOperation   `json:"operation,omitempty"`
}

type capInteraction struct {
	Code          string `json:"code"`
	Documentation string `json:"documentation,omitempty"`
}

type capOperation struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

// capabilityOf builds the statement from the routed interactions.
func capabilityOf(routes []route) capability {
	st := capability{ResourceType: "CapabilityStatement", Status: "active", Date: time.Now().UTC().Format("2006-01-02"),
		Kind: "instance", Software: &capSoftware{Name: "Historia"}, FHIRVersion: "4.0.1", Format: []string{"json"},
		Implementation: &capImpl{Description: "Historia reference server, FHIR R4 API"}}
	rest := capRest{Mode: "server",
		Documentation: "Records are never deleted: DELETE answers 405; mark a record entered-in-error with an update instead.",
		Security: &capSecurity{Service: []codeableConcept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/restful-security-service", Code: "OAuth"}}}},
			Description: "Bearer access tokens from POST /auth (OAuth2 password grant, with the MFA step when enrolled); session cookies are not accepted. Every read and write is authorized by the role policy and audited on the patient's hash chain."}}
	for _, t := range types {
		res := capResource{Type: t.Name, Versioning: "versioned", ConditionalDelete: "not-supported"}
		for _, rt := range routes {
			if rt.Type != t.Name || rt.Interaction == "delete" {
				continue
			}
			if rt.Interaction == "export" {
				res.Operation = append(res.Operation, capOperation{Name: "export", Definition: bulkData + "/OperationDefinition/patient-export"})
				continue
			}
			if rt.Interaction == "operation" {
				if !slices.ContainsFunc(res.Operation, func(o capOperation) bool { return o.Name == "everything" }) {
					res.Operation = append(res.Operation, capOperation{Name: "everything", Definition: "http://hl7.org/fhir/OperationDefinition/Patient-everything"})
				}
				continue
			}
			if !slices.ContainsFunc(res.Interaction, func(i capInteraction) bool { return i.Code == rt.Interaction }) {
				res.Interaction = append(res.Interaction, capInteraction{Code: rt.Interaction})
			}
			switch rt.Interaction {
			case "vread", "history-instance":
				res.ReadHistory = true
			case "search-type":
				res.SearchParam = paramsOf(t)
				res.SearchInclude = includesOf(t)
				if t.Name == "Patient" {
					res.SearchRevInclude = revIncludes()
				}
			case "create":
				res.ConditionalCreate = t.Name == "Patient" || t.Name == "Practitioner"
			}
		}
		if !res.ReadHistory {
			res.Versioning = "versioned-update"
		}
		rest.Resource = append(rest.Resource, res)
	}
	for _, rt := range routes {
		if rt.Type == "" && rt.Interaction == "transaction" && len(rest.Interaction) == 0 {
			rest.Interaction = append(rest.Interaction, capInteraction{Code: "transaction"}, capInteraction{Code: "batch"})
		}
		// FHIR Bulk Data $export (export.go): the system level, and the
		// Group level on a resource of its own (Historia's groups are
		// virtual: the resource has no other interaction).
		switch {
		case rt.Type == "" && rt.Interaction == "export":
			rest.Operation = append(rest.Operation, capOperation{Name: "export", Definition: bulkData + "/OperationDefinition/export"})
			st.Instantiates = []string{bulkData + "/CapabilityStatement/bulk-data"}
		case rt.Type == "Group" && rt.Interaction == "export":
			rest.Resource = append(rest.Resource, capResource{Type: "Group", Versioning: "no-version", ConditionalDelete: "not-supported",
				Documentation: "Groups are not stored: Group/my-patients (the caller's care-team patients) and Group/ward-[ward] (the patients admitted to a ward) answer $export; any other id is not found.",
				Operation:     []capOperation{{Name: "export", Definition: bulkData + "/OperationDefinition/group-export"}}})
		}
	}
	st.Rest = []capRest{rest}
	return st
}

// metadata is GET /metadata: the CapabilityStatement, public as FHIR
// requires (it describes the server, not its records).
func (x *server) metadata(w http.ResponseWriter, r *http.Request) error {
	st := capabilityOf(x.routes)
	st.Implementation.URL = baseURL(r)
	writeJSON(w, http.StatusOK, st)
	return nil
}
