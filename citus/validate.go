package citus

import (
	"fmt"
	"strings"
)

// Validate checks the plan on its own, without a database: names are not
// empty and appear once, no table is both a reference table and a
// distributed one, and every ColocateWith names a table distributed
// earlier in the plan. It returns nil or a *CheckError (which matches
// ErrViolations) with violations of RulePlan and RuleColocationOrder.
func (p Plan) Validate() error {
	if vs := p.violations(); len(vs) > 0 {
		return &CheckError{Violations: vs}
	}
	return nil
}

func (p Plan) violations() []Violation {
	var vs []Violation
	add := func(r Rule, table, format string, args ...any) {
		vs = append(vs, Violation{Rule: r, Table: table, Detail: fmt.Sprintf(format, args...)})
	}
	seen := map[string]string{} // key -> "reference" or "distributed"
	for i, name := range p.Reference {
		k := key(name)
		switch {
		case k == "":
			add(RulePlan, fmt.Sprintf("Reference[%d]", i), "empty table name")
		case seen[k] != "":
			add(RulePlan, name, "named twice in the plan")
		default:
			seen[k] = "reference"
		}
	}
	for i, t := range p.Distributed {
		k := key(t.Name)
		if k == "" {
			add(RulePlan, fmt.Sprintf("Distributed[%d]", i), "empty table name")
			continue
		}
		if strings.TrimSpace(t.Column) == "" {
			add(RulePlan, t.Name, "empty distribution column")
		}
		if c := key(t.ColocateWith); c != "" {
			switch {
			case c == k:
				add(RulePlan, t.Name, "colocated with itself")
			case seen[c] == "reference":
				add(RuleColocationOrder, t.Name, "colocated with %s, which is a reference table", t.ColocateWith)
			case seen[c] != "distributed":
				add(RuleColocationOrder, t.Name, "colocated with %s, which is not distributed earlier in the plan", t.ColocateWith)
			}
		}
		switch seen[k] {
		case "reference":
			add(RulePlan, t.Name, "both a reference table and a distributed table")
		case "distributed":
			add(RulePlan, t.Name, "named twice in the plan")
		default:
			seen[k] = "distributed"
		}
	}
	return vs
}

// DistributionColumn returns the distribution column the plan gives
// table, and false when the plan does not distribute it (a reference
// table or a table the plan does not name). Tenant isolation and shard
// moves by value only make sense for a table distributed by the column
// that holds that value.
func (p Plan) DistributionColumn(table string) (string, bool) {
	k := key(table)
	for _, t := range p.Distributed {
		if key(t.Name) == k {
			return t.Column, true
		}
	}
	return "", false
}

// groups maps each distributed table (by key) to the key of the first
// table of its colocation group, following ColocateWith chains. A table
// whose chain is broken is its own group.
func (p Plan) groups() map[string]string {
	parent := map[string]string{}
	for _, t := range p.Distributed {
		parent[key(t.Name)] = key(t.ColocateWith)
	}
	g := make(map[string]string, len(parent))
	for k := range parent {
		cur := k
		for i := 0; i <= len(parent); i++ { // bounded: a cycle stops here
			next, ok := parent[cur]
			if !ok || next == "" || next == cur {
				break
			}
			if _, known := parent[next]; !known {
				break
			}
			cur = next
		}
		g[k] = cur
	}
	return g
}

// key is the comparison form of a table name in a plan: trimmed, lower
// case unless quoted, "public." dropped.
func key(name string) string {
	n := strings.TrimSpace(name)
	if !strings.Contains(n, `"`) {
		n = strings.ToLower(n)
	}
	return strings.TrimPrefix(n, "public.")
}
