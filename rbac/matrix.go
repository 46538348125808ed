package rbac

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Permission is what a policy says about one role, action and kind: the id
// of the allow rule (or ""), the conditions it accepts (any one suffices;
// none means it is unconditional within the tenant), and the id of the deny
// rule (or "").
type Permission struct {
	Role   string
	Action Action
	Kind   Kind
	Allow  string
	When   []Condition
	Deny   string
}

// Possible reports whether some request by this role alone could be allowed:
// there is an allow rule and no deny rule.
func (p Permission) Possible() bool { return p.Allow != "" && p.Deny == "" }

// Matrix is the whole role × action × kind table of a policy. Roles is in
// policy order. Permissions holds every cell with a rule, ordered by role
// (policy order), action and kind (declaration order); a cell that is not
// listed has no rule, which means deny.
type Matrix struct {
	Roles       []string
	Permissions []Permission
}

// Matrix returns the policy's role × action × kind table.
func (p *Policy) Matrix() Matrix {
	m := Matrix{Roles: p.Roles()}
	for ri, role := range p.file.Roles {
		for a := Action(1); int(a) < actionCount; a++ {
			for k := Kind(1); int(k) < kindCount; k++ {
				c := p.cellAt(ri, a, k)
				if c.allow == 0 && c.deny == 0 {
					continue
				}
				perm := Permission{Role: role, Action: a, Kind: k}
				if c.allow != 0 {
					perm.Allow = p.rules[c.allow-1].id
					perm.When = c.when.list()
				}
				if c.deny != 0 {
					perm.Deny = p.rules[c.deny-1].id
				}
				m.Permissions = append(m.Permissions, perm)
			}
		}
	}
	return m
}

// Lookup returns the permission of role for action a on kind k. A cell
// without rules comes back with only Role, Action and Kind set.
func (m Matrix) Lookup(role string, a Action, k Kind) Permission {
	for _, p := range m.Permissions {
		if p.Role == role && p.Action == a && p.Kind == k {
			return p
		}
	}
	return Permission{Role: role, Action: a, Kind: k}
}

// Can reports whether role might be allowed action a on kind k, that is,
// whether some target satisfies the conditions. A user interface uses it to
// hide what a role can never do; the server still calls Decide.
func (m Matrix) Can(role string, a Action, k Kind) bool {
	return m.Lookup(role, a, k).Possible()
}

// CanAny is Can for a principal holding several roles: true when one of
// roles might be allowed and none of them is explicitly denied (explicit
// deny overrides allow across roles, as in Decide).
func (m Matrix) CanAny(roles []string, a Action, k Kind) bool {
	can := false
	for _, r := range roles {
		p := m.Lookup(r, a, k)
		if p.Deny != "" {
			return false
		}
		can = can || p.Allow != ""
	}
	return can
}

// WriteMarkdown writes the matrix as Markdown: one section per role with a
// table of kinds, actions, effect, conditions and rule, one row per rule and
// set of actions. docs/rbac.md embeds
// it for the default policy; a hospital can document its own policy the
// same way.
func (m Matrix) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Roles: %s. Each row lists the kinds for which one rule decides the same actions.\n", codeList(m.Roles))
	fmt.Fprintf(bw, "\"always\" means unconditional within the principal's tenant; \"a or b\" means any one condition suffices.\n")
	for _, role := range m.Roles {
		fmt.Fprintf(bw, "\n### `%s`\n\n", role)
		rows := m.rows(role)
		if len(rows) == 0 {
			fmt.Fprintf(bw, "No permissions: everything is denied by default.\n")
			continue
		}
		fmt.Fprintf(bw, "| kinds | actions | effect | when | rule |\n|---|---|---|---|---|\n")
		for _, r := range rows {
			fmt.Fprintf(bw, "| %s | %s | %s | %s | `%s` |\n", r.kindList(), r.actionList(), r.effect, r.when, r.rule)
		}
	}
	return bw.Flush()
}

// row is one line of a role's table: the actions one rule decides for
// some kinds.
type row struct {
	kinds   []Kind
	effect  string
	when    string
	rule    string
	actions []Action
}

func (r row) kindList() string {
	s := make([]string, len(r.kinds))
	for i, k := range r.kinds {
		s[i] = k.String()
	}
	return strings.Join(s, ", ")
}

func (r row) actionList() string {
	if len(r.actions) == actionCount-1 {
		return "all"
	}
	s := make([]string, len(r.actions))
	for i, a := range r.actions {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// rows groups the permissions of role into rows: one per rule and set of
// actions, listing the kinds that rule decides for exactly those actions.
// Rows are ordered by their first kind, allow rules before deny rules.
func (m Matrix) rows(role string) []row {
	type part struct {
		effect, rule, when string
		kind               Kind
	}
	var parts []part            // (rule, kind) pairs in first-seen order
	acts := map[part][]Action{} // actions of each pair
	for pass, effect := range []string{"allow", "**deny**"} {
		for k := Kind(1); int(k) < kindCount; k++ {
			for _, p := range m.Permissions {
				if p.Role != role || p.Kind != k {
					continue
				}
				key := part{effect: effect, kind: k, rule: p.Allow, when: whenText(p.When)}
				if pass == 1 {
					key.rule, key.when = p.Deny, "always"
				}
				if key.rule == "" {
					continue
				}
				if _, seen := acts[key]; !seen {
					parts = append(parts, key)
				}
				acts[key] = append(acts[key], p.Action)
			}
		}
	}
	var out []row
	same := func(a, b []Action) bool { return slices.Equal(a, b) }
next:
	for _, pt := range parts {
		for i := range out {
			r := &out[i]
			if r.rule == pt.rule && r.effect == pt.effect && r.when == pt.when && same(r.actions, acts[pt]) {
				r.kinds = append(r.kinds, pt.kind)
				continue next
			}
		}
		out = append(out, row{kinds: []Kind{pt.kind}, effect: pt.effect, when: pt.when, rule: pt.rule, actions: acts[pt]})
	}
	slices.SortStableFunc(out, func(a, b row) int { return int(a.kinds[0]) - int(b.kinds[0]) })
	return out
}

func whenText(cs []Condition) string {
	if len(cs) == 0 {
		return "always"
	}
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, " or ")
}

func codeList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}
