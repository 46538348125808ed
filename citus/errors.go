package citus

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, usable with errors.Is.
var (
	// ErrNotCitus is returned by the operations that need Citus (Status,
	// the node, rebalance and shard wrappers) on a server without it.
	// Apply does not return it: on plain PostgreSQL it reports that
	// nothing was distributed.
	ErrNotCitus = errors.New("citus: the citus extension is not installed in this database")

	// ErrNotCoordinator is returned when an operation that changes the
	// cluster's metadata is run on a worker node instead of the
	// coordinator.
	ErrNotCoordinator = errors.New("citus: not the coordinator")

	// ErrInTransaction is returned by Apply when its connection is inside a
	// transaction: Citus refuses several of its calls in a transaction
	// block, and a partly distributed schema must not hide in a caller's
	// transaction.
	ErrInTransaction = errors.New("citus: connection is inside a transaction")

	// ErrConflictingDistribution is matched by a *ConflictError: a table
	// of the plan is already distributed in another way.
	ErrConflictingDistribution = errors.New("citus: table already distributed differently")

	// ErrViolations is matched by a *CheckError: the plan does not fit the
	// schema.
	ErrViolations = errors.New("citus: schema violates the distribution plan")

	// ErrNotDistributed is returned by the shard wrappers for a table that
	// is not a hash-distributed table.
	ErrNotDistributed = errors.New("citus: table is not hash-distributed")
)

// Rule names the requirement a Violation breaks.
type Rule int

// The rules Check enforces.
const (
	// RulePlan: the plan itself is malformed (an empty or duplicate name,
	// a table both reference and distributed, a table colocated with
	// itself).
	RulePlan Rule = iota + 1
	// RuleColocationOrder: ColocateWith names a table that is not
	// distributed earlier in the plan.
	RuleColocationOrder
	// RuleTableExists: a table named in the plan does not exist or is not
	// a table.
	RuleTableExists
	// RuleColumnExists: the distribution column does not exist.
	RuleColumnExists
	// RuleColumnType: the distribution column's type differs from the
	// distribution column of the table it is colocated with.
	RuleColumnType
	// RulePrimaryKey: a distributed table's primary key does not contain
	// its distribution column.
	RulePrimaryKey
	// RuleUnique: a unique constraint, unique index or exclusion
	// constraint of a distributed table does not contain its
	// distribution column.
	RuleUnique
	// RuleForeignKeyColumns: a foreign key between distributed tables
	// does not pair the referencing table's distribution column with the
	// referenced table's distribution column.
	RuleForeignKeyColumns
	// RuleForeignKeyColocated: a foreign key joins distributed tables that
	// are not in the same colocation group.
	RuleForeignKeyColocated
	// RuleForeignKeyTarget: a foreign key points where Citus cannot follow
	// it: from a distributed table to a table that is neither distributed
	// nor a reference table, from a reference table to a distributed
	// table or to a table outside the plan, or from a table outside the
	// plan to a distributed table.
	RuleForeignKeyTarget
	// RuleForeignKeyAction: a foreign key that includes the distribution
	// column has ON DELETE SET NULL / SET DEFAULT or ON UPDATE SET NULL /
	// SET DEFAULT / CASCADE, which Citus refuses.
	RuleForeignKeyAction
)

var ruleNames = map[Rule]string{
	RulePlan:                "plan",
	RuleColocationOrder:     "colocation-order",
	RuleTableExists:         "table-exists",
	RuleColumnExists:        "column-exists",
	RuleColumnType:          "column-type",
	RulePrimaryKey:          "primary-key",
	RuleUnique:              "unique",
	RuleForeignKeyColumns:   "foreign-key-columns",
	RuleForeignKeyColocated: "foreign-key-colocated",
	RuleForeignKeyTarget:    "foreign-key-target",
	RuleForeignKeyAction:    "foreign-key-action",
}

// String returns the rule's short name, such as "primary-key".
func (r Rule) String() string {
	if s, ok := ruleNames[r]; ok {
		return s
	}
	return fmt.Sprintf("rule(%d)", int(r))
}

// Violation is one way a schema does not fit a Plan.
type Violation struct {
	// Rule is the requirement broken.
	Rule Rule
	// Table is the table at fault, as named in the plan (or, for a
	// table outside the plan, as PostgreSQL prints it).
	Table string
	// Constraint is the constraint or index at fault, or empty when the
	// violation is about the table or the plan.
	Constraint string
	// Detail says what is wrong, in words.
	Detail string
}

// String formats the violation as "table: constraint c: detail [rule]".
func (v Violation) String() string {
	var b strings.Builder
	b.WriteString(v.Table)
	if v.Constraint != "" {
		b.WriteString(": constraint ")
		b.WriteString(v.Constraint)
	}
	b.WriteString(": ")
	b.WriteString(v.Detail)
	b.WriteString(" [")
	b.WriteString(v.Rule.String())
	b.WriteString("]")
	return b.String()
}

// CheckError carries the violations found by Check or Plan.Validate. It
// matches ErrViolations with errors.Is.
type CheckError struct {
	Violations []Violation
}

// Error lists every violation, one a line.
func (e *CheckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "citus: %d distribution plan violation(s):", len(e.Violations))
	for _, v := range e.Violations {
		b.WriteString("\n  ")
		b.WriteString(v.String())
	}
	return b.String()
}

// Is reports whether target is ErrViolations.
func (e *CheckError) Is(target error) bool { return target == ErrViolations }

// ConflictError says that a table of the plan is already distributed in a
// way the plan does not ask for. It matches ErrConflictingDistribution
// with errors.Is. Citus cannot change a table's distribution in place
// without moving its data (alter_distributed_table or
// undistribute_table); Apply leaves that decision to a person.
type ConflictError struct {
	// Table is the table as named in the plan.
	Table string
	// Want is what the plan asks for, such as
	// "distributed by patient_id, colocated with patients".
	Want string
	// Have is what the cluster has, such as "reference table".
	Have string
}

// Error names the table, what the plan wants and what the cluster has.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("citus: table %s is already %s; the plan wants it %s", e.Table, e.Have, e.Want)
}

// Is reports whether target is ErrConflictingDistribution.
func (e *ConflictError) Is(target error) bool { return target == ErrConflictingDistribution }
