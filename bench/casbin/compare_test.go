package casbinbench

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/casbin/casbin/v2"
	"github.com/historiaehr/historia/rbac"
)

// t0 is the time both engines' clocks stand at.
var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	tenant      = "h-1"
	otherTenant = "h-2"
	reason      = "paciente inconsciente en urgencias"
)

// request is one authorization question, asked of both engines.
type request struct {
	p rbac.Principal
	a rbac.Action
	k rbac.Kind
	t rbac.Target
}

func principal(user string, roles ...string) rbac.Principal {
	return rbac.Principal{UserID: user, TenantID: tenant, PatientID: "p-" + user, Roles: roles}
}

func grant(user, patient string, notAfter time.Time) *rbac.Grant {
	return &rbac.Grant{UserID: user, TenantID: tenant, PatientID: patient, Reason: reason, NotAfter: notAfter}
}

// cases is the request mix of BenchmarkCompare: one request per kind of
// decision. Each case has its own user so their role assignments in casbin
// do not mix. "explicit-deny" is the policy's one deny (auditor may not
// break the glass) overriding another role's allow (medico may);
// "multi-role" is allowed by the third of three roles.
var cases = []struct {
	name  string
	req   request
	allow bool
}{
	{"allow", request{principal("u-allow", "medico"), rbac.ActionSearch, rbac.KindDemographics, rbac.Target{TenantID: tenant}}, true},
	{"deny", request{principal("u-deny", "secretaria"), rbac.ActionRead, rbac.KindAudit, rbac.Target{TenantID: tenant}}, false},
	{"explicit-deny", request{principal("u-xdeny", "medico", "auditor"), rbac.ActionBreakGlass, rbac.KindBreakGlass, rbac.Target{TenantID: tenant, PatientID: "p-1"}}, false},
	{"careteam", request{principal("u-team", "medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: "p-1", OnCareTeam: true}}, true},
	{"careteam-deny", request{principal("u-noteam", "medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: "p-1"}}, false},
	{"breakglass", request{principal("u-glass", "medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: "p-1", Grant: grant("u-glass", "p-1", t0.Add(time.Hour))}}, true},
	{"breakglass-expired", request{principal("u-expired", "medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: "p-1", Grant: grant("u-expired", "p-1", t0.Add(-time.Second))}}, false},
	{"self", request{principal("u-self", "paciente"), rbac.ActionRead, rbac.KindObservation, rbac.Target{TenantID: tenant, PatientID: "p-u-self"}}, true},
	{"self-deny", request{principal("u-other", "paciente"), rbac.ActionRead, rbac.KindObservation, rbac.Target{TenantID: tenant, PatientID: "p-1"}}, false},
	{"multi-role", request{principal("u-multi", "enfermera", "secretaria", "medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: "p-1", OnCareTeam: true}}, true},
	{"unknown-role", request{principal("u-unknown", "enfermera"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: tenant, PatientID: "p-1", OnCareTeam: true}}, false},
	{"tenant", request{principal("u-tenant", "medico"), rbac.ActionRead, rbac.KindNote, rbac.Target{TenantID: otherTenant, PatientID: "p-1", OnCareTeam: true}}, false},
	{"empty-principal", request{rbac.Principal{}, rbac.ActionRead, rbac.KindNote, rbac.Target{}}, false},
}

func newHistoria(tb testing.TB) *rbac.Engine {
	tb.Helper()
	e, err := rbac.New(rbac.DefaultPolicy(), rbac.WithClock(func() time.Time { return t0 }))
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// newCasbin returns a casbin enforcer with the model and policy in testdata,
// the cond() matcher function, and the role assignments of principals (in
// casbin, roles are per user and domain, stored in the enforcer).
func newCasbin(tb testing.TB, principals ...rbac.Principal) *casbin.Enforcer {
	tb.Helper()
	e, err := casbin.NewEnforcer("testdata/model.conf", "testdata/policy.csv")
	if err != nil {
		tb.Fatal(err)
	}
	e.AddFunction("cond", cond)
	var g [][]string
	seen := map[string]bool{}
	for _, p := range principals {
		for _, r := range p.Roles {
			key := p.UserID + "\x00" + r + "\x00" + p.TenantID
			if p.UserID == "" || seen[key] {
				continue
			}
			seen[key] = true
			g = append(g, []string{p.UserID, r, p.TenantID})
		}
	}
	if len(g) > 0 {
		if _, err := e.AddGroupingPolicies(g); err != nil {
			tb.Fatal(err)
		}
	}
	return e
}

// cond is the casbin matcher function for a policy line's conditions:
// cond(p.cond, r.sub, r.dom, r.ppat, r.tpat, r.team, r.grant). It applies
// the same checks as rbac, with the same clock and limits.
func cond(args ...any) (any, error) {
	if len(args) != 7 {
		return false, fmt.Errorf("cond: %d arguments, want 7", len(args))
	}
	conds, _ := args[0].(string)
	user, _ := args[1].(string)
	dom, _ := args[2].(string)
	ppat, _ := args[3].(string)
	tpat, _ := args[4].(string)
	team, _ := args[5].(bool)
	g, _ := args[6].(*rbac.Grant)
	if conds == "" {
		return true, nil
	}
	for c := range strings.SplitSeq(conds, "|") {
		switch c {
		case "self":
			if ppat != "" && ppat == tpat {
				return true, nil
			}
		case "careteam":
			if team && tpat != "" {
				return true, nil
			}
		case "breakglass":
			if g != nil && g.UserID != "" && g.UserID == user && g.TenantID == dom && tpat != "" && g.PatientID == tpat &&
				utf8.RuneCountInString(strings.TrimSpace(g.Reason)) >= rbac.DefaultMinReasonLength &&
				t0.Before(g.NotAfter) && g.NotAfter.Sub(t0) <= rbac.DefaultMaxGrantDuration {
				return true, nil
			}
		}
	}
	return false, nil
}

// enforce asks casbin the question q.
func enforce(e *casbin.Enforcer, q request) (bool, error) {
	return e.Enforce(q.p.UserID, q.p.TenantID, q.a.String(), q.k.String(),
		q.p.PatientID, q.t.TenantID, q.t.PatientID, q.t.OnCareTeam, q.t.Grant)
}

// TestAgreement checks that casbin and rbac decide alike: on the benchmark
// cases, and on every role × action × kind in several target situations.
func TestAgreement(t *testing.T) {
	h := newHistoria(t)
	var principals []rbac.Principal
	for _, c := range cases {
		principals = append(principals, c.req.p)
	}
	roles := rbac.DefaultPolicy().Roles()
	var single, pairs []rbac.Principal
	for i, r := range roles {
		single = append(single, principal("u-"+r, r))
		for _, r2 := range roles[i+1:] {
			pairs = append(pairs, principal("u-"+r+"+"+r2, r, r2))
		}
	}
	principals = append(append(principals, single...), pairs...)
	cb := newCasbin(t, principals...)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := h.Decide(c.req.p, c.req.a, c.req.k, c.req.t)
			got, err := enforce(cb, c.req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != c.allow || got != c.allow {
				t.Errorf("historia %+v, casbin %v; want %v", d, got, c.allow)
			}
		})
	}

	// every asks both engines every action × kind in six target situations
	// for each principal.
	every := func(t *testing.T, ps []rbac.Principal) {
		n := 0
		for _, p := range ps {
			targets := map[string]rbac.Target{
				"none":    {TenantID: tenant, PatientID: "p-1"},
				"self":    {TenantID: tenant, PatientID: p.PatientID},
				"team":    {TenantID: tenant, PatientID: "p-1", OnCareTeam: true},
				"glass":   {TenantID: tenant, PatientID: "p-1", Grant: grant(p.UserID, "p-1", t0.Add(time.Hour))},
				"expired": {TenantID: tenant, PatientID: "p-1", Grant: grant(p.UserID, "p-1", t0)},
				"xtenant": {TenantID: otherTenant, PatientID: p.PatientID, OnCareTeam: true},
			}
			for tn, tg := range targets {
				for _, a := range rbac.Actions() {
					for _, k := range rbac.Kinds() {
						q := request{p, a, k, tg}
						d := h.Decide(p, a, k, tg)
						got, err := enforce(cb, q)
						if err != nil {
							t.Fatal(err)
						}
						if got != d.Allowed {
							t.Errorf("%s %s %s (%s): historia %+v, casbin %v", strings.Join(p.Roles, "+"), a, k, tn, d, got)
						}
						n++
					}
				}
			}
		}
		t.Logf("%d requests agree", n)
	}
	t.Run("exhaustive", func(t *testing.T) { every(t, single) })
	// Every pair of roles: roles add up, and the auditor's deny of
	// break-glass beats medico's allow.
	t.Run("pairs", func(t *testing.T) { every(t, pairs) })
}

// BenchmarkCompare runs each request kind through rbac and casbin:
// BenchmarkCompare/<case>/historia and BenchmarkCompare/<case>/casbin.
func BenchmarkCompare(b *testing.B) {
	h := newHistoria(b)
	var principals []rbac.Principal
	for _, c := range cases {
		principals = append(principals, c.req.p)
	}
	cb := newCasbin(b, principals...)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			q := c.req
			b.Run("historia", func(b *testing.B) {
				b.ReportAllocs()
				var d rbac.Decision
				for b.Loop() {
					d = h.Decide(q.p, q.a, q.k, q.t)
				}
				if d.Allowed != c.allow {
					b.Fatalf("historia: %+v", d)
				}
			})
			b.Run("casbin", func(b *testing.B) {
				b.ReportAllocs()
				var ok bool
				var err error
				for b.Loop() {
					ok, err = enforce(cb, q)
				}
				if err != nil || ok != c.allow {
					b.Fatalf("casbin: %v, %v", ok, err)
				}
			})
		})
	}
}
