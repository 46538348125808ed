package citus

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Check compares the plan with the live catalog of the database q is
// connected to, before anything is distributed. It needs only
// PostgreSQL, so CI can run it against every migration without Citus.
//
// It reports, as violations naming the table and the constraint:
//   - the plan's own faults (see Plan.Validate);
//   - a table that does not exist, a distribution column that does not
//     exist, a distribution column whose type differs from that of the
//     table it is colocated with;
//   - a primary key, unique constraint, unique index or exclusion
//     constraint of a distributed table without its distribution column;
//   - a foreign key between distributed tables that joins tables of
//     different colocation groups or does not pair the two distribution
//     columns;
//   - a foreign key from a distributed table to a table that is neither
//     distributed nor a reference table, from a reference table to a
//     distributed table or to a table outside the plan, or from a table
//     outside the plan to a distributed table;
//   - a foreign key that includes the distribution column and would set
//     it to NULL or a default, or cascade an update to it.
//
// It returns the violations and, when there are any, a *CheckError
// wrapping them (matching ErrViolations). Any other error is a failed
// query, wrapped.
func Check(ctx context.Context, q Querier, plan Plan) ([]Violation, error) {
	vs := plan.violations()
	cat, err := loadCatalog(ctx, q, plan)
	if err != nil {
		return nil, err
	}
	vs = append(vs, checkCatalog(plan, cat)...)
	if len(vs) > 0 {
		return vs, &CheckError{Violations: vs}
	}
	return nil, nil
}

// checkCatalog applies the rules to a loaded catalog.
func checkCatalog(plan Plan, cat *catalog) []Violation {
	var vs []Violation
	add := func(r Rule, table, cons, format string, args ...any) {
		vs = append(vs, Violation{Rule: r, Table: table, Constraint: cons, Detail: fmt.Sprintf(format, args...)})
	}

	// What each table of the plan is, by oid.
	type role struct {
		name   string // as in the plan
		ref    bool
		column string // distribution column
		group  string // colocation group (key of its first table)
	}
	groups := plan.groups()
	roles := map[uint32]role{}
	present := func(name string) (relation, bool) {
		r := cat.rels[key(name)]
		switch {
		case !r.exists:
			add(RuleTableExists, name, "", "table does not exist")
			return r, false
		case r.kind != "r" && r.kind != "p":
			add(RuleTableExists, name, "", "is not a table (relkind %q)", r.kind)
			return r, false
		}
		return r, true
	}
	for _, name := range plan.Reference {
		if key(name) == "" {
			continue
		}
		if r, ok := present(name); ok {
			roles[r.oid] = role{name: name, ref: true}
		}
	}
	for _, t := range plan.Distributed {
		if key(t.Name) == "" {
			continue
		}
		r, ok := present(t.Name)
		if !ok {
			continue
		}
		if _, has := cat.columns[r.oid][t.Column]; !has && t.Column != "" {
			add(RuleColumnExists, t.Name, "", "distribution column %s does not exist", t.Column)
			continue
		}
		roles[r.oid] = role{name: t.Name, column: t.Column, group: groups[key(t.Name)]}
	}
	// Colocated tables must agree on the distribution column's type.
	for _, t := range plan.Distributed {
		if key(t.ColocateWith) == "" {
			continue
		}
		r, tgt := cat.rels[key(t.Name)], cat.rels[key(t.ColocateWith)]
		if _, ok := roles[r.oid]; !ok || !r.exists || !tgt.exists {
			continue
		}
		tr, ok := roles[tgt.oid]
		if !ok || tr.ref {
			continue
		}
		a, b := cat.columns[r.oid][t.Column], cat.columns[tgt.oid][tr.column]
		if a != b {
			add(RuleColumnType, t.Name, "", "distribution column %s is %s but %s.%s, which it is colocated with, is %s",
				t.Column, a, t.ColocateWith, tr.column, b)
		}
	}

	// Uniqueness must include the distribution column.
	for _, k := range cat.constraints {
		ro, ok := roles[k.rel]
		if !ok || ro.ref || k.kind == "f" {
			continue
		}
		if slices.Contains(k.cols, ro.column) {
			continue
		}
		switch k.kind {
		case "p":
			add(RulePrimaryKey, ro.name, k.name, "primary key (%s) does not contain distribution column %s", join(k.cols), ro.column)
		case "u":
			add(RuleUnique, ro.name, k.name, "unique constraint (%s) does not contain distribution column %s", join(k.cols), ro.column)
		case "x":
			add(RuleUnique, ro.name, k.name, "exclusion constraint (%s) does not contain distribution column %s", join(k.cols), ro.column)
		}
	}
	for _, u := range cat.indexes {
		ro, ok := roles[u.rel]
		if !ok || ro.ref || slices.Contains(u.cols, ro.column) {
			continue
		}
		add(RuleUnique, ro.name, u.name, "unique index (%s) does not contain distribution column %s", join(u.cols), ro.column)
	}

	// Foreign keys.
	for _, k := range cat.constraints {
		if k.kind != "f" {
			continue
		}
		from, fromIn := roles[k.rel]
		to, toIn := roles[k.ref]
		switch {
		case !fromIn:
			// A table outside the plan (or one already reported missing).
			if _, inPlan := cat.byOID[k.rel]; inPlan {
				continue
			}
			if toIn && !to.ref {
				add(RuleForeignKeyTarget, k.relName, k.name,
					"table %s is not in the plan but refers to distributed table %s; distribute it or make it a reference table", k.relName, to.name)
			}
		case from.ref:
			switch {
			case toIn && !to.ref:
				add(RuleForeignKeyTarget, from.name, k.name, "reference table refers to distributed table %s", to.name)
			case !toIn:
				if _, inPlan := cat.byOID[k.ref]; !inPlan {
					add(RuleForeignKeyTarget, from.name, k.name, "reference table refers to %s, which is not in the plan; make it a reference table", k.refName)
				}
			}
		default: // from a distributed table
			switch {
			case !toIn:
				if _, inPlan := cat.byOID[k.ref]; !inPlan {
					add(RuleForeignKeyTarget, from.name, k.name,
						"refers to %s, which is neither distributed nor a reference table in the plan", k.refName)
				}
				continue
			case to.ref:
				// Distributed to reference: any columns.
			default:
				if from.group != to.group {
					add(RuleForeignKeyColocated, from.name, k.name,
						"refers to distributed table %s, which is not colocated with it", to.name)
				} else if !pairs(k.cols, k.refCols, from.column, to.column) {
					add(RuleForeignKeyColumns, from.name, k.name,
						"foreign key (%s) references %s (%s) without pairing distribution column %s with %s.%s",
						join(k.cols), to.name, join(k.refCols), from.column, to.name, to.column)
				}
			}
			if slices.Contains(k.cols, from.column) {
				if k.onDelete == "n" || k.onDelete == "d" {
					add(RuleForeignKeyAction, from.name, k.name,
						"ON DELETE %s would change distribution column %s", fkAction(k.onDelete), from.column)
				}
				if k.onUpdate == "n" || k.onUpdate == "d" || k.onUpdate == "c" {
					add(RuleForeignKeyAction, from.name, k.name,
						"ON UPDATE %s would change distribution column %s", fkAction(k.onUpdate), from.column)
				}
			}
		}
	}
	return vs
}

// pairs reports whether a foreign key's column lists put col in the same
// position as refCol.
func pairs(cols, refCols []string, col, refCol string) bool {
	for i := range cols {
		if i < len(refCols) && cols[i] == col && refCols[i] == refCol {
			return true
		}
	}
	return false
}

func fkAction(c string) string {
	switch c {
	case "n":
		return "SET NULL"
	case "d":
		return "SET DEFAULT"
	case "c":
		return "CASCADE"
	case "r":
		return "RESTRICT"
	}
	return "NO ACTION"
}

func join(cols []string) string { return strings.Join(cols, ", ") }
