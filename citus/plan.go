package citus

// Plan says how a schema is laid out on a Citus cluster: which tables are
// reference tables (copied to every node) and which are distributed (split
// into shards by one column). A library that owns a schema exposes its plan
// as data (ehr.DistributionPlan); Check validates it against the live
// catalog and Apply carries it out.
type Plan struct {
	// Reference lists the tables copied whole to every node, in the order
	// they are to be created (a table before the tables that refer to it).
	Reference []string
	// Distributed lists the distributed tables in dependency order: a
	// table comes after the table it is colocated with.
	Distributed []Table
}

// Table is one distributed table of a Plan.
type Table struct {
	// Name is the table's name, optionally schema-qualified.
	Name string
	// Column is the distribution column.
	Column string
	// ColocateWith names the table whose shards this one shares, or is
	// empty for the first table of a colocation group.
	ColocateWith string
}
