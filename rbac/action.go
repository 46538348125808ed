package rbac

import (
	"fmt"
	"strconv"
)

// Action is something a principal does to a resource. The set is closed: the
// zero Action is invalid, and every decision about an invalid Action is a
// denial.
type Action uint8

// The actions a policy can name. Their String forms ("read", "check-in",
// "break-glass", ...) are the names used in policy files.
const (
	// ActionRead reads one record, or the records of one patient.
	ActionRead Action = iota + 1
	// ActionSearch finds records across patients of the tenant (for
	// example the patient search by name or document number).
	ActionSearch
	// ActionCreate writes a new record.
	ActionCreate
	// ActionUpdate writes a new version of a record, including marking it
	// entered-in-error.
	ActionUpdate
	// ActionAmend amends a signed record; the caller must record a reason.
	ActionAmend
	// ActionAdmit admits a patient (starts an inpatient encounter).
	ActionAdmit
	// ActionTransfer moves an admitted patient to another bed or ward.
	ActionTransfer
	// ActionDischarge ends an admission.
	ActionDischarge
	// ActionSchedule books an appointment.
	ActionSchedule
	// ActionCancel cancels an appointment.
	ActionCancel
	// ActionCheckIn marks that the patient arrived for an appointment.
	ActionCheckIn
	// ActionBreakGlass requests emergency access (a Grant) to a patient's
	// record outside the care team.
	ActionBreakGlass
	// ActionVerify verifies an audit hash chain.
	ActionVerify
	// ActionManage administers users and their roles.
	ActionManage
)

// actionCount is one more than the largest valid Action; it sizes tables
// indexed by Action.
const actionCount = int(ActionManage) + 1

var actionNames = [actionCount]string{
	ActionRead:       "read",
	ActionSearch:     "search",
	ActionCreate:     "create",
	ActionUpdate:     "update",
	ActionAmend:      "amend",
	ActionAdmit:      "admit",
	ActionTransfer:   "transfer",
	ActionDischarge:  "discharge",
	ActionSchedule:   "schedule",
	ActionCancel:     "cancel",
	ActionCheckIn:    "check-in",
	ActionBreakGlass: "break-glass",
	ActionVerify:     "verify",
	ActionManage:     "manage",
}

// Actions returns every valid Action in declaration order.
func Actions() []Action {
	out := make([]Action, 0, actionCount-1)
	for a := Action(1); int(a) < actionCount; a++ {
		out = append(out, a)
	}
	return out
}

// Valid reports whether a is one of the declared actions.
func (a Action) Valid() bool { return a != 0 && int(a) < actionCount }

// String returns the policy-file name of a, such as "read" or "check-in",
// or "Action(n)" when a is not valid.
func (a Action) String() string {
	if a.Valid() {
		return actionNames[a]
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// ParseAction returns the Action named s (as written by String). It returns
// an error for any other string.
func ParseAction(s string) (Action, error) {
	for a := Action(1); int(a) < actionCount; a++ {
		if actionNames[a] == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("rbac: unknown action %q", s)
}

// MarshalText implements encoding.TextMarshaler. It fails for an invalid
// Action.
func (a Action) MarshalText() ([]byte, error) {
	if !a.Valid() {
		return nil, fmt.Errorf("rbac: invalid action %d", uint8(a))
	}
	return []byte(actionNames[a]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseAction.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
