package rbac_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/historiaehr/historia/rbac"
)

// TestDecideCases runs the shared request mix and checks each outcome.
func TestDecideCases(t *testing.T) {
	e := newEngine(t, nil)
	for _, c := range decideCases {
		t.Run(c.name, func(t *testing.T) {
			d := e.Decide(c.p, c.a, c.k, c.t)
			if d.Allowed != c.allow {
				t.Errorf("Decide = %+v, want allowed %v", d, c.allow)
			}
			if d.Rule == "" || d.Reason == "" {
				t.Errorf("Decide = %+v: empty rule or reason", d)
			}
		})
	}
}

func TestDecideBadInput(t *testing.T) {
	e := newEngine(t, nil)
	note := rbac.Target{TenantID: tenant, PatientID: otherPatient, OnCareTeam: true}
	tests := []struct {
		name   string
		p      rbac.Principal
		a      rbac.Action
		k      rbac.Kind
		t      rbac.Target
		rule   string
		reason string
	}{
		{"empty principal", rbac.Principal{}, rbac.ActionRead, rbac.KindNote, note, rbac.RuleInvalid, "no user id"},
		{"no tenant", rbac.Principal{UserID: userID, Roles: []string{"medico"}}, rbac.ActionRead, rbac.KindNote, rbac.Target{PatientID: otherPatient, OnCareTeam: true}, rbac.RuleInvalid, "no tenant"},
		{"no roles", rbac.Principal{UserID: userID, TenantID: tenant}, rbac.ActionRead, rbac.KindNote, note, rbac.RuleInvalid, "no roles"},
		{"empty role", who(""), rbac.ActionRead, rbac.KindNote, note, rbac.RuleDefaultDeny, "none of the principal's roles"},
		{"unknown role", who("superuser"), rbac.ActionRead, rbac.KindNote, note, rbac.RuleDefaultDeny, "none of the principal's roles"},
		{"role case", who("Medico"), rbac.ActionRead, rbac.KindNote, note, rbac.RuleDefaultDeny, "none of the principal's roles"},
		{"zero action", who("medico"), 0, rbac.KindNote, note, rbac.RuleInvalid, "unknown action"},
		{"action out of range", who("medico"), 255, rbac.KindNote, note, rbac.RuleInvalid, "unknown action"},
		{"zero kind", who("medico"), rbac.ActionRead, 0, note, rbac.RuleInvalid, "unknown kind"},
		{"kind out of range", who("medico"), rbac.ActionRead, 200, note, rbac.RuleInvalid, "unknown kind"},
		{"target without tenant", who("medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{PatientID: otherPatient, OnCareTeam: true}, rbac.RuleTenant, "another tenant"},
		{"other tenant", who("medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: otherTenant, PatientID: otherPatient, OnCareTeam: true}, rbac.RuleTenant, "another tenant"},
		{"other tenant self", who("paciente"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: otherTenant, PatientID: selfPatient}, rbac.RuleTenant, "another tenant"},
		{"care team without patient", who("medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, OnCareTeam: true}, "medico-clinical", "requires a place on the patient's care team or a valid break-glass grant"},
		{"self without patient id", rbac.Principal{UserID: userID, TenantID: tenant, Roles: []string{"paciente"}}, rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant}, "paciente-own-chart", "requires the principal's own record"},
		{"no rule", who("medico"), rbac.ActionManage, rbac.KindUser, rbac.Target{TenantID: tenant}, rbac.RuleDefaultDeny, "no rule allows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(tt.p, tt.a, tt.k, tt.t)
			if d.Allowed || d.Rule != tt.rule || !strings.Contains(d.Reason, tt.reason) || d.Condition != 0 {
				t.Errorf("Decide = %+v, want denied by %q with %q", d, tt.rule, tt.reason)
			}
		})
	}
}

func TestDecideNilEngine(t *testing.T) {
	for name, e := range map[string]*rbac.Engine{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			d := e.Decide(who("medico"), rbac.ActionSearch, rbac.KindDemographics, rbac.Target{TenantID: tenant})
			if d.Allowed || d.Rule != rbac.RuleInvalid {
				t.Errorf("Decide = %+v, want invalid", d)
			}
			if err := e.Authorize(who("medico"), rbac.ActionSearch, rbac.KindDemographics, rbac.Target{TenantID: tenant}); !errors.Is(err, rbac.ErrDenied) {
				t.Errorf("Authorize = %v, want ErrDenied", err)
			}
		})
	}
}

func TestConditionsReported(t *testing.T) {
	e := newEngine(t, nil)
	tests := []struct {
		name string
		p    rbac.Principal
		t    rbac.Target
		rule string
		cond rbac.Condition
	}{
		{"unconditional", who("admisionista"), rbac.Target{TenantID: tenant, PatientID: otherPatient}, "admisionista-demographics", 0},
		{"self", who("paciente"), rbac.Target{TenantID: tenant, PatientID: selfPatient}, "paciente-own-chart", rbac.ConditionSelf},
		{"careteam", who("medico"), rbac.Target{TenantID: tenant, PatientID: otherPatient, OnCareTeam: true}, "medico-patient-search", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(tt.p, rbac.ActionRead, rbac.KindDemographics, tt.t)
			if !d.Allowed || d.Rule != tt.rule || d.Condition != tt.cond {
				t.Errorf("Decide = %+v, want allowed by %s via %v", d, tt.rule, tt.cond)
			}
		})
	}
	// Care team is preferred to break-glass, so a grant is not flagged as
	// used when the physician needs none.
	d := e.Decide(who("medico"), rbac.ActionRead, rbac.KindNote,
		rbac.Target{TenantID: tenant, PatientID: otherPatient, OnCareTeam: true, Grant: validGrant(otherPatient)})
	if !d.Allowed || d.Condition != rbac.ConditionCareTeam {
		t.Errorf("care team with a grant: %+v, want allowed via careteam", d)
	}
	d = e.Decide(who("medico"), rbac.ActionRead, rbac.KindNote,
		rbac.Target{TenantID: tenant, PatientID: otherPatient, Grant: validGrant(otherPatient)})
	if !d.Allowed || d.Condition != rbac.ConditionBreakGlass || d.Rule != "medico-clinical" {
		t.Errorf("grant alone: %+v, want allowed by medico-clinical via breakglass", d)
	}
}

func TestBreakGlass(t *testing.T) {
	now := t0
	e := newEngine(t, nil, rbac.WithClock(func() time.Time { return now }))
	target := func(g rbac.Grant) rbac.Target {
		return rbac.Target{TenantID: tenant, PatientID: otherPatient, Grant: &g}
	}
	base := *validGrant(otherPatient)
	with := func(f func(*rbac.Grant)) rbac.Grant { g := base; f(&g); return g }
	tests := []struct {
		name   string
		role   string
		g      rbac.Grant
		allow  bool
		reason string
	}{
		{"valid", "medico", base, true, "break-glass"},
		{"another user", "medico", with(func(g *rbac.Grant) { g.UserID = "u-2" }), false, "another user"},
		{"no user", "medico", with(func(g *rbac.Grant) { g.UserID = "" }), false, "another user"},
		{"another tenant", "medico", with(func(g *rbac.Grant) { g.TenantID = otherTenant }), false, "another tenant"},
		{"another patient", "medico", with(func(g *rbac.Grant) { g.PatientID = "p-3" }), false, "another patient"},
		{"empty reason", "medico", with(func(g *rbac.Grant) { g.Reason = "" }), false, "too short"},
		{"short reason", "medico", with(func(g *rbac.Grant) { g.Reason = "urgencia" }), false, "too short"},
		{"padded reason", "medico", with(func(g *rbac.Grant) { g.Reason = "   urgente!       " }), false, "too short"},
		{"ten characters", "medico", with(func(g *rbac.Grant) { g.Reason = "  urgencia!!  " }), true, "break-glass"},
		{"ten runes, more bytes", "medico", with(func(g *rbac.Grant) { g.Reason = "óóóóóóóóóó" }), true, "break-glass"},
		{"expired", "medico", with(func(g *rbac.Grant) { g.NotAfter = t0 }), false, "expired"},
		{"zero expiry", "medico", with(func(g *rbac.Grant) { g.NotAfter = time.Time{} }), false, "expired"},
		{"too long", "medico", with(func(g *rbac.Grant) { g.NotAfter = t0.Add(rbac.DefaultMaxGrantDuration + time.Second) }), false, "longer than"},
		{"longest", "medico", with(func(g *rbac.Grant) { g.NotAfter = t0.Add(rbac.DefaultMaxGrantDuration) }), true, "break-glass"},
		// Only rules that list breakglass accept a grant.
		{"role without breakglass", "secretaria", base, false, "no rule allows"},
		{"paciente", "paciente", base, false, "own record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(who(tt.role), rbac.ActionRead, rbac.KindNote, target(tt.g))
			if d.Allowed != tt.allow || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Decide = %+v, want allowed %v with %q", d, tt.allow, tt.reason)
			}
		})
	}

	t.Run("clock", func(t *testing.T) {
		g := target(base)
		for _, step := range []struct {
			at    time.Time
			allow bool
		}{
			{t0, true},
			{t0.Add(59 * time.Minute), true},
			{t0.Add(time.Hour - time.Nanosecond), true},
			{t0.Add(time.Hour), false},
			{t0.Add(2 * time.Hour), false},
		} {
			now = step.at
			if d := e.Decide(who("medico"), rbac.ActionUpdate, rbac.KindObservation, g); d.Allowed != step.allow {
				t.Errorf("at %v: Decide = %+v, want allowed %v", step.at.Sub(t0), d, step.allow)
			}
		}
		now = t0
	})

	t.Run("min reason option", func(t *testing.T) {
		strict := newEngine(t, nil, rbac.WithMinReasonLength(40))
		if strict.MinReasonLength() != 40 {
			t.Fatalf("MinReasonLength() = %d", strict.MinReasonLength())
		}
		if d := strict.Decide(who("medico"), rbac.ActionRead, rbac.KindNote, target(base)); d.Allowed {
			t.Errorf("a %d-character reason passed a 40-character minimum", len(base.Reason))
		}
	})
}

func TestIssueGrant(t *testing.T) {
	e := newEngine(t, nil)
	onPatient := rbac.Target{TenantID: tenant, PatientID: otherPatient}

	g, err := e.IssueGrant(who("medico"), onPatient, "  "+goodReason+" ", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := rbac.Grant{UserID: userID, TenantID: tenant, PatientID: otherPatient, Reason: goodReason, NotAfter: t0.Add(30 * time.Minute)}
	if g != want {
		t.Fatalf("IssueGrant = %+v, want %+v", g, want)
	}
	onPatient.Grant = &g
	if d := e.Decide(who("medico"), rbac.ActionRead, rbac.KindNote, onPatient); !d.Allowed || d.Condition != rbac.ConditionBreakGlass {
		t.Errorf("the issued grant does not open the chart: %+v", d)
	}

	tests := []struct {
		name string
		p    rbac.Principal
		t    rbac.Target
		r    string
		d    time.Duration
		want error
	}{
		{"role may not", who("secretaria"), rbac.Target{TenantID: tenant, PatientID: otherPatient}, goodReason, time.Hour, rbac.ErrDenied},
		{"other tenant", who("medico"), rbac.Target{TenantID: otherTenant, PatientID: otherPatient}, goodReason, time.Hour, rbac.ErrDenied},
		{"no patient", who("medico"), rbac.Target{TenantID: tenant}, goodReason, time.Hour, rbac.ErrInvalidGrant},
		{"short reason", who("medico"), rbac.Target{TenantID: tenant, PatientID: otherPatient}, "porque sí", time.Hour, rbac.ErrInvalidGrant},
		{"zero duration", who("medico"), rbac.Target{TenantID: tenant, PatientID: otherPatient}, goodReason, 0, rbac.ErrInvalidGrant},
		{"too long", who("medico"), rbac.Target{TenantID: tenant, PatientID: otherPatient}, goodReason, 5 * time.Hour, rbac.ErrInvalidGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := e.IssueGrant(tt.p, tt.t, tt.r, tt.d)
			if !errors.Is(err, tt.want) {
				t.Errorf("IssueGrant = %+v, %v; want %v", g, err, tt.want)
			}
			if g != (rbac.Grant{}) {
				t.Errorf("IssueGrant returned a grant with an error: %+v", g)
			}
		})
	}
}

// denyPolicy grants medico everything on notes and denies amend explicitly,
// and gives a second role an overlapping allow, to show that deny overrides
// allow within a role and across roles. (The default policy has a single
// deny rule; TestDefaultSeveralRoles covers it.)
const denyPolicy = `{
  "version": 1,
  "roles": ["medico", "residente", "jefe"],
  "rules": [
    {"id": "medico-notes", "effect": "allow", "roles": ["medico", "jefe"], "actions": ["*"], "kinds": ["note"]},
    {"id": "residente-no-amend", "effect": "deny", "roles": ["residente"], "actions": ["amend"], "kinds": ["note"],
     "description": "Residents do not amend signed notes."},
    {"id": "medico-no-amend-break", "effect": "deny", "roles": ["medico"], "actions": ["break-glass"], "kinds": ["note"]}
  ]
}`

func TestDenyOverridesAllow(t *testing.T) {
	p, err := rbac.LoadPolicy(strings.NewReader(denyPolicy))
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, p)
	onNote := rbac.Target{TenantID: tenant, PatientID: otherPatient}
	tests := []struct {
		name   string
		roles  []string
		a      rbac.Action
		allow  bool
		rule   string
		reason string
	}{
		{"allow alone", []string{"medico"}, rbac.ActionAmend, true, "medico-notes", "allowed"},
		{"same role deny", []string{"medico"}, rbac.ActionBreakGlass, false, "medico-no-amend-break", "explicitly denied by the policy"},
		{"deny from another role", []string{"medico", "residente"}, rbac.ActionAmend, false, "residente-no-amend", "Residents do not amend signed notes."},
		{"deny listed first", []string{"residente", "jefe"}, rbac.ActionAmend, false, "residente-no-amend", "Residents do not amend signed notes."},
		{"unrelated action", []string{"medico", "residente"}, rbac.ActionRead, true, "medico-notes", "allowed"},
		{"deny without allow", []string{"residente"}, rbac.ActionAmend, false, "residente-no-amend", "Residents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := rbac.Principal{UserID: userID, TenantID: tenant, Roles: tt.roles}
			d := e.Decide(pr, tt.a, rbac.KindNote, onNote)
			if d.Allowed != tt.allow || d.Rule != tt.rule || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Decide = %+v, want allowed %v by %s (%q)", d, tt.allow, tt.rule, tt.reason)
			}
		})
	}

}

// TestDefaultSeveralRoles checks how roles combine in the default policy:
// they add up, and the one explicit deny (auditors never break the glass)
// beats any other role.
func TestDefaultSeveralRoles(t *testing.T) {
	e := newEngine(t, nil)
	none := rbac.Target{TenantID: tenant, PatientID: otherPatient}
	team := rbac.Target{TenantID: tenant, PatientID: otherPatient, OnCareTeam: true}
	const glassDeny = "Auditors review break-the-glass use, so they never break the glass themselves, whatever other role they hold."
	tests := []struct {
		name   string
		roles  []string
		a      rbac.Action
		k      rbac.Kind
		t      rbac.Target
		allow  bool
		rule   string
		reason string
	}{
		// A physician keeps clinical access whatever other role they hold.
		{"medico+admin reads a care-team note", []string{"medico", "admin"}, rbac.ActionRead, rbac.KindNote, team, true, "medico-clinical", "care team"},
		{"admin+medico reads a care-team note", []string{"admin", "medico"}, rbac.ActionRead, rbac.KindNote, team, true, "medico-clinical", "care team"},
		{"medico+admisionista writes a care-team observation", []string{"medico", "admisionista"}, rbac.ActionCreate, rbac.KindObservation, team, true, "medico-clinical", "care team"},
		{"medico+secretaria reads a care-team medication", []string{"medico", "secretaria"}, rbac.ActionRead, rbac.KindMedication, team, true, "medico-clinical", "care team"},
		{"medico+auditor reads a care-team note", []string{"medico", "auditor"}, rbac.ActionRead, rbac.KindNote, team, true, "medico-clinical", "care team"},
		// ... and the other role's permissions too.
		{"medico+admin manages users", []string{"medico", "admin"}, rbac.ActionManage, rbac.KindUser, rbac.Target{TenantID: tenant}, true, "admin-users", "within the tenant"},
		{"medico+admisionista registers a patient", []string{"medico", "admisionista"}, rbac.ActionCreate, rbac.KindDemographics, none, true, "admisionista-demographics", "within the tenant"},
		{"admin+auditor verifies the audit trail", []string{"admin", "auditor"}, rbac.ActionVerify, rbac.KindAudit, rbac.Target{TenantID: tenant}, true, "auditor-audit", "within the tenant"},
		{"medico+auditor reviews break-glass use", []string{"medico", "auditor"}, rbac.ActionRead, rbac.KindBreakGlass, rbac.Target{TenantID: tenant}, true, "auditor-break-glass-review", "within the tenant"},
		// Adding roles widens no condition.
		{"medico+admin off the care team", []string{"medico", "admin"}, rbac.ActionRead, rbac.KindNote, none, false, "medico-clinical", "requires a place on the patient's care team"},
		{"admisionista+secretaria read a care-team note", []string{"admisionista", "secretaria"}, rbac.ActionRead, rbac.KindNote, team, false, rbac.RuleDefaultDeny, "no rule allows"},
		{"admin+auditor read a care-team note", []string{"admin", "auditor"}, rbac.ActionRead, rbac.KindNote, team, false, rbac.RuleDefaultDeny, "no rule allows"},
		// The auditor deny beats medico's allow, in either order.
		{"medico+auditor break the glass", []string{"medico", "auditor"}, rbac.ActionBreakGlass, rbac.KindBreakGlass, none, false, "auditor-no-break-glass", glassDeny},
		{"auditor+medico break the glass", []string{"auditor", "medico"}, rbac.ActionBreakGlass, rbac.KindBreakGlass, none, false, "auditor-no-break-glass", glassDeny},
		{"auditor alone breaks the glass", []string{"auditor"}, rbac.ActionBreakGlass, rbac.KindBreakGlass, none, false, "auditor-no-break-glass", glassDeny},
		{"medico+admin break the glass", []string{"medico", "admin"}, rbac.ActionBreakGlass, rbac.KindBreakGlass, none, true, "medico-break-glass", "within the tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(who(tt.roles...), tt.a, tt.k, tt.t)
			if d.Allowed != tt.allow || d.Rule != tt.rule || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Decide = %+v, want allowed %v by %s (%q)", d, tt.allow, tt.rule, tt.reason)
			}
			if ok := rbac.Default().Matrix().CanAny(tt.roles, tt.a, tt.k); tt.allow && !ok {
				t.Errorf("CanAny = false for an allowed request")
			}
		})
	}

	// Hence a physician who is also an auditor cannot obtain a grant.
	_, err := e.IssueGrant(who("medico", "auditor"), none, goodReason, time.Hour)
	var de *rbac.DeniedError
	if !errors.As(err, &de) || de.Decision.Rule != "auditor-no-break-glass" {
		t.Errorf("IssueGrant for medico+auditor = %v, want denied by auditor-no-break-glass", err)
	}
}

func TestAuthorize(t *testing.T) {
	e := newEngine(t, nil)
	if err := e.Authorize(who("medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: otherPatient, OnCareTeam: true}); err != nil {
		t.Fatalf("Authorize = %v, want nil", err)
	}
	pr := rbac.Principal{UserID: "u-secret-user", TenantID: "h-secret", PatientID: "p-secret", Roles: []string{"medico"}}
	err := e.Authorize(pr, rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: "h-secret", PatientID: "p-secret-2", Grant: &rbac.Grant{UserID: "u-secret-user", TenantID: "h-secret", PatientID: "p-secret-2", Reason: "dolor torácico en urgencias", NotAfter: t0.Add(-time.Minute)}})
	if !errors.Is(err, rbac.ErrDenied) {
		t.Fatalf("Authorize = %v, want ErrDenied", err)
	}
	var de *rbac.DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("Authorize error %T is not a *DeniedError", err)
	}
	if de.Decision.Allowed || de.Decision.Rule != "medico-clinical" {
		t.Errorf("DeniedError.Decision = %+v", de.Decision)
	}
	msg := err.Error()
	if msg != "rbac: denied: break-glass grant has expired (rule medico-clinical)" {
		t.Errorf("Error() = %q", msg)
	}
	for _, secret := range []string{"secret", "torácico"} {
		if strings.Contains(msg, secret) {
			t.Errorf("Error() %q leaks %q", msg, secret)
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		p    *rbac.Policy
		opts []rbac.Option
		ok   bool
	}{
		{"defaults", rbac.DefaultPolicy(), nil, true},
		{"nil option ignored", rbac.DefaultPolicy(), []rbac.Option{nil}, true},
		{"nil policy", nil, nil, false},
		{"nil clock", rbac.DefaultPolicy(), []rbac.Option{rbac.WithClock(nil)}, false},
		{"zero reason length", rbac.DefaultPolicy(), []rbac.Option{rbac.WithMinReasonLength(0)}, false},
		{"negative grant", rbac.DefaultPolicy(), []rbac.Option{rbac.WithMaxGrantDuration(-time.Hour)}, false},
		{"custom", rbac.DefaultPolicy(), []rbac.Option{rbac.WithMinReasonLength(1), rbac.WithMaxGrantDuration(time.Minute)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := rbac.New(tt.p, tt.opts...)
			if (err == nil) != tt.ok {
				t.Fatalf("New = %v, %v; want ok %v", e, err, tt.ok)
			}
		})
	}
	e := rbac.Default()
	if e.Policy() != rbac.DefaultPolicy() || e.MinReasonLength() != rbac.DefaultMinReasonLength || e.MaxGrantDuration() != rbac.DefaultMaxGrantDuration {
		t.Errorf("Default() = policy %p, min %d, max %v", e.Policy(), e.MinReasonLength(), e.MaxGrantDuration())
	}
}

// TestDecideAllocs asserts that Decide does not allocate, on every path.
func TestDecideAllocs(t *testing.T) {
	e := newEngine(t, nil)
	for _, c := range decideCases {
		t.Run(c.name, func(t *testing.T) {
			var d rbac.Decision
			if n := testing.AllocsPerRun(100, func() { d = e.Decide(c.p, c.a, c.k, c.t) }); n != 0 {
				t.Errorf("Decide allocates %v times per call", n)
			}
			if d.Allowed != c.allow {
				t.Errorf("Decide = %+v", d)
			}
		})
	}
	t.Run("Authorize allowed", func(t *testing.T) {
		c := decideCases[0]
		if n := testing.AllocsPerRun(100, func() { _ = e.Authorize(c.p, c.a, c.k, c.t) }); n != 0 {
			t.Errorf("Authorize allocates %v times per allowed call", n)
		}
	})
}

// TestDecideConcurrent runs the request mix from many goroutines; with -race
// it shows that Decide shares nothing mutable.
func TestDecideConcurrent(t *testing.T) {
	e := newEngine(t, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				for _, c := range decideCases {
					if d := e.Decide(c.p, c.a, c.k, c.t); d.Allowed != c.allow {
						t.Errorf("%s: %+v", c.name, d)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
