package bulkexport

import (
	"bytes"
	"sync"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
)

// Role is the one role `historia export` acts with. It is in no policy a
// tenant user can be given (rbac's default policy does not know it): only
// the command line, which holds the database URL, acts with it, through a
// Repository that Engine authorizes. The audit trail records it, and the
// rule that allowed each read, with every event of an export.
const Role = "exportador"

// policyJSON allows the export exactly the calls it makes, in its tenant:
// list the patients (search demographics) and read every section of
// their charts; read the practitioners the records name. It writes
// nothing.
const policyJSON = `{
  "version": 1,
  "roles": ["exportador"],
  "rules": [
    {"id": "exportador-patients", "effect": "allow", "roles": ["exportador"], "actions": ["search", "read"],
     "kinds": ["demographics"], "description": "The bulk export lists the patients of the tenant and reads each one."},
    {"id": "exportador-charts", "effect": "allow", "roles": ["exportador"], "actions": ["read"],
     "kinds": ["contact", "encounter", "admission", "appointment", "careteam", "note", "condition", "allergy", "medication", "observation"],
     "description": "The bulk export reads every section of each chart."},
    {"id": "exportador-practitioners", "effect": "allow", "roles": ["exportador"], "actions": ["read"],
     "kinds": ["user"], "description": "The bulk export reads the practitioners the records name."}
  ]
}`

var engine = sync.OnceValue(func() *rbac.Engine {
	p, err := rbac.LoadPolicy(bytes.NewReader([]byte(policyJSON)))
	if err != nil {
		panic("bulkexport: policy: " + err.Error())
	}
	e, err := rbac.New(p)
	if err != nil {
		panic("bulkexport: policy: " + err.Error())
	}
	return e
})

// Engine returns the authorization engine of `historia export`: a policy
// of one role, Role, allowed the reads the export makes and nothing
// else. Build the export's Repository with ehr.WithAuthorizer(Engine()).
func Engine() *rbac.Engine { return engine() }

// Actor returns the actor `historia export` acts as in tenant: user
// userID (the command line's operator user), role Role, and requestID,
// which every audit event of the export carries. Its reads are audited
// as exports (ehr.Actor.Export; Run sets it anyway).
func Actor(tenant, userID, requestID string) ehr.Actor {
	return ehr.Actor{Principal: rbac.Principal{UserID: userID, TenantID: tenant, Roles: []string{Role}}, RequestID: requestID, Export: true}
}

// NewRequestID returns a request id for one run of the export.
func NewRequestID() string { return "export-" + uuid.NewString() }
