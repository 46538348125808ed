package fhirimport

import (
	"bytes"
	"sync"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
)

// Role is the one role the import acts with. It is in no policy a tenant
// user can be given (rbac's default policy does not know it): only the
// command line, which holds the database URL, acts with it, through the
// Repository that Engine authorizes. The audit trail records it, and the
// rule that allowed each write, with every event of an import.
const Role = "importador"

// policyJSON allows the import exactly the calls it makes, in its tenant:
// find a patient by identifier and register them; import every kind of
// record of a chart (encounters, admissions, appointments, care-team
// memberships, notes, conditions, allergies, prescriptions,
// observations); list and create practitioners. It reads no chart.
const policyJSON = `{
  "version": 1,
  "roles": ["importador"],
  "rules": [
    {"id": "importador-patients", "effect": "allow", "roles": ["importador"], "actions": ["search", "create"],
     "kinds": ["demographics"], "description": "The bulk import finds patients by identifier and registers them."},
    {"id": "importador-records", "effect": "allow", "roles": ["importador"], "actions": ["create"],
     "kinds": ["encounter", "careteam", "note", "condition", "allergy", "medication", "observation"],
     "description": "The bulk import stores the records of the charts it imports."},
    {"id": "importador-admissions", "effect": "allow", "roles": ["importador"], "actions": ["admit"],
     "kinds": ["admission"], "description": "The bulk import stores admissions."},
    {"id": "importador-appointments", "effect": "allow", "roles": ["importador"], "actions": ["schedule"],
     "kinds": ["appointment"], "description": "The bulk import stores appointments."},
    {"id": "importador-practitioners", "effect": "allow", "roles": ["importador"], "actions": ["read", "manage"],
     "kinds": ["user"], "description": "The bulk import finds and creates the practitioners its records name."}
  ]
}`

var engine = sync.OnceValue(func() *rbac.Engine {
	p, err := rbac.LoadPolicy(bytes.NewReader([]byte(policyJSON)))
	if err != nil {
		panic("fhirimport: policy: " + err.Error())
	}
	e, err := rbac.New(p)
	if err != nil {
		panic("fhirimport: policy: " + err.Error())
	}
	return e
})

// Engine returns the authorization engine of the import: a policy of one
// role, Role, allowed the calls the import makes and nothing else. Build
// the import's Repository with ehr.WithAuthorizer(Engine()).
func Engine() *rbac.Engine { return engine() }

// Actor returns the actor an import acts as in tenant: user userID (the
// command line's operator user), role Role, and requestID, which every
// audit event of the import carries (one per run, so that the trail tells
// one import from another).
func Actor(tenant, userID, requestID string) ehr.Actor {
	return ehr.Actor{Principal: rbac.Principal{UserID: userID, TenantID: tenant, Roles: []string{Role}}, RequestID: requestID}
}

// NewRequestID returns a request id for one run of the import.
func NewRequestID() string { return "import-" + uuid.NewString() }
