package app

import (
	"errors"
	"strings"

	"github.com/historiaehr/historia/ehr"
)

// Sentinels of the server's own refusals. A *ValidationError wraps one of
// them.
var (
	// ErrInvalid: the input failed the use case's rules.
	ErrInvalid = errors.New("app: invalid input")
	// ErrConflict: the input names something already taken (a username).
	ErrConflict = errors.New("app: conflict")
)

// Codes of the server's own field rules, beside ehr's (ehr.CodeRequired,
// ehr.CodeInvalid, ...). A field error's message is the catalog entry
// "field." + its code.
const (
	// CodeNumber: the text is not a number.
	CodeNumber = "number"
	// CodeWeakPassword: auth's password policy refuses the password.
	CodeWeakPassword = "weak_password"
	// CodeUsername: not a username auth accepts.
	CodeUsername = "username"
	// CodeUsernameTaken: the tenant already has a user of that name.
	CodeUsernameTaken = "username_taken"
	// CodeDocumentTaken: the tenant already has a patient with that
	// document.
	CodeDocumentTaken = "document_taken"
	// CodePatientOnly: the field is only for role paciente.
	CodePatientOnly = "patient_only"
	// CodeNotYourself: an administrator may not disable their own account.
	CodeNotYourself = "not_yourself"
	// CodeUnknownTenant: no tenant has that id.
	CodeUnknownTenant = "unknown_tenant"
	// CodePatientActivation: a patient's account is not made by staff;
	// the registration desk issues an activation code and the patient
	// activates the account (Activations).
	CodePatientActivation = "patient_activation"
	// CodeActivationCode: the activation code is unknown in the tenant,
	// expired or already used.
	CodeActivationCode = "activation_code"
)

// Codes returns the server's own field codes (for the check that each has
// a message).
func Codes() []string {
	return []string{CodeNumber, CodeWeakPassword, CodeUsername, CodeUsernameTaken, CodeDocumentTaken, CodePatientOnly,
		CodeNotYourself, CodeUnknownTenant, CodePatientActivation, CodeActivationCode}
}

// FieldError is one refused field: its name as the caller sent it (the
// form's or the JSON body's, such as "username") and the stable code of
// the rule it broke.
type FieldError struct {
	Field string
	Code  string
}

// ValidationError lists the refused fields of an input. It wraps
// ErrInvalid, or ErrConflict when it names something taken. Its message
// names fields and codes, never values.
type ValidationError struct {
	Fields []FieldError
	err    error
}

// Invalid returns a *ValidationError (ErrInvalid) of fields.
func Invalid(fields ...FieldError) *ValidationError {
	return &ValidationError{Fields: fields, err: ErrInvalid}
}

// Taken returns a *ValidationError (ErrConflict) of fields.
func Taken(fields ...FieldError) *ValidationError {
	return &ValidationError{Fields: fields, err: ErrConflict}
}

// Error returns "app: invalid input: field: code; ...".
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(e.Unwrap().Error())
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Code)
	}
	return b.String()
}

// Unwrap returns ErrInvalid or ErrConflict.
func (e *ValidationError) Unwrap() error {
	if e.err == nil {
		return ErrInvalid
	}
	return e.err
}

// Has reports whether field is among the refused fields.
func (e *ValidationError) Has(field string) bool {
	for _, f := range e.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// add appends a field error.
func (e *ValidationError) add(field, code string) {
	e.Fields = append(e.Fields, FieldError{field, code})
}

// orNil returns e, or nil when it names no field.
func (e *ValidationError) orNil() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// fieldsOf returns the field errors of ehr's *ValidationError err renamed
// through names (ehr's field → the input's), or nil when err is none or
// names no field of names.
func fieldsOf(err error, names map[string]string) *ValidationError {
	var ve *ehr.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	v := Invalid()
	for _, fe := range ve.Fields {
		if name, ok := names[fe.Field]; ok {
			v.add(name, fe.Code)
		}
	}
	if len(v.Fields) == 0 {
		return nil
	}
	return v
}
