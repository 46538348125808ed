package rbac

import (
	"fmt"
	"strconv"
)

// Condition is a fact about the target that an allow rule may require. A
// rule lists the conditions it accepts; any one of them suffices. The tenant
// check is not a Condition: it applies to every decision.
type Condition uint8

// The conditions a policy can name. Their String forms are the names used
// in policy files.
const (
	// ConditionSelf holds when the principal is a patient and the target
	// is that patient's own record (Principal.PatientID == Target.PatientID,
	// both non-empty).
	ConditionSelf Condition = 1 << iota
	// ConditionCareTeam holds when the principal is on the target patient's
	// active care team (Target.OnCareTeam, with a non-empty
	// Target.PatientID).
	ConditionCareTeam
	// ConditionBreakGlass holds when Target.Grant is a valid break-glass
	// grant: issued to this user, for this tenant and patient, with a long
	// enough reason, not expired and not longer than the engine allows.
	ConditionBreakGlass
)

// conds is a set of conditions (a bit mask of Condition values).
type conds uint8

const allConds = conds(ConditionSelf | ConditionCareTeam | ConditionBreakGlass)

// conditionList is every condition in evaluation order.
var conditionList = [...]Condition{ConditionSelf, ConditionCareTeam, ConditionBreakGlass}

// Conditions returns every Condition in evaluation order.
func Conditions() []Condition {
	return append([]Condition(nil), conditionList[:]...)
}

// Valid reports whether c is exactly one of the declared conditions.
func (c Condition) Valid() bool {
	return c == ConditionSelf || c == ConditionCareTeam || c == ConditionBreakGlass
}

// String returns the policy-file name of c ("self", "careteam" or
// "breakglass"), "none" for the zero Condition, or "Condition(n)".
func (c Condition) String() string {
	switch c {
	case 0:
		return "none"
	case ConditionSelf:
		return "self"
	case ConditionCareTeam:
		return "careteam"
	case ConditionBreakGlass:
		return "breakglass"
	}
	return "Condition(" + strconv.Itoa(int(c)) + ")"
}

// ParseCondition returns the Condition named s ("self", "careteam" or
// "breakglass"). It returns an error for any other string.
func ParseCondition(s string) (Condition, error) {
	for _, c := range conditionList {
		if c.String() == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("rbac: unknown condition %q", s)
}

// list returns the conditions in s in evaluation order.
func (s conds) list() []Condition {
	var out []Condition
	for _, c := range conditionList {
		if s&conds(c) != 0 {
			out = append(out, c)
		}
	}
	return out
}
