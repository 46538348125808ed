package rbac_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/historiaehr/historia/rbac"
)

// FuzzLoadPolicy feeds arbitrary bytes to LoadPolicy. It must never panic;
// an error must be a *PolicyError wrapping ErrInvalidPolicy; an accepted
// policy must survive a MarshalJSON round trip and serve decisions.
func FuzzLoadPolicy(f *testing.F) {
	f.Add([]byte(defaultJSON(f)))
	f.Add([]byte(denyPolicy))
	f.Add([]byte(policyJSON(okRule)))
	f.Add([]byte(policyJSON(`{"id": "all", "effect": "allow", "roles": ["*"], "actions": ["*"], "kinds": ["*"], "when_any": ["self", "careteam", "breakglass"]}`)))
	for _, bad := range badPolicies {
		if len(bad.json) < 4096 {
			f.Add([]byte(bad.json))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := rbac.LoadPolicy(bytes.NewReader(data))
		if err != nil {
			var pe *rbac.PolicyError
			if !errors.As(err, &pe) || !errors.Is(err, rbac.ErrInvalidPolicy) {
				t.Fatalf("error %v (%T) is not a *PolicyError wrapping ErrInvalidPolicy", err, err)
			}
			if !strings.HasPrefix(err.Error(), "rbac: policy") {
				t.Fatalf("error %q lacks the rbac: policy prefix", err)
			}
			return
		}
		roundTrip(t, p)
		e, err := rbac.New(p, rbac.WithClock(func() time.Time { return t0 }))
		if err != nil {
			t.Fatal(err)
		}
		m := e.Matrix()
		for _, c := range decideCases {
			for _, r := range m.Roles {
				pr := c.p
				pr.Roles = []string{r}
				d := e.Decide(pr, c.a, c.k, c.t)
				if d.Allowed != oracle(m, e, pr, c.a, c.k, c.t) {
					t.Fatalf("%s as %s: Decide = %+v disagrees with the matrix", c.name, r, d)
				}
			}
		}
	})
}

// defaultJSON returns the default policy in its file format.
func defaultJSON(tb testing.TB) string {
	b, err := rbac.DefaultPolicy().MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// FuzzDecide decides arbitrary requests against the default policy. Decide
// must never panic, must always name a rule and a reason, and must agree
// with an independent evaluation over the policy's Matrix.
func FuzzDecide(f *testing.F) {
	// user, tenant, patient, extraRole, roleMask, action, kind, sameTenant,
	// tPatient, samePatient, onCareTeam, hasGrant, gUserSame, gPatientSame,
	// gTenantSame, reason, expiresIn (seconds from t0)
	f.Add("u-1", "h-1", "p-1", "", uint8(0b10), uint8(rbac.ActionRead), uint8(rbac.KindNote), true, "p-2", false, true, false, true, true, true, goodReason, int64(3600))
	f.Add("u-1", "h-1", "p-1", "", uint8(0b10), uint8(rbac.ActionRead), uint8(rbac.KindNote), true, "p-2", false, false, true, true, true, true, goodReason, int64(3600))
	f.Add("u-1", "h-1", "p-1", "", uint8(0b10), uint8(rbac.ActionUpdate), uint8(rbac.KindObservation), true, "p-2", false, false, true, true, true, true, "corto", int64(60))
	f.Add("u-1", "h-1", "p-1", "", uint8(0b10), uint8(rbac.ActionAmend), uint8(rbac.KindNote), true, "p-2", false, false, true, true, true, true, goodReason, int64(-1))
	f.Add("u-1", "h-1", "p-1", "", uint8(0b10), uint8(rbac.ActionAmend), uint8(rbac.KindNote), true, "p-2", false, false, true, true, true, true, goodReason, int64(5*3600))
	f.Add("u-1", "h-1", "p-1", "", uint8(0b10), uint8(rbac.ActionRead), uint8(rbac.KindNote), true, "p-2", false, false, true, false, true, true, goodReason, int64(3600))
	f.Add("u-1", "h-1", "p-1", "", uint8(0b01), uint8(rbac.ActionRead), uint8(rbac.KindAccessLog), true, "", true, false, false, false, false, false, "", int64(0))
	f.Add("u-1", "h-1", "p-1", "", uint8(0b01), uint8(rbac.ActionRead), uint8(rbac.KindAccessLog), true, "p-2", false, false, false, false, false, false, "", int64(0))
	f.Add("u-1", "h-1", "", "", uint8(0b01), uint8(rbac.ActionRead), uint8(rbac.KindNote), true, "", true, false, false, false, false, false, "", int64(0))
	f.Add("u-1", "h-1", "p-1", "", uint8(0b110), uint8(rbac.ActionRead), uint8(rbac.KindNote), true, "p-2", false, true, false, false, false, false, "", int64(0))
	f.Add("u-1", "h-1", "p-1", "", uint8(0b100000), uint8(rbac.ActionVerify), uint8(rbac.KindAudit), true, "", false, false, false, false, false, false, "", int64(0))
	f.Add("u-1", "h-1", "p-1", "enfermera", uint8(0), uint8(rbac.ActionRead), uint8(rbac.KindNote), true, "p-2", false, true, false, false, false, false, "", int64(0))
	f.Add("u-1", "h-1", "p-1", "", uint8(0b10), uint8(rbac.ActionRead), uint8(rbac.KindNote), false, "p-2", false, true, true, true, true, true, goodReason, int64(3600))
	f.Add("", "", "", "", uint8(0), uint8(0), uint8(0), false, "", false, false, false, false, false, false, "", int64(0))
	f.Add("u-1", "h-1", "p-1", "", uint8(0xff), uint8(255), uint8(255), true, "p-1", true, true, true, true, true, true, goodReason, int64(3600))

	e := newEngine(f, nil)
	roles := rbac.DefaultPolicy().Roles()
	f.Fuzz(func(t *testing.T, user, tenantID, patient, extraRole string, roleMask, action, kind uint8,
		sameTenant bool, tPatient string, samePatient, onCareTeam, hasGrant, gUserSame, gPatientSame, gTenantSame bool,
		reason string, expiresIn int64) {
		p := rbac.Principal{UserID: user, TenantID: tenantID, PatientID: patient}
		for i, r := range roles {
			if roleMask&(1<<i) != 0 {
				p.Roles = append(p.Roles, r)
			}
		}
		if extraRole != "" {
			p.Roles = append(p.Roles, extraRole)
		}
		tg := rbac.Target{TenantID: "other-" + tenantID, PatientID: tPatient, OnCareTeam: onCareTeam}
		if sameTenant {
			tg.TenantID = tenantID
		}
		if samePatient {
			tg.PatientID = patient
		}
		if hasGrant {
			g := rbac.Grant{UserID: "someone-else", TenantID: "elsewhere", PatientID: "another", Reason: reason,
				NotAfter: t0.Add(time.Duration(expiresIn%(1<<32)) * time.Second)}
			if gUserSame {
				g.UserID = user
			}
			if gTenantSame {
				g.TenantID = tenantID
			}
			if gPatientSame {
				g.PatientID = tg.PatientID
			}
			tg.Grant = &g
		}
		a, k := rbac.Action(action), rbac.Kind(kind)

		d := e.Decide(p, a, k, tg)
		if d.Rule == "" || d.Reason == "" {
			t.Fatalf("Decide = %+v: empty rule or reason", d)
		}
		if want := oracle(e.Matrix(), e, p, a, k, tg); d.Allowed != want {
			t.Fatalf("Decide(%+v, %v, %v, %+v) = %+v, oracle says allowed %v", p, a, k, tg, d, want)
		}
		if d.Allowed && (p.TenantID == "" || tg.TenantID != p.TenantID) {
			t.Fatalf("allowed across tenants: %+v", d)
		}
		switch {
		case !d.Allowed && d.Condition != 0:
			t.Fatalf("denied decision with a condition: %+v", d)
		case d.Condition == rbac.ConditionBreakGlass && tg.Grant == nil:
			t.Fatalf("allowed by break-glass without a grant: %+v", d)
		case d.Condition == rbac.ConditionCareTeam && !tg.OnCareTeam:
			t.Fatalf("allowed by care team off the care team: %+v", d)
		case d.Condition == rbac.ConditionSelf && p.PatientID != tg.PatientID:
			t.Fatalf("allowed as own record on another patient: %+v", d)
		}
		err := e.Authorize(p, a, k, tg)
		if (err == nil) != d.Allowed || (err != nil && !errors.Is(err, rbac.ErrDenied)) {
			t.Fatalf("Authorize = %v, Decide = %+v", err, d)
		}
	})
}

// oracle decides a request from the Matrix alone, following the semantics
// documented in docs/rbac.md. It shares no code with Engine.Decide.
func oracle(m rbac.Matrix, e *rbac.Engine, p rbac.Principal, a rbac.Action, k rbac.Kind, t rbac.Target) bool {
	if p.UserID == "" || p.TenantID == "" || len(p.Roles) == 0 || !a.Valid() || !k.Valid() || t.TenantID != p.TenantID {
		return false
	}
	allowed := false
	for _, r := range p.Roles {
		perm := m.Lookup(r, a, k)
		if perm.Deny != "" {
			return false
		}
		if perm.Allow == "" {
			continue
		}
		if len(perm.When) == 0 {
			allowed = true
		}
		for _, c := range perm.When {
			switch c {
			case rbac.ConditionSelf:
				allowed = allowed || (p.PatientID != "" && p.PatientID == t.PatientID)
			case rbac.ConditionCareTeam:
				allowed = allowed || (t.OnCareTeam && t.PatientID != "")
			case rbac.ConditionBreakGlass:
				g := t.Grant
				allowed = allowed || (g != nil && g.UserID != "" && g.UserID == p.UserID &&
					g.TenantID == p.TenantID && t.PatientID != "" && g.PatientID == t.PatientID &&
					utf8.RuneCountInString(strings.TrimSpace(g.Reason)) >= e.MinReasonLength() &&
					t0.Before(g.NotAfter) && g.NotAfter.Sub(t0) <= e.MaxGrantDuration())
			}
		}
	}
	return allowed
}
