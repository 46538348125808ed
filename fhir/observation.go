package fhir

import (
	"encoding/json"
	"strconv"

	"github.com/historiaehr/historia/ehr"
)

// ProfileVitalSigns is the R4 vital-signs profile every vital-sign
// Observation claims.
const ProfileVitalSigns = "http://hl7.org/fhir/StructureDefinition/vitalsigns"

// Vital-sign codes (LOINC) beyond those ehr names.
const (
	CodeBloodPressurePanel = "85354-9"
	CodeOxygenSatArterial  = "2708-6"
	CodeBMI                = "39156-5"
)

// vital is what the vital-signs profile fixes for one LOINC code.
type vital struct {
	display string
	ucum    string // the UCUM code the profile requires
}

// vitals maps the LOINC codes of the R4 vital-signs profile to their
// display and required UCUM unit.
var vitals = map[string]vital{
	ehr.CodeHeartRate:      {"Heart rate", "/min"},
	ehr.CodeRespRate:       {"Respiratory rate", "/min"},
	ehr.CodeBodyTemp:       {"Body temperature", "Cel"},
	ehr.CodeOxygenSat:      {"Oxygen saturation in Arterial blood by Pulse oximetry", "%"},
	CodeOxygenSatArterial:  {"Oxygen saturation in Arterial blood", "%"},
	ehr.CodeBodyWeight:     {"Body weight", "kg"},
	ehr.CodeBodyHeight:     {"Body height", "cm"},
	CodeBMI:                {"Body mass index (BMI) [Ratio]", "kg/m2"},
	ehr.CodeSystolicBP:     {"Systolic blood pressure", "mm[Hg]"},
	ehr.CodeDiastolicBP:    {"Diastolic blood pressure", "mm[Hg]"},
	CodeBloodPressurePanel: {"Blood pressure panel with all children optional", ""},
}

// ucumAliases maps the units people type (and ehr stores as given) to
// UCUM codes.
var ucumAliases = map[string]string{
	"/min": "/min", "bpm": "/min", "lpm": "/min", "rpm": "/min", "latidos/min": "/min", "resp/min": "/min", "{beats}/min": "/min", "{breaths}/min": "/min",
	"Cel": "Cel", "°C": "Cel", "ºC": "Cel", "C": "Cel",
	"%":     "%",
	"kg":    "kg",
	"cm":    "cm",
	"kg/m2": "kg/m2", "kg/m²": "kg/m2",
	"mm[Hg]": "mm[Hg]", "mmHg": "mm[Hg]", "mm Hg": "mm[Hg]",
	"mg": "mg", "g": "g", "mcg": "ug", "ug": "ug", "µg": "ug", "mL": "mL", "ml": "mL", "L": "L", "IU": "[iU]", "UI": "[iU]", "mg/dL": "mg/dL", "mmol/L": "mmol/L", "g/dL": "g/dL",
}

// UCUM returns the UCUM code of unit ("mmHg" gives "mm[Hg]", "°C" gives
// "Cel"), or "" when Historia does not know it.
func UCUM(unit string) string { return ucumAliases[unit] }

// obsQuantity is the valueQuantity of an observation value v in unit, with
// the UCUM code when known.
func obsQuantity(v float64, unit string) *quantity {
	n := json.Number(strconv.FormatFloat(v, 'f', -1, 64))
	q := &quantity{Value: &n, Unit: unit}
	if c := UCUM(unit); c != "" {
		q.System, q.Code = SystemUCUM, c
	}
	return q
}

// EncodeObservation returns o as a FHIR R4 Observation: category
// (observation-category), code (LOINC: for a vital sign of the R4
// vital-signs profile the profile is claimed, the coding carries the LOINC
// display, and pulse oximetry 59408-5 also carries 2708-6 as the profile
// requires), subject, encounter, effectiveDateTime, the recorder as
// performer, and valueQuantity (UCUM, with the text value as note) or
// valueString.
//
// It returns an error for a vital sign of the profile whose unit has no
// UCUM code or not the one the profile requires (a heart rate in "kg").
// Blood pressure is better sent as a panel: see EncodeBloodPressure.
func EncodeObservation(o ehr.Observation) ([]byte, error) {
	r, err := observation(o)
	if err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

func observation(o ehr.Observation) (*observationResource, error) {
	v, isVital := vitals[o.Code]
	isVital = isVital && o.Category == ehr.CategoryVitalSigns
	var profile []string
	if isVital {
		profile = []string{ProfileVitalSigns}
	}
	r := &observationResource{resourceBase: recordBase("Observation", o.ID, o.TenantID, o.Version, o.CreatedAt, o.UpdatedAt, profile...)}
	r.Status = o.Status
	if r.Status == "" {
		r.Status = "final"
	}
	if o.Category != "" {
		r.Category = []codeableConcept{{Coding: []coding{{System: SystemObsCategory, Code: o.Category}}}}
	}
	c := coding{System: SystemLOINC, Code: o.Code}
	if isVital {
		c.Display = v.display
	}
	r.Code = codeableConcept{Coding: []coding{c}, Text: o.Display}
	if isVital && o.Code == ehr.CodeOxygenSat {
		r.Code.Coding = append(r.Code.Coding, coding{System: SystemLOINC, Code: CodeOxygenSatArterial, Display: vitals[CodeOxygenSatArterial].display})
	}
	r.Subject = ref("Patient", o.PatientID)
	r.Encounter = ref("Encounter", o.EncounterID)
	r.EffectiveDateTime = instant(o.EffectiveAt)
	if u := userRef(o.RecordedBy); u != nil {
		r.Performer = []reference{*u}
	}
	if o.Value != nil {
		r.ValueQuantity = obsQuantity(*o.Value, o.Unit)
		if isVital && r.ValueQuantity.Code != v.ucum {
			return nil, errf("observation %s: unit %q of %s is not %s (UCUM)", o.ID, o.Unit, o.Code, v.ucum)
		}
	}
	if o.Value != nil {
		r.Note = annotations(o.ValueText)
	} else {
		r.ValueString = optString(o.ValueText)
	}
	return r, nil
}

// EncodeBloodPressure returns a systolic and a diastolic observation
// (ehr.CodeSystolicBP, ehr.CodeDiastolicBP) taken together as one FHIR
// blood-pressure panel (LOINC 85354-9, vital-signs profile) with the two as
// components. The panel takes its id, status, subject, encounter, time and
// meta from the systolic observation; each component names its ehr
// observation (ExtRecordID, ExtRecordVersion).
//
// It returns an error when the codes are not systolic and diastolic, the
// two are of different patients, or a unit is not mm[Hg].
func EncodeBloodPressure(systolic, diastolic ehr.Observation) ([]byte, error) {
	if systolic.Code != ehr.CodeSystolicBP || diastolic.Code != ehr.CodeDiastolicBP {
		return nil, errf("blood pressure: codes %q and %q are not %s and %s", systolic.Code, diastolic.Code, ehr.CodeSystolicBP, ehr.CodeDiastolicBP)
	}
	if systolic.PatientID != diastolic.PatientID || systolic.Value == nil || diastolic.Value == nil {
		return nil, errf("blood pressure %s: systolic and diastolic must be numeric values of one patient", systolic.ID)
	}
	panel := systolic
	panel.Code, panel.Display, panel.Value, panel.Unit, panel.ValueText = CodeBloodPressurePanel, "Blood pressure", nil, "", ""
	r, err := observation(panel)
	if err != nil {
		return nil, err
	}
	for _, o := range []ehr.Observation{systolic, diastolic} {
		q := obsQuantity(*o.Value, o.Unit)
		if q.Code != "mm[Hg]" {
			return nil, errf("blood pressure %s: unit %q is not mm[Hg]", o.ID, o.Unit)
		}
		comp := observationComponent{
			Code:          codeableConcept{Coding: []coding{{System: SystemLOINC, Code: o.Code, Display: vitals[o.Code].display}}, Text: o.Display},
			ValueQuantity: q,
		}
		if o.ID != "" {
			comp.Extension = append(comp.Extension, extension{URL: ExtRecordID, ValueID: strp(o.ID)})
		}
		if o.Version > 0 {
			v := int64(o.Version)
			comp.Extension = append(comp.Extension, extension{URL: ExtRecordVersion, ValueInteger: &v})
		}
		r.Component = append(r.Component, comp)
	}
	return json.Marshal(r)
}

var obsStatuses = []string{"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}

// DecodeObservation maps a FHIR R4 Observation to an ehr.Observation, the
// inverse of EncodeObservation. The code is the first LOINC coding; a
// vital sign of the R4 profile must carry its UCUM unit, and ehr.Unit is
// valueQuantity.unit (the unit as written), or the UCUM code when there is
// no unit text. A blood-pressure panel is refused: use
// DecodeBloodPressure.
//
// It returns an *OperationOutcome.
func DecodeObservation(data []byte) (ehr.Observation, error) {
	var r observationResource
	if err := decodeStrict(data, "Observation", &r); err != nil {
		return ehr.Observation{}, err
	}
	d := decoder{rt: "Observation"}
	o := d.observation(&r)
	if len(r.Component) > 0 {
		d.add(IssueNotSupported, d.at("component"), "an observation with components is only accepted as a blood-pressure panel (DecodeBloodPressure)")
	}
	return o, d.err()
}

// observation reads what EncodeObservation writes, except the components.
func (d *decoder) observation(r *observationResource) ehr.Observation {
	var o ehr.Observation
	d.base(r.resourceBase, &o.ID, &o.TenantID, &o.Version, &o.CreatedAt, &o.UpdatedAt)
	if !oneOf(r.Status, obsStatuses...) {
		d.add(IssueCodeInvalid, d.at("status"), "%q is not an observation status", r.Status)
	} else if !oneOf(r.Status, "final", "amended", ehr.StatusEnteredInError) {
		d.add(IssueNotSupported, d.at("status"), "Historia stores final, amended and entered-in-error observations, not %q", r.Status)
	}
	o.Status = r.Status
	if len(r.Category) > 1 {
		d.add(IssueNotSupported, d.at("category", 1), "only one category is supported")
	}
	if len(r.Category) > 0 {
		o.Category, _ = d.code(&r.Category[0], d.at("category", 0), SystemObsCategory, true, ehr.CategoryVitalSigns, ehr.CategoryLaboratory)
	} else {
		d.add(IssueRequired, d.at("category"), "a category (vital-signs or laboratory) is required")
	}
	var ci int
	o.Code, ci = d.code(&r.Code, d.at("code"), SystemLOINC, true)
	o.Display = r.Code.Text
	o.PatientID = d.ref(r.Subject, d.at("subject"), "Patient", true)
	o.EncounterID = d.ref(r.Encounter, d.at("encounter"), "Encounter", false)
	if r.EffectiveDateTime == "" {
		d.add(IssueRequired, d.at("effectiveDateTime"), "is required")
	}
	o.EffectiveAt = d.instant(r.EffectiveDateTime, d.at("effectiveDateTime"))
	if len(r.Performer) > 1 {
		d.add(IssueNotSupported, d.at("performer", 1), "only one performer (the recorder) is supported")
	}
	if len(r.Performer) > 0 {
		o.RecordedBy = d.user(&r.Performer[0], d.at("performer", 0))
	}
	v, isVital := vitals[o.Code]
	isVital = isVital && o.Category == ehr.CategoryVitalSigns && ci >= 0
	if isVital && o.Code == CodeBloodPressurePanel {
		return o
	}
	if q := r.ValueQuantity; q != nil {
		o.Value, o.Unit = d.quantity(q, d.at("valueQuantity"), v.ucum, isVital)
	}
	if r.ValueString != nil {
		o.ValueText = *r.ValueString
		if r.ValueQuantity != nil {
			d.add(IssueStructure, d.at("value[x]"), "only one of valueQuantity and valueString may be given")
		}
	}
	if r.ValueQuantity != nil {
		o.ValueText = d.annotation(r.Note)
	} else if len(r.Note) > 0 {
		d.add(IssueNotSupported, d.at("note"), "a note goes with a valueQuantity only")
	}
	if r.ValueQuantity == nil && r.ValueString == nil && o.Status != ehr.StatusEnteredInError {
		d.add(IssueRequired, d.at("value[x]"), "valueQuantity or valueString is required")
	}
	return o
}

// quantity reads a valueQuantity; a vital sign needs UCUM code ucum.
func (d *decoder) quantity(q *quantity, loc, ucum string, isVital bool) (*float64, string) {
	var val *float64
	if q.Value == nil {
		d.add(IssueRequired, path(loc, "value"), "is required")
	} else if f, err := q.Value.Float64(); err != nil {
		d.add(IssueValue, path(loc, "value"), "is not a decimal")
	} else {
		val = &f
	}
	if q.System != "" && q.System != SystemUCUM {
		d.add(IssueCodeInvalid, path(loc, "system"), "units must be UCUM (%s)", SystemUCUM)
	}
	if isVital {
		switch {
		case q.System != SystemUCUM || q.Code == "":
			d.add(IssueRequired, path(loc, "code"), "a vital sign needs its UCUM code %q", ucum)
		case q.Code != ucum:
			d.add(IssueCodeInvalid, path(loc, "code"), "%q is not the UCUM unit %q the vital-signs profile requires", q.Code, ucum)
		}
	}
	unit := q.Unit
	if unit == "" {
		unit = q.Code
	}
	return val, unit
}

// DecodeBloodPressure maps a FHIR R4 blood-pressure panel (85354-9, with
// components 8480-6 and 8462-4 in mm[Hg]) to its systolic and diastolic
// observations, the inverse of EncodeBloodPressure.
//
// It returns an *OperationOutcome.
func DecodeBloodPressure(data []byte) (systolic, diastolic ehr.Observation, err error) {
	var r observationResource
	if err := decodeStrict(data, "Observation", &r); err != nil {
		return ehr.Observation{}, ehr.Observation{}, err
	}
	d := decoder{rt: "Observation"}
	panel := d.observation(&r)
	if panel.Code != "" && panel.Code != CodeBloodPressurePanel {
		d.add(IssueCodeInvalid, d.at("code"), "a blood-pressure panel has code %s, not %s", CodeBloodPressurePanel, panel.Code)
	}
	if r.ValueQuantity != nil || r.ValueString != nil {
		d.add(IssueNotSupported, d.at("value[x]"), "a blood-pressure panel has its values in components")
	}
	systolic, diastolic = panel, panel
	systolic.Code, diastolic.Code = ehr.CodeSystolicBP, ehr.CodeDiastolicBP
	systolic.Display, diastolic.Display = "", ""
	diastolic.ID, diastolic.Version = "", 0
	seen := map[string]bool{}
	for i, c := range r.Component {
		loc := d.at("component", i)
		code, _ := d.code(&c.Code, path(loc, "code"), SystemLOINC, true, ehr.CodeSystolicBP, ehr.CodeDiastolicBP)
		if code == "" {
			continue
		}
		if seen[code] {
			d.add(IssueNotSupported, path(loc, "code"), "component %s repeats", code)
		}
		seen[code] = true
		o := &systolic
		if code == ehr.CodeDiastolicBP {
			o = &diastolic
		}
		o.Display = c.Code.Text
		if c.ValueQuantity == nil {
			d.add(IssueRequired, path(loc, "valueQuantity"), "is required")
		} else {
			o.Value, o.Unit = d.quantity(c.ValueQuantity, path(loc, "valueQuantity"), "mm[Hg]", true)
		}
		for j, e := range c.Extension {
			eloc := path(loc, "extension", j)
			switch {
			case e.URL == ExtRecordID && e.ValueID != nil:
				o.ID = *e.ValueID
			case e.URL == ExtRecordVersion && e.ValueInteger != nil:
				o.Version = int(*e.ValueInteger)
			default:
				d.add(IssueNotSupported, eloc, "unknown extension %q", e.URL)
			}
		}
	}
	for _, code := range []string{ehr.CodeSystolicBP, ehr.CodeDiastolicBP} {
		if !seen[code] {
			d.add(IssueRequired, d.at("component"), "a component %s is required", code)
		}
	}
	return systolic, diastolic, d.err()
}
