package ehr

import (
	"context"

	"github.com/historiaehr/historia/rbac"
)

// Authorize decides, as every method of the Repository does, whether the
// actor may do action on records of kind k of patient patientID (its
// roles, the care team, a break-the-glass grant, its own record, the
// tenant). A refusal is recorded in the audit trail as a denied attempt,
// exactly as a refused method call is, and returned: an error wrapping
// ErrDenied, or ErrNotFound when patientID is no patient of the actor's
// tenant. An allowed check writes nothing (it is not an access; it may
// read the care-team facts the decision needs) and returns nil.
//
// A front-end calls it to refuse, with the trail a refused read leaves,
// a request that a wider read answered only in part: a FHIR search for
// the observations of a patient whose chart withholds them.
//
// It returns ErrInvalid for a malformed patient id.
func (r *Repository) Authorize(ctx context.Context, action rbac.Action, k rbac.Kind, patientID string) error {
	const op = "authorize"
	pid, err := parseID("PatientID", patientID)
	if err != nil {
		return err
	}
	a, err := newAccess(ctx, op, action, k, pid)
	if err != nil {
		return err
	}
	return r.authorize(ctx, r.db, op, a)
}
