package fhir

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Base is the root of the URIs Historia defines: code systems and naming
// systems under Base+"/sid/", extensions under Base+"/StructureDefinition/".
// A deployment that publishes its own profiles keeps these URIs: they name
// Historia's concepts, not a server.
const Base = "https://historia.example/fhir"

// Extension URLs Historia adds to the resources it emits.
const (
	// ExtTenant carries the record's tenant id (valueId).
	ExtTenant = Base + "/StructureDefinition/tenant"
	// ExtCreated carries when the record was created (valueInstant);
	// meta.lastUpdated carries when it last changed.
	ExtCreated = Base + "/StructureDefinition/created"
	// ExtRecordID and ExtRecordVersion name the ehr observation behind a
	// component of a blood-pressure panel (valueId, valueInteger).
	ExtRecordID      = Base + "/StructureDefinition/record-id"
	ExtRecordVersion = Base + "/StructureDefinition/record-version"
)

// Code systems and naming systems.
const (
	// SystemUser names Historia staff users (the user id of a recorder,
	// an author, a prescriber), used in logical references by identifier.
	SystemUser = Base + "/sid/user"
	// SystemDocumentPrefix + a document type ("CC") is the identifier
	// system of that kind of identity document; see DocumentSystem.
	SystemDocumentPrefix = Base + "/sid/document/"
	// SystemIdentifierPrefix + a system name ("MRN") is the identifier
	// system of a patient's other identifiers.
	SystemIdentifierPrefix = Base + "/sid/identifier/"
	// SystemLicense is the identifier system of practitioners' licences.
	SystemLicense = Base + "/sid/license"
	// SystemSpecialty is the code system of practitioners' specialties
	// (free text in ehr).
	SystemSpecialty = Base + "/sid/specialty"

	SystemLOINC       = "http://loinc.org"
	SystemUCUM        = "http://unitsofmeasure.org"
	SystemICD10       = "http://hl7.org/fhir/sid/icd-10"
	SystemActCode     = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	SystemV20203      = "http://terminology.hl7.org/CodeSystem/v2-0203"
	SystemV20131      = "http://terminology.hl7.org/CodeSystem/v2-0131"
	SystemObsCategory = "http://terminology.hl7.org/CodeSystem/observation-category"
)

// Document types Historia knows (Colombian and common international
// identity documents). ehr accepts any type of 1 to 20 letters and digits;
// DocumentSystem gives every one a system URI.
var documentTypes = map[string]string{
	"CC":       "Cédula de ciudadanía",
	"TI":       "Tarjeta de identidad",
	"CE":       "Cédula de extranjería",
	"RC":       "Registro civil de nacimiento",
	"PA":       "Pasaporte",
	"PASSPORT": "Passport",
	"DNI":      "Documento nacional de identidad",
	"NUIP":     "Número único de identificación personal",
	"PE":       "Permiso especial de permanencia",
	"PPT":      "Permiso por protección temporal",
	"AS":       "Adulto sin identificación",
	"MS":       "Menor sin identificación",
}

// DocumentSystem returns the identifier system URI of identity documents of
// type docType ("CC" gives Base+"/sid/document/CC").
func DocumentSystem(docType string) string { return SystemDocumentPrefix + docType }

// DocumentTypes returns the document types with a display name, sorted.
func DocumentTypes() []string {
	out := make([]string, 0, len(documentTypes))
	for k := range documentTypes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

const (
	instantLayout = "2006-01-02T15:04:05.999999Z07:00"
	dateLayout    = "2006-01-02"
)

func instant(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(instantLayout)
}

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(dateLayout)
}

func strp(s string) *string { return &s }

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func ref(resourceType, id string) *reference {
	if id == "" {
		return nil
	}
	return &reference{Reference: resourceType + "/" + id}
}

// userRef is a logical reference to the Historia staff user id (a
// Practitioner known by its user identifier).
func userRef(userID string) *reference {
	if userID == "" {
		return nil
	}
	return &reference{Type: "Practitioner", Identifier: &identifier{System: SystemUser, Value: userID}}
}

// recordBase is the resource base of an ehr record.
func recordBase(rt, id, tenant string, version int, created, updated time.Time, profile ...string) resourceBase {
	b := resourceBase{ResourceType: rt, ID: id}
	if version > 0 || !updated.IsZero() || len(profile) > 0 {
		b.Meta = &meta{LastUpdated: instant(updated), Profile: profile}
		if version > 0 {
			b.Meta.VersionID = strconv.Itoa(version)
		}
	}
	if tenant != "" {
		b.Extension = append(b.Extension, extension{URL: ExtTenant, ValueID: strp(tenant)})
	}
	if !created.IsZero() {
		b.Extension = append(b.Extension, extension{URL: ExtCreated, ValueInstant: strp(instant(created))})
	}
	return b
}

// decoder collects the issues of the semantic checks of one resource.
type decoder struct {
	issues
	rt string
	// own lists the extension URLs the resource's decoder reads itself;
	// base skips them.
	own []string
}

// at returns the location of an element of the resource.
func (d *decoder) at(parts ...any) string { return path(append([]any{d.rt}, parts...)...) }

var idRE = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// base reads the resource base into the record's common fields.
func (d *decoder) base(b resourceBase, id, tenant *string, version *int, created, updated *time.Time) {
	if b.ID != "" && !idRE.MatchString(b.ID) {
		d.add(IssueValue, d.at("id"), "is not a FHIR id")
	}
	*id = b.ID
	if b.Meta != nil {
		if b.Meta.VersionID != "" {
			n, err := strconv.Atoi(b.Meta.VersionID)
			if err != nil || n < 1 {
				d.add(IssueValue, d.at("meta", "versionId"), "must be a positive integer")
			}
			*version = n
		}
		*updated = d.instant(b.Meta.LastUpdated, d.at("meta", "lastUpdated"))
	}
	for i, e := range b.Extension {
		loc := d.at("extension", i)
		switch e.URL {
		case ExtTenant:
			*tenant = d.extString(e, e.ValueID, loc, "valueId")
		case ExtCreated:
			*created = d.instant(d.extString(e, e.ValueInstant, loc, "valueInstant"), path(loc, "valueInstant"))
		default:
			if oneOf(e.URL, d.own...) {
				continue
			}
			d.add(IssueNotSupported, path(loc, "url"), "unknown extension %q", e.URL)
		}
	}
}

// extString returns the value v of extension e, which must be its only
// value, of the element named name.
func (d *decoder) extString(e extension, v *string, loc, name string) string {
	if v == nil {
		d.add(IssueRequired, path(loc, name), "extension %s needs %s", e.URL, name)
		return ""
	}
	return *v
}

var dateTimeRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$`)

// instant parses a FHIR instant or a dateTime down to the second with a
// time zone, the precision of every time ehr stores. An empty s is the
// zero time.
func (d *decoder) instant(s, loc string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !dateTimeRE.MatchString(s) {
		d.add(IssueValue, loc, "must be a date and time to the second with a time zone, such as 2024-05-01T08:30:00Z")
		return time.Time{}
	}
	return t.UTC()
}

// date parses a FHIR date of full precision (YYYY-MM-DD).
func (d *decoder) date(s, loc string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		d.add(IssueValue, loc, "must be a date YYYY-MM-DD")
		return time.Time{}
	}
	return t
}

// ref returns the id of a literal reference "Type/id" to resourceType at loc.
func (d *decoder) ref(r *reference, loc, resourceType string, required bool) string {
	if r == nil || r.Reference == "" {
		if required {
			d.add(IssueRequired, loc, "a reference to a %s is required", resourceType)
		} else if r != nil {
			d.add(IssueNotSupported, path(loc, "reference"), "only literal references %s/<id> are supported", resourceType)
		}
		return ""
	}
	typ, id, ok := strings.Cut(r.Reference, "/")
	switch {
	case !ok || !idRE.MatchString(id):
		d.add(IssueValue, path(loc, "reference"), "must be a relative reference %s/<id>", resourceType)
	case typ != resourceType:
		d.add(IssueValue, path(loc, "reference"), "must refer to a %s, not a %s", resourceType, typ)
	case r.Type != "" && r.Type != resourceType:
		d.add(IssueValue, path(loc, "type"), "must be %s", resourceType)
	default:
		return id
	}
	return ""
}

// user returns the user id of a logical reference by SystemUser identifier.
func (d *decoder) user(r *reference, loc string) string {
	if r == nil {
		return ""
	}
	if r.Identifier == nil || r.Identifier.System != SystemUser || r.Identifier.Value == "" || r.Reference != "" {
		d.add(IssueNotSupported, loc, "must be a reference by identifier of system %s", SystemUser)
		return ""
	}
	if r.Type != "" && r.Type != "Practitioner" {
		d.add(IssueValue, path(loc, "type"), "must be Practitioner, not %s", r.Type)
	}
	return r.Identifier.Value
}

// code returns the code of the first coding of cc in system, checking it
// is one of allowed (when given).
func (d *decoder) code(cc *codeableConcept, loc, system string, required bool, allowed ...string) (string, int) {
	if cc == nil {
		if required {
			d.add(IssueRequired, loc, "is required")
		}
		return "", -1
	}
	for i, c := range cc.Coding {
		if c.System != system {
			continue
		}
		if len(allowed) > 0 && !oneOf(c.Code, allowed...) {
			d.add(IssueCodeInvalid, path(loc, "coding", i, "code"), "%q is not a code of %s allowed here (%s)", c.Code, system, strings.Join(allowed, ", "))
			return "", i
		}
		return c.Code, i
	}
	if required {
		d.add(IssueCodeInvalid, path(loc, "coding"), "needs a coding of system %s", system)
	}
	return "", -1
}

func oneOf(s string, set ...string) bool { return slices.Contains(set, s) }

func errf(format string, args ...any) error { return fmt.Errorf("fhir: "+format, args...) }
