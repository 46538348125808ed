package ehr

// WithoutAudit makes reads and RegisterPatient skip the audit append. For
// the audited vs unaudited benchmarks only: it exists in test binaries
// alone.
func WithoutAudit() Option { return func(r *Repository) { r.noAudit = true } }

// Fold exposes fold to the external tests.
var Fold = fold

// MigrationSQL returns the text of the embedded migration file name.
func MigrationSQL(name string) string {
	b, err := migrationFS.ReadFile("migrations/" + name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// LaneOf exposes laneOf: the lane of a user's tenant-wide events.
var LaneOf = laneOf

// AuditHeadSQL is the statement that advances a chain head.
const AuditHeadSQL = auditHeadSQL
