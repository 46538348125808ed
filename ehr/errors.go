package ehr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/historiaehr/historia/rbac"
)

// Sentinel errors. Errors returned by the Repository wrap one of them (or a
// context error); test with errors.Is.
var (
	// ErrNotFound: the record does not exist in the caller's tenant. A
	// request about a patient id that is no patient of the caller's
	// tenant (an unknown id, or another tenant's patient) is ErrNotFound
	// whether or not the policy would allow it, and then does not match
	// ErrDenied, so that no answer tells that the id exists elsewhere; a
	// refused attempt is still audited as a denial.
	ErrNotFound = errors.New("ehr: not found")
	// ErrConflict: the version named by an update is stale, or a unique
	// rule (a document number, a booked slot, an open admission) is
	// already taken.
	ErrConflict = errors.New("ehr: conflict")
	// ErrDenied is rbac.ErrDenied: the policy denies the request (about a
	// patient of the caller's tenant, or about no single patient), or the
	// context carries no Actor. errors.Is(err, rbac.ErrDenied) holds too.
	ErrDenied = rbac.ErrDenied
	// ErrInvalid: the input failed validation; the error is a
	// *ValidationError naming the fields. Nothing was written.
	ErrInvalid = errors.New("ehr: invalid input")
	// ErrSchemaTooNew: the database schema is newer than this code.
	ErrSchemaTooNew = errors.New("ehr: database schema is newer than this code")
	// ErrSchemaOutdated: the database schema lacks migrations this code
	// needs; run Migrate.
	ErrSchemaOutdated = errors.New("ehr: database schema is out of date")
	// ErrChainBroken: an audit chain failed verification; the error is a
	// *ChainError.
	ErrChainBroken = errors.New("ehr: audit chain broken")
)

// Codes of FieldError. A code names the rule a field broke; it is stable
// across releases, so a front end can translate it (one message per code)
// and a client can act on it. Message is English prose for logs and
// developers, and may change.
const (
	// CodeRequired: the field is missing or blank.
	CodeRequired = "required"
	// CodeInvalid: the value is malformed (not a UUID, not a cursor of
	// this search, not an email address, a code or document number of the
	// wrong shape, not a number).
	CodeInvalid = "invalid"
	// CodeTooLong: a text is longer than allowed, or a period (an
	// appointment, a search window) lasts longer than allowed.
	CodeTooLong = "too_long"
	// CodeTooShort: a text (a reason) is shorter than required.
	CodeTooShort = "too_short"
	// CodeTooMany: a list has more entries than allowed.
	CodeTooMany = "too_many"
	// CodeOutOfRange: a number or date lies outside its allowed range (a
	// dose that is not positive, a negative vital sign or limit, a
	// break-glass duration, a birth date before 1880).
	CodeOutOfRange = "out_of_range"
	// CodeInFuture: a date or time that may not be in the future is.
	CodeInFuture = "in_future"
	// CodeBeforeStart: an end (End, To, EndsAt, EndsOn) is not after
	// the start it goes with.
	CodeBeforeStart = "before_start"
	// CodeMisaligned: a time is not on the appointment grid (a multiple
	// of SlotDuration).
	CodeMisaligned = "misaligned"
	// CodeDuplicate: the value repeats another of the same input.
	CodeDuplicate = "duplicate"
	// CodeUnknownCode: the value is not a code of the field's code system
	// (ICD-10 for a condition).
	CodeUnknownCode = "unknown_code"
	// CodeNotAllowed: the value is not one of the values the field takes
	// (a status, a sex, a category, a kind), or the policy refuses it.
	CodeNotAllowed = "not_allowed"
	// CodeMismatch: the value contradicts another argument of the call
	// (an observation naming another patient than the one recorded for).
	CodeMismatch = "mismatch"
)

// codes are the codes of FieldError, in the order of Codes.
var codes = [...]string{CodeRequired, CodeInvalid, CodeTooLong, CodeTooShort, CodeTooMany, CodeOutOfRange,
	CodeInFuture, CodeBeforeStart, CodeMisaligned, CodeDuplicate, CodeUnknownCode, CodeNotAllowed, CodeMismatch}

// Codes returns every code a FieldError may carry, so that a front end
// can check it has a message for each.
func Codes() []string { return append([]string(nil), codes[:]...) }

// FieldError is one invalid field: its name (the Go field path, such as
// "BirthDate", "Dose" or "Observations[2].Value"), the stable Code of the
// rule it broke (one of Codes), and what is wrong in English, without the
// value.
type FieldError struct {
	Field   string
	Code    string
	Message string
}

// ValidationError lists the invalid fields of an input. It wraps
// ErrInvalid. Its message names fields, never values, so it carries no
// personal data.
type ValidationError struct {
	Fields []FieldError
}

// Error returns "ehr: invalid input: Field: message; ...".
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("ehr: invalid input: ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Field)
		b.WriteString(": ")
		b.WriteString(f.Message)
	}
	return b.String()
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Has reports whether field is among the invalid fields.
func (e *ValidationError) Has(field string) bool {
	for _, f := range e.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// invalid returns a ValidationError of one field.
func invalid(field, code, msg string) *ValidationError {
	return &ValidationError{Fields: []FieldError{{Field: field, Code: code, Message: msg}}}
}

// validator collects field errors.
type validator struct{ fields []FieldError }

func (v *validator) add(field, code, msg string) {
	v.fields = append(v.fields, FieldError{Field: field, Code: code, Message: msg})
}

// check adds the error (code, msg) for field when ok is false.
func (v *validator) check(ok bool, field, code, msg string) {
	if !ok {
		v.add(field, code, msg)
	}
}

// text checks a required text of at most max bytes.
func (v *validator) text(field, s string, max int) {
	if s == "" {
		v.add(field, CodeRequired, "is required")
		return
	}
	v.maxLen(field, s, max)
}

// maxLen checks an optional text of at most max bytes.
func (v *validator) maxLen(field, s string, max int) {
	if len(s) > max {
		v.add(field, CodeTooLong, "is too long (at most "+itoa(max)+" bytes)")
	}
}

// reason checks a required reason of at least min characters and, when
// max > 0, at most max bytes.
func (v *validator) reason(field, s string, min, max int) {
	switch {
	case s == "":
		v.add(field, CodeRequired, "is required")
	case len([]rune(s)) < min:
		v.add(field, CodeTooShort, "is too short (at least "+itoa(min)+" characters)")
	case max > 0:
		v.maxLen(field, s, max)
	}
}

func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.fields}
}

// ChainError reports where an audit chain broke.
type ChainError struct {
	// ChainID is the patient id, or the lane of the tenant's own chains
	// (TenantChains) that broke: the tenant id for lane 0.
	ChainID string
	// Seq is the sequence number of the first event that fails.
	Seq int64
	// Problem says what failed ("hash mismatch", "sequence gap", ...).
	Problem string
}

// Error returns "ehr: audit chain broken: chain <id> at seq <n>: <problem>".
func (e *ChainError) Error() string {
	return fmt.Sprintf("ehr: audit chain broken: chain %s at seq %d: %s", e.ChainID, e.Seq, e.Problem)
}

// Unwrap returns ErrChainBroken.
func (e *ChainError) Unwrap() error { return ErrChainBroken }

// dbError turns a database error into one of ours: no rows is ErrNotFound,
// a unique or exclusion violation is ErrConflict, a foreign-key violation
// is ErrNotFound (the referenced record does not exist), a check violation
// is ErrInvalid; anything else is wrapped opaquely so pgx types never reach
// callers. op names the operation and ids only (no personal data).
// errConcurrent marks an ErrConflict that is a serialization failure or a
// deadlock: another transaction won, and the same work may simply be tried
// again.
var errConcurrent = errors.New("concurrent update")

func dbError(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("ehr: %s: %w", op, ErrNotFound)
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505", "23P01":
			return fmt.Errorf("ehr: %s: %w (constraint %s)", op, ErrConflict, pg.ConstraintName)
		case "23503":
			return fmt.Errorf("ehr: %s: %w: referenced record (constraint %s)", op, ErrNotFound, pg.ConstraintName)
		case "23514", "22P02", "22007", "22008", "22003", "22021", "22P05":
			return fmt.Errorf("ehr: %s: %w (sqlstate %s)", op, ErrInvalid, pg.Code)
		case "40001", "40P01":
			return fmt.Errorf("ehr: %s: %w: %w (sqlstate %s)", op, ErrConflict, errConcurrent, pg.Code)
		}
		// The server's message may quote values; keep only the code.
		return &dbErr{op: op, code: pg.Code}
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) ||
		errors.Is(err, ErrDenied) || errors.Is(err, ErrChainBroken) {
		return fmt.Errorf("ehr: %s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("ehr: %s: %w", op, err)
	}
	return &dbErr{op: op, msg: err.Error()}
}

// dbErr is an unexpected database error, reduced to the operation, the
// SQLSTATE and (for errors from the driver rather than the server) the
// driver's message. It hides the pgx error type from callers.
type dbErr struct {
	op, code, msg string
}

func (e *dbErr) Error() string {
	if e.code != "" {
		return "ehr: " + e.op + ": database error (sqlstate " + e.code + ")"
	}
	return "ehr: " + e.op + ": database error: " + e.msg
}

// SQLState returns the PostgreSQL error code, or "" when the error did not
// come from the server.
func (e *dbErr) SQLState() string { return e.code }
