package rbac_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/historiaehr/historia/rbac"
)

// policyJSON wraps rules (JSON objects separated by commas) in a policy with
// roles medico and paciente.
func policyJSON(rules ...string) string {
	return `{"version": 1, "roles": ["medico", "paciente"], "rules": [` + strings.Join(rules, ",\n") + `]}`
}

const okRule = `{"id": "ok", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note"], "when_any": ["careteam"]}`

// badPolicies are policy files LoadPolicy must reject. Each names the rule
// (id and index) the error must point to, or index -1 for a file-level
// problem, and words the message must contain.
var badPolicies = []struct {
	name  string
	json  string
	rule  string
	index int
	want  string
}{
	{"empty", ``, "", -1, "empty file"},
	{"not an object", `[]`, "", -1, "one JSON object"},
	{"truncated", `{"version": 1,`, "", -1, "unexpected end"},
	{"syntax", "{\"version\": 1,\n \"roles\": [\"medico\"],, }", "", -1, "line 2, column 22: malformed JSON"},
	{"syntax in rule", policyJSON(okRule, `{"id": "b" "effect": "allow"}`), "", 1, "malformed JSON"},
	{"trailing data", `{"version": 1, "roles": ["medico"], "rules": []} {}`, "", -1, "data after the policy object"},
	{"unknown top field", `{"version": 1, "roles": ["medico"], "rulez": []}`, "", -1, `unknown field "rulez"`},
	{"repeated top field", `{"version": 1, "version": 1, "roles": ["medico"]}`, "", -1, `repeated field "version"`},
	{"missing version", `{"roles": ["medico"], "rules": []}`, "", -1, `missing "version"`},
	{"unknown version", `{"version": 2, "roles": ["medico"], "rules": []}`, "", -1, "unknown version 2"},
	{"version type", `{"version": "1", "roles": ["medico"], "rules": []}`, "", -1, `field "version": want a number, got JSON string`},
	{"no roles", `{"version": 1, "roles": [], "rules": []}`, "", -1, `no "roles"`},
	{"roles type", `{"version": 1, "roles": "medico", "rules": []}`, "", -1, `field "roles": want a list`},
	{"duplicate role", `{"version": 1, "roles": ["medico", "medico"], "rules": []}`, "", -1, `roles[1]: duplicate role "medico"`},
	{"bad role name", `{"version": 1, "roles": ["Médico"], "rules": []}`, "", -1, `roles[0]: role "Médico"`},
	{"rules type", `{"version": 1, "roles": ["medico"], "rules": {}}`, "", -1, `field "rules": want a list`},
	{"rule not an object", policyJSON(okRule, `"medico-read"`), "", 1, "want an object"},
	{"unknown rule field", policyJSON(okRule, `{"id": "b", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note"], "conditions": ["self"]}`), "b", 1, `unknown field "conditions"`},
	{"repeated rule field", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note"], "kinds": ["user"]}`), "a", 0, `repeated field "kinds"`},
	{"upper-case field", policyJSON(`{"ID": "a", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note"]}`), "a", 0, `field "ID": field names are lower case`},
	{"rule field type", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": "read", "kinds": ["note"]}`), "a", 0, `field "actions": want a list, got JSON string`},
	{"missing id", policyJSON(`{"effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note"]}`), "", 0, `missing "id"`},
	{"bad id", policyJSON(`{"id": "Medico Read", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note"]}`), "Medico Read", 0, "id: may only hold"},
	{"reserved id", policyJSON(`{"id": "tenant", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note"]}`), "tenant", 0, "reserved"},
	{"duplicate id", policyJSON(okRule, `{"id": "ok", "effect": "allow", "roles": ["paciente"], "actions": ["read"], "kinds": ["note"]}`), "ok", 1, "duplicate rule id (also rules[0])"},
	{"missing effect", policyJSON(`{"id": "a", "roles": ["medico"], "actions": ["read"], "kinds": ["note"]}`), "a", 0, `missing "effect"`},
	{"unknown effect", policyJSON(`{"id": "a", "effect": "permit", "roles": ["medico"], "actions": ["read"], "kinds": ["note"]}`), "a", 0, `unknown effect "permit"`},
	{"unknown role", policyJSON(okRule, `{"id": "nurse-read", "effect": "allow", "roles": ["enfermera"], "actions": ["read"], "kinds": ["note"]}`), "nurse-read", 1, `role "enfermera": unknown role`},
	{"unknown action", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": ["raed"], "kinds": ["note"]}`), "a", 0, `action "raed": unknown action`},
	{"unknown kind", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["notes"]}`), "a", 0, `kind "notes": unknown kind`},
	{"unknown condition", policyJSON(`{"id": "a", "effect": "allow", "roles": ["paciente"], "actions": ["read"], "kinds": ["note"], "when_any": ["owner"]}`), "a", 0, `unknown condition "owner"`},
	{"no roles in rule", policyJSON(`{"id": "a", "effect": "allow", "roles": [], "actions": ["read"], "kinds": ["note"]}`), "a", 0, "no roles"},
	{"no actions", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "kinds": ["note"]}`), "a", 0, "no actions"},
	{"no kinds", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": ["read"]}`), "a", 0, "no kinds"},
	{"duplicate role in rule", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico", "medico"], "actions": ["read"], "kinds": ["note"]}`), "a", 0, `duplicate role "medico"`},
	{"duplicate action", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": ["read", "read"], "kinds": ["note"]}`), "a", 0, `duplicate action "read"`},
	{"duplicate kind", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note", "user", "note"]}`), "a", 0, `duplicate kind "note"`},
	{"duplicate condition", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note"], "when_any": ["careteam", "careteam"]}`), "a", 0, `duplicate condition "careteam"`},
	{"wildcard mixed", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": ["read", "*"], "kinds": ["note"]}`), "a", 0, `"*" must be the only entry`},
	{"conditional deny", policyJSON(`{"id": "a", "effect": "deny", "roles": ["medico"], "actions": ["read"], "kinds": ["note"], "when_any": ["careteam"]}`), "a", 0, "a deny rule is unconditional"},
	{"empty when_any", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note"], "when_any": []}`), "a", 0, `empty "when_any"`},
	{"overlapping allow", policyJSON(okRule, `{"id": "wide", "effect": "allow", "roles": ["*"], "actions": ["read", "search"], "kinds": ["*"]}`), "wide", 1, `duplicate: rule "ok" already allows role medico to read note`},
	{"overlapping deny", policyJSON(`{"id": "d1", "effect": "deny", "roles": ["paciente"], "actions": ["*"], "kinds": ["user"]}`, `{"id": "d2", "effect": "deny", "roles": ["paciente"], "actions": ["manage"], "kinds": ["user"]}`), "d2", 1, `duplicate: rule "d1" already denies role paciente to manage user`},
	{"long description", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note"], "description": "` + strings.Repeat("x", 201) + `"}`), "a", 0, "description longer than 200"},
	{"multi-line description", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note"], "description": "one\ntwo"}`), "a", 0, "one line"},
	{"too large", `{"version": 1, "roles": ["medico"], "rules": [], "x": "` + strings.Repeat(" ", 1<<20) + `"}`, "", -1, "larger than"},
}

func TestLoadPolicyErrors(t *testing.T) {
	for _, tt := range badPolicies {
		t.Run(tt.name, func(t *testing.T) {
			p, err := rbac.LoadPolicy(strings.NewReader(tt.json))
			if err == nil {
				t.Fatalf("LoadPolicy succeeded (%d roles)", len(p.Roles()))
			}
			if !errors.Is(err, rbac.ErrInvalidPolicy) {
				t.Errorf("error %v does not wrap ErrInvalidPolicy", err)
			}
			var pe *rbac.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *PolicyError", err)
			}
			if pe.Rule != tt.rule || pe.Index != tt.index {
				t.Errorf("error names rule %q at index %d, want %q at %d (%v)", pe.Rule, pe.Index, tt.rule, tt.index, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.rule != "" && !strings.Contains(err.Error(), fmt.Sprintf("rule %q (rules[%d])", tt.rule, tt.index)) {
				t.Errorf("error %q does not name the rule", err)
			}
		})
	}
}

func TestLoadPolicyReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := rbac.LoadPolicy(iotest.ErrReader(boom))
	if !errors.Is(err, boom) || !errors.Is(err, rbac.ErrInvalidPolicy) {
		t.Fatalf("LoadPolicy = %v, want it to wrap the read error and ErrInvalidPolicy", err)
	}
}

func TestLoadPolicyValid(t *testing.T) {
	tests := []struct {
		name string
		json string
	}{
		{"no rules", `{"version": 1, "roles": ["medico"], "rules": []}`},
		{"rules omitted", `{"version": 1, "roles": ["medico"]}`},
		{"allow and deny on the same cell", policyJSON(okRule, `{"id": "d", "effect": "deny", "roles": ["medico"], "actions": ["read"], "kinds": ["note"]}`)},
		{"wildcards", policyJSON(`{"id": "all", "effect": "allow", "roles": ["*"], "actions": ["*"], "kinds": ["*"], "when_any": ["self", "careteam", "breakglass"]}`)},
		{"unicode description", policyJSON(`{"id": "a", "effect": "allow", "roles": ["medico"], "actions": ["read"], "kinds": ["note"], "description": "El médico lee la evolución."}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := rbac.LoadPolicy(strings.NewReader(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, p)
		})
	}
}

// roundTrip checks that p survives MarshalJSON and LoadPolicy unchanged.
func roundTrip(tb testing.TB, p *rbac.Policy) {
	tb.Helper()
	b, err := p.MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	q, err := rbac.LoadPolicy(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("reloading the marshaled policy: %v\n%s", err, b)
	}
	b2, err := q.MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		tb.Fatalf("MarshalJSON differs after a round trip:\n%s\n---\n%s", b, b2)
	}
	if !reflect.DeepEqual(p.Matrix(), q.Matrix()) {
		tb.Fatal("Matrix differs after a round trip")
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := rbac.DefaultPolicy()
	if p != rbac.DefaultPolicy() {
		t.Error("DefaultPolicy returns a new policy on each call")
	}
	want := []string{"paciente", "medico", "admisionista", "secretaria", "admin", "auditor"}
	if got := p.Roles(); !reflect.DeepEqual(got, want) {
		t.Errorf("Roles() = %v, want %v", got, want)
	}
	p.Roles()[0] = "mutated"
	if p.Roles()[0] != "paciente" {
		t.Error("Roles() exposes the policy's slice")
	}
	roundTrip(t, p)
}

// TestZeroPolicy checks that a zero Policy is usable and denies everything.
func TestZeroPolicy(t *testing.T) {
	e := newEngine(t, &rbac.Policy{})
	d := e.Decide(who("medico"), rbac.ActionRead, rbac.KindDemographics, rbac.Target{TenantID: tenant})
	if d.Allowed || d.Rule != rbac.RuleDefaultDeny {
		t.Errorf("Decide = %+v, want default deny", d)
	}
	if m := e.Matrix(); len(m.Roles) != 0 || len(m.Permissions) != 0 {
		t.Errorf("Matrix = %+v, want empty", m)
	}
	if _, err := io.ReadAll(bytes.NewReader(nil)); err != nil {
		t.Fatal(err)
	}
}
