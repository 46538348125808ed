package rbac

import (
	"fmt"
	"strconv"
)

// Kind is the kind of resource an action applies to. The set is closed: the
// zero Kind is invalid, and every decision about an invalid Kind is a
// denial.
type Kind uint8

// The resource kinds a policy can name. Their String forms are the names
// used in policy files.
const (
	// KindDemographics is a patient's identity: identifiers, names, birth
	// date, sex.
	KindDemographics Kind = iota + 1
	// KindContact is a patient's contact data: phone, address, emergency
	// contact.
	KindContact
	// KindEncounter is a clinical encounter (ambulatory, emergency or
	// inpatient).
	KindEncounter
	// KindAdmission is the administrative side of an inpatient encounter:
	// admission, bed or ward, transfers, discharge, attending physician.
	KindAdmission
	// KindAppointment is an appointment with a practitioner.
	KindAppointment
	// KindCareTeam is care-team membership: who treats whom, from when to
	// when, and why.
	KindCareTeam
	// KindNote is a clinical note.
	KindNote
	// KindCondition is a diagnosis or problem (ICD-10).
	KindCondition
	// KindAllergy is an allergy or intolerance.
	KindAllergy
	// KindMedication is a medication request.
	KindMedication
	// KindObservation is a vital sign or laboratory result.
	KindObservation
	// KindAudit is the audit trail and its hash chains.
	KindAudit
	// KindUser is a staff or patient user account and its roles.
	KindUser
	// KindAccessLog is the list of who viewed a patient's record.
	KindAccessLog
	// KindBreakGlass is the break-glass grants themselves: requesting one
	// and reviewing their use.
	KindBreakGlass
)

// kindCount is one more than the largest valid Kind; it sizes tables indexed
// by Kind.
const kindCount = int(KindBreakGlass) + 1

var kindNames = [kindCount]string{
	KindDemographics: "demographics",
	KindContact:      "contact",
	KindEncounter:    "encounter",
	KindAdmission:    "admission",
	KindAppointment:  "appointment",
	KindCareTeam:     "careteam",
	KindNote:         "note",
	KindCondition:    "condition",
	KindAllergy:      "allergy",
	KindMedication:   "medication",
	KindObservation:  "observation",
	KindAudit:        "audit",
	KindUser:         "user",
	KindAccessLog:    "accesslog",
	KindBreakGlass:   "breakglass",
}

// Kinds returns every valid Kind in declaration order.
func Kinds() []Kind {
	out := make([]Kind, 0, kindCount-1)
	for k := Kind(1); int(k) < kindCount; k++ {
		out = append(out, k)
	}
	return out
}

// Valid reports whether k is one of the declared kinds.
func (k Kind) Valid() bool { return k != 0 && int(k) < kindCount }

// String returns the policy-file name of k, such as "note" or "accesslog",
// or "Kind(n)" when k is not valid.
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind returns the Kind named s (as written by String). It returns an
// error for any other string.
func ParseKind(s string) (Kind, error) {
	for k := Kind(1); int(k) < kindCount; k++ {
		if kindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("rbac: unknown kind %q", s)
}

// MarshalText implements encoding.TextMarshaler. It fails for an invalid
// Kind.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("rbac: invalid kind %d", uint8(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseKind.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}
