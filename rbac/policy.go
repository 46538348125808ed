package rbac

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// PolicyVersion is the only "version" a policy file may declare.
const PolicyVersion = 1

// Limits on policy files. They keep loading cheap and bounded for any input.
const (
	maxPolicyBytes = 1 << 20 // 1 MiB
	maxRoles       = 64
	maxRules       = 4096
	maxNameLen     = 64
	maxDescRunes   = 200
)

// Rule effects as written in policy files.
const (
	effectAllow = "allow"
	effectDeny  = "deny"
)

// wildcard in a rule's roles, actions or kinds stands for all of them.
const wildcard = "*"

// ErrInvalidPolicy is wrapped by every error LoadPolicy returns.
var ErrInvalidPolicy = errors.New("rbac: invalid policy")

// PolicyError reports why a policy file was rejected. Rule and Index name
// the offending rule when the problem is inside one (Index is its position
// in "rules", Rule its id when it has one); Index is -1 otherwise. It wraps
// ErrInvalidPolicy and Err.
type PolicyError struct {
	Rule  string
	Index int
	Err   error
}

// Error returns, for example,
// `rbac: policy rule "medico-clinical" (rules[4]): unknown action "raed"`.
func (e *PolicyError) Error() string {
	switch {
	case e.Index >= 0 && e.Rule != "":
		return fmt.Sprintf("rbac: policy rule %q (rules[%d]): %v", e.Rule, e.Index, e.Err)
	case e.Index >= 0:
		return fmt.Sprintf("rbac: policy rules[%d]: %v", e.Index, e.Err)
	}
	return fmt.Sprintf("rbac: policy: %v", e.Err)
}

// Unwrap returns ErrInvalidPolicy and the detailed error.
func (e *PolicyError) Unwrap() []error { return []error{ErrInvalidPolicy, e.Err} }

// Policy is a parsed, validated and compiled policy. It is immutable and
// safe for concurrent use; obtain one from DefaultPolicy or LoadPolicy. The
// zero Policy has no roles and denies everything.
type Policy struct {
	file      policyFile
	rules     []rule
	roleIndex map[string]int
	cells     []cell // len(roles) * actionCount * kindCount
}

// policyFile is the JSON form of a policy.
type policyFile struct {
	Version int        `json:"version"`
	Roles   []string   `json:"roles"`
	Rules   []ruleFile `json:"rules"`
}

// ruleFile is the JSON form of one rule.
type ruleFile struct {
	ID          string   `json:"id"`
	Effect      string   `json:"effect"`
	Roles       []string `json:"roles"`
	Actions     []string `json:"actions"`
	Kinds       []string `json:"kinds"`
	WhenAny     []string `json:"when_any,omitempty"`
	Description string   `json:"description,omitempty"`
}

// rule is a compiled rule.
type rule struct {
	id         string
	deny       bool
	when       conds
	denyReason string
}

// cell is what the policy says about one role, action and kind: the allow
// rule and the deny rule (index+1 into Policy.rules, 0 for none) and the
// conditions of the allow rule.
type cell struct {
	allow uint16
	deny  uint16
	when  conds
}

func (p *Policy) cellAt(role int, a Action, k Kind) cell {
	return p.cells[(role*actionCount+int(a))*kindCount+int(k)]
}

//go:embed default_policy.json
var defaultPolicyJSON []byte

var defaultPolicy = sync.OnceValue(func() *Policy {
	p, err := LoadPolicy(bytes.NewReader(defaultPolicyJSON))
	if err != nil {
		panic("rbac: embedded default policy is invalid: " + err.Error())
	}
	return p
})

// DefaultPolicy returns the policy of design.md §3 (roles paciente, medico,
// admisionista, secretaria, admin and auditor), embedded from
// default_policy.json. Every call returns the same immutable Policy.
func DefaultPolicy() *Policy { return defaultPolicy() }

// LoadPolicy reads a JSON policy file (at most 1 MiB), validates it and
// compiles it. The file looks like this:
//
//	{
//	  "version": 1,
//	  "roles": ["paciente", "medico"],
//	  "rules": [
//	    {"id": "medico-clinical", "effect": "allow", "roles": ["medico"],
//	     "actions": ["read", "update"], "kinds": ["note"],
//	     "when_any": ["careteam", "breakglass"],
//	     "description": "A physician works on the charts of their patients."}
//	  ]
//	}
//
// Every error is a *PolicyError wrapping ErrInvalidPolicy that names the
// offending rule (by id and position) when the problem is in one: malformed
// JSON, an unknown or repeated field, a wrong type, an unknown version, role,
// action, kind, condition or effect, a duplicate rule id, a duplicate entry
// in a list, a condition on a deny rule, or two allow (or two deny) rules for
// the same role, action and kind.
func LoadPolicy(r io.Reader) (*Policy, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPolicyBytes+1))
	if err != nil {
		return nil, &PolicyError{Index: -1, Err: fmt.Errorf("read: %w", err)}
	}
	if len(data) > maxPolicyBytes {
		return nil, &PolicyError{Index: -1, Err: fmt.Errorf("file larger than %d bytes", maxPolicyBytes)}
	}
	return parsePolicy(data)
}

// MarshalJSON returns the policy in its file format, indented. For a policy
// from LoadPolicy or DefaultPolicy, LoadPolicy of the result gives an
// equivalent policy (the zero Policy, having no roles, does not load).
func (p *Policy) MarshalJSON() ([]byte, error) {
	f := p.file
	if f.Version == 0 {
		f.Version = PolicyVersion
	}
	if f.Roles == nil {
		f.Roles = []string{}
	}
	if f.Rules == nil {
		f.Rules = []ruleFile{}
	}
	return json.MarshalIndent(f, "", "  ")
}

// Roles returns the roles the policy declares, in file order.
func (p *Policy) Roles() []string { return append([]string(nil), p.file.Roles...) }

func parsePolicy(data []byte) (*Policy, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	var raw struct {
		Version *int              `json:"version"`
		Roles   []string          `json:"roles"`
		Rules   []json.RawMessage `json:"rules"`
	}
	if err := strictDecode(data, &raw); err != nil {
		return nil, &PolicyError{Index: -1, Err: err}
	}
	fail := func(format string, args ...any) error {
		return &PolicyError{Index: -1, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case raw.Version == nil:
		return nil, fail(`missing "version" (want %d)`, PolicyVersion)
	case *raw.Version != PolicyVersion:
		return nil, fail(`unknown version %d (want %d)`, *raw.Version, PolicyVersion)
	case len(raw.Roles) == 0:
		return nil, fail(`no "roles"`)
	case len(raw.Roles) > maxRoles:
		return nil, fail(`more than %d roles`, maxRoles)
	case len(raw.Rules) > maxRules:
		return nil, fail(`more than %d rules`, maxRules)
	}

	p := &Policy{
		file:      policyFile{Version: *raw.Version, Roles: raw.Roles},
		roleIndex: make(map[string]int, len(raw.Roles)),
	}
	for i, r := range raw.Roles {
		if err := checkName(r); err != nil {
			return nil, fail("roles[%d]: role %q: %v", i, r, err)
		}
		if _, dup := p.roleIndex[r]; dup {
			return nil, fail("roles[%d]: duplicate role %q", i, r)
		}
		p.roleIndex[r] = i
	}
	p.cells = make([]cell, len(raw.Roles)*actionCount*kindCount)

	ids := make(map[string]int, len(raw.Rules))
	for i, msg := range raw.Rules {
		var rf ruleFile
		if err := strictDecode(msg, &rf); err != nil {
			return nil, &PolicyError{Rule: ruleID(msg), Index: i, Err: err}
		}
		if err := p.addRule(i, rf, ids); err != nil {
			return nil, &PolicyError{Rule: rf.ID, Index: i, Err: err}
		}
	}
	return p, nil
}

// addRule validates rule number i and adds it to the compiled table.
func (p *Policy) addRule(i int, rf ruleFile, ids map[string]int) error {
	if rf.ID == "" {
		return errors.New(`missing "id"`)
	}
	if err := checkName(rf.ID); err != nil {
		return fmt.Errorf("id: %v", err)
	}
	switch rf.ID {
	case RuleInvalid, RuleTenant, RuleDefaultDeny:
		return fmt.Errorf("id %q is reserved", rf.ID)
	}
	if j, dup := ids[rf.ID]; dup {
		return fmt.Errorf("duplicate rule id (also rules[%d])", j)
	}
	ids[rf.ID] = i

	r := rule{id: rf.ID}
	switch rf.Effect {
	case effectAllow:
	case effectDeny:
		r.deny = true
	case "":
		return errors.New(`missing "effect" (want "allow" or "deny")`)
	default:
		return fmt.Errorf("unknown effect %q (want \"allow\" or \"deny\")", rf.Effect)
	}
	if err := checkDescription(rf.Description); err != nil {
		return err
	}
	r.denyReason = reasonExplicitDeny
	if rf.Description != "" {
		r.denyReason = rf.Description
	}

	roles, err := expand("role", rf.Roles, p.file.Roles, func(s string) (int, error) {
		if i, ok := p.roleIndex[s]; ok {
			return i, nil
		}
		return 0, errors.New("unknown role (not in \"roles\")")
	})
	if err != nil {
		return err
	}
	actions, err := expand("action", rf.Actions, actionNames[1:], func(s string) (Action, error) {
		a, err := ParseAction(s)
		if err != nil {
			return 0, errors.New("unknown action")
		}
		return a, nil
	})
	if err != nil {
		return err
	}
	kinds, err := expand("kind", rf.Kinds, kindNames[1:], func(s string) (Kind, error) {
		k, err := ParseKind(s)
		if err != nil {
			return 0, errors.New("unknown kind")
		}
		return k, nil
	})
	if err != nil {
		return err
	}
	for _, s := range rf.WhenAny {
		c, err := ParseCondition(s)
		if err != nil {
			return fmt.Errorf("when_any: unknown condition %q (want self, careteam or breakglass)", s)
		}
		if r.when&conds(c) != 0 {
			return fmt.Errorf("when_any: duplicate condition %q", s)
		}
		r.when |= conds(c)
	}
	if r.deny && rf.WhenAny != nil {
		return errors.New("a deny rule is unconditional: remove \"when_any\"")
	}
	if !r.deny && rf.WhenAny != nil && r.when == 0 {
		return errors.New(`empty "when_any": omit it for an unconditional rule`)
	}

	p.rules = append(p.rules, r)
	n := uint16(len(p.rules))
	for _, ro := range roles {
		for _, a := range actions {
			for _, k := range kinds {
				c := &p.cells[(ro*actionCount+int(a))*kindCount+int(k)]
				slot := &c.allow
				if r.deny {
					slot = &c.deny
				}
				if *slot != 0 {
					verb := "allows"
					if r.deny {
						verb = "denies"
					}
					return fmt.Errorf("duplicate: rule %q already %s role %s to %s %s",
						p.rules[*slot-1].id, verb, p.file.Roles[ro], a, k)
				}
				*slot = n
				if !r.deny {
					c.when = r.when
				}
			}
		}
	}
	p.file.Rules = append(p.file.Rules, rf)
	return nil
}

// expand resolves the names in list (one field of a rule) with parse, or all
// of universe for the wildcard "*". It rejects an empty list, duplicates and
// a wildcard mixed with names.
func expand[T comparable](field string, list, universe []string, parse func(string) (T, error)) ([]T, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("no %ss", field)
	}
	if len(list) == 1 && list[0] == wildcard {
		list = universe
	}
	out := make([]T, 0, len(list))
	seen := make(map[T]bool, len(list))
	for _, s := range list {
		if s == wildcard {
			return nil, fmt.Errorf("%ss: %q must be the only entry", field, wildcard)
		}
		v, err := parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %v", field, s, err)
		}
		if seen[v] {
			return nil, fmt.Errorf("duplicate %s %q", field, s)
		}
		seen[v] = true
		out = append(out, v)
	}
	return out, nil
}

// checkName accepts role names and rule ids: 1 to 64 characters, lower-case
// ASCII letters, digits, '-', '_' and '.', starting with a letter or digit.
func checkName(s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("must have 1 to %d characters", maxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '-' || c == '_' || c == '.'):
		default:
			return errors.New("may only hold a-z, 0-9, '-', '_' and '.', starting with a letter or digit")
		}
	}
	return nil
}

// checkDescription accepts one line of printable text of at most 200
// characters. Descriptions become denial reasons and documentation.
func checkDescription(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("description is not valid UTF-8")
	}
	if utf8.RuneCountInString(s) > maxDescRunes {
		return fmt.Errorf("description longer than %d characters", maxDescRunes)
	}
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return errors.New("description may only hold printable characters on one line")
	}
	return nil
}

// strictDecode decodes one JSON value into v, rejecting unknown fields and
// describing type errors without Go type names.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		want := "a " + te.Type.Kind().String()
		switch te.Type.Kind().String() {
		case "slice":
			want = "a list"
		case "struct":
			want = "an object"
		case "ptr", "int":
			want = "a number"
		}
		if te.Field == "" {
			return fmt.Errorf("want %s, got JSON %s", want, te.Value)
		}
		return fmt.Errorf("field %q: want %s, got JSON %s", te.Field, want, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	return err
}

// ruleID returns the "id" of a rule that failed to decode strictly, if it
// has a string one.
func ruleID(msg json.RawMessage) string {
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(msg, &v) // best effort: other fields may be wrong
	if checkName(v.ID) != nil {
		return ""
	}
	return v.ID
}
