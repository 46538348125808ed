package views

import "github.com/a-h/templ"

// Form holds the values of a submitted form, kept when the page is shown
// again with errors so that nothing the user typed is lost.
type Form map[string]string

// Get returns the value of field, or "".
func (f Form) Get(field string) string { return f[field] }

// FieldErrors maps a form field name to the catalog key of its error.
type FieldErrors map[string]string

// Has reports whether field has an error.
func (f FieldErrors) Has(field string) bool { _, ok := f[field]; return ok }

// Can says which actions the page offers (from rbac.Matrix: actions a
// role can never take are not shown).
type Can map[string]bool

// Option is one choice of a select.
type Option struct {
	Value string
	Label string
}

func invalid(f FieldErrors, field string) string {
	if f.Has(field) {
		return "true"
	}
	return "false"
}

// fieldAttrs marks the input of field invalid and ties it to its error
// message (id field+"-error") when it has one.
func fieldAttrs(f FieldErrors, field string) templ.Attributes {
	if !f.Has(field) {
		return templ.Attributes{"aria-invalid": "false"}
	}
	return templ.Attributes{"aria-invalid": "true", "aria-describedby": field + "-error"}
}

// formOr returns the form's value of field, or def when it is empty.
func formOr(f Form, field, def string) string {
	if v := f.Get(field); v != "" {
		return v
	}
	return def
}
