package rbac_test

import (
	"testing"
	"time"

	"github.com/historiaehr/historia/rbac"
)

// t0 is the fixed time of the test clock.
var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	tenant       = "h-1"
	otherTenant  = "h-2"
	userID       = "u-1"
	selfPatient  = "p-self"
	otherPatient = "p-other"
	goodReason   = "paciente inconsciente en urgencias"
)

// newEngine returns an engine over p (the default policy when nil) whose
// clock stands at t0.
func newEngine(tb testing.TB, p *rbac.Policy, opts ...rbac.Option) *rbac.Engine {
	tb.Helper()
	if p == nil {
		p = rbac.DefaultPolicy()
	}
	e, err := rbac.New(p, append([]rbac.Option{rbac.WithClock(func() time.Time { return t0 })}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// who returns a principal of the test tenant with the given roles. Its
// PatientID is selfPatient so that the self condition can be exercised for
// every role.
func who(roles ...string) rbac.Principal {
	return rbac.Principal{UserID: userID, TenantID: tenant, PatientID: selfPatient, Roles: roles}
}

// validGrant returns a break-glass grant for userID on patient that expires
// an hour after t0.
func validGrant(patient string) *rbac.Grant {
	return &rbac.Grant{UserID: userID, TenantID: tenant, PatientID: patient, Reason: goodReason, NotAfter: t0.Add(time.Hour)}
}

// decideCase is one request, used by the benchmarks and the allocation test.
type decideCase struct {
	name  string
	p     rbac.Principal
	a     rbac.Action
	k     rbac.Kind
	t     rbac.Target
	allow bool
}

// decideCases covers each path through Decide. "explicit-deny" is the
// default policy's one deny rule beating another role's allow (medico may
// break the glass, auditor may not); "multi-role" skips an unknown role and
// a role without a rule to reach the allow of the third.
var decideCases = []decideCase{
	{"allow", who("medico"), rbac.ActionSearch, rbac.KindDemographics, rbac.Target{TenantID: tenant}, true},
	{"deny", who("secretaria"), rbac.ActionRead, rbac.KindAudit, rbac.Target{TenantID: tenant}, false},
	{"explicit-deny", who("medico", "auditor"), rbac.ActionBreakGlass, rbac.KindBreakGlass, rbac.Target{TenantID: tenant, PatientID: otherPatient}, false},
	{"careteam", who("medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: otherPatient, OnCareTeam: true}, true},
	{"careteam-deny", who("medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: otherPatient}, false},
	{"breakglass", who("medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: otherPatient, Grant: validGrant(otherPatient)}, true},
	{"breakglass-expired", who("medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: otherPatient, Grant: &rbac.Grant{UserID: userID, TenantID: tenant, PatientID: otherPatient, Reason: goodReason, NotAfter: t0.Add(-time.Second)}}, false},
	{"self", who("paciente"), rbac.ActionRead, rbac.KindObservation, rbac.Target{TenantID: tenant, PatientID: selfPatient}, true},
	{"self-deny", who("paciente"), rbac.ActionRead, rbac.KindObservation, rbac.Target{TenantID: tenant, PatientID: otherPatient}, false},
	{"multi-role", who("nurse", "secretaria", "medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: otherPatient, OnCareTeam: true}, true},
	{"unknown-role", who("enfermera"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: otherPatient, OnCareTeam: true}, false},
	{"tenant", who("medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: otherTenant, PatientID: otherPatient, OnCareTeam: true}, false},
	{"empty-principal", rbac.Principal{}, rbac.ActionRead, rbac.KindNote, rbac.Target{}, false},
}
