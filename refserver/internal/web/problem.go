package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/i18n"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// Problem is how the server answers an error, whichever way the request
// came in: the HTTP status, the API's error code, the catalog key of the
// message (shown on the error page, or as the JSON message), and the
// fields at fault.
type Problem struct {
	Status int
	Code   string
	Key    string
	Args   []any
	Fields []FieldProblem
}

// FieldProblem is one field at fault: its name (the library's field path,
// such as "BirthDate" or "Observations[2].Value", or the input's, such as
// "username") and the stable code of the rule it broke (ehr.Code*,
// app.Code*). Its message is the catalog entry i18n.FieldKey(Code).
type FieldProblem struct {
	Field string
	Code  string
}

// errorTable maps errors to their answer: the first entry whose error
// matches (errors.Is) wins; no match is a 500. It is the one place that
// turns a library's error into a status, an API code and a message. Two
// rules complete it (ProblemOf): a denial by the tenant rule is "not
// found", and so is any denial to a patient-only caller.
var errorTable = []struct {
	err    error
	status int
	code   string
	key    string
}{
	{ErrBadRequest, http.StatusBadRequest, "bad_request", "error.badrequest"},
	{ehr.ErrNotFound, http.StatusNotFound, "not_found", "error.404"},
	{auth.ErrNotFound, http.StatusNotFound, "not_found", "error.404"},
	{ehr.ErrDenied, http.StatusForbidden, "forbidden", "error.403"}, // is rbac.ErrDenied
	{ehr.ErrConflict, http.StatusConflict, "conflict", "error.409"},
	{auth.ErrConflict, http.StatusConflict, "conflict", "error.409"},
	{app.ErrConflict, http.StatusConflict, "conflict", "error.409"},
	{ehr.ErrInvalid, http.StatusUnprocessableEntity, "invalid", "error.422"},
	{auth.ErrInvalid, http.StatusUnprocessableEntity, "invalid", "error.422"},
	{auth.ErrWeakPassword, http.StatusUnprocessableEntity, "invalid", "error.422"},
	{app.ErrInvalid, http.StatusUnprocessableEntity, "invalid", "error.422"},
	{auth.ErrInvalidToken, http.StatusUnauthorized, "invalid_token", "error.token"},
	{auth.ErrInvalidRefreshToken, http.StatusUnauthorized, "invalid_token", "error.token"},
	{auth.ErrRateLimited, http.StatusTooManyRequests, "too_many_requests", "login.locked"},
	{auth.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "error.503"},
	{context.Canceled, 499, "canceled", "error.500"},
}

// The answers the router gives without an error to map.
var (
	problemInternal        = Problem{Status: http.StatusInternalServerError, Code: "internal", Key: "error.500"}
	problemUnauthenticated = Problem{Status: http.StatusUnauthorized, Code: "unauthorized", Key: "error.401"}
	problemNoRoute         = Problem{Status: http.StatusNotFound, Code: "not_found", Key: "error.404"}
	problemRole            = Problem{Status: http.StatusForbidden, Code: "forbidden", Key: "error.403"}
	problemCrossOrigin     = Problem{Status: http.StatusForbidden, Code: "forbidden", Key: "error.csrf"}
	problemMediaType       = Problem{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Key: "error.media_type"}
)

// ErrBadRequest is wrapped by the errors of a request the server cannot
// read (a body too big, not UTF-8, not the JSON or form expected): 400.
var ErrBadRequest = errors.New("web: bad request")

// badRequest is an ErrBadRequest with the catalog key of its message.
type badRequest struct {
	key  string
	args []any
}

func (e *badRequest) Error() string { return fmt.Sprintf("web: bad request (%s)", e.key) }
func (e *badRequest) Unwrap() error { return ErrBadRequest }

// BadRequest returns an error wrapping ErrBadRequest whose message is the
// catalog entry key (formatted with args).
func BadRequest(key string, args ...any) error { return &badRequest{key: key, args: args} }

// renamed carries the names an API gives to a library's fields.
type renamed struct {
	error
	names map[string]string
}

func (e *renamed) Unwrap() error { return e.error }

// Rename returns err whose field problems are named through names (a
// library field path → the name the client sent) in the JSON answer.
func Rename(err error, names map[string]string) error {
	if err == nil {
		return nil
	}
	return &renamed{err, names}
}

// ProblemOf returns the answer to err for the caller of ctx (see
// errorTable), with the fields at fault: ehr's and app's validation
// errors name them, auth's too.
func ProblemOf(ctx context.Context, err error) Problem {
	p := problemInternal
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			p = Problem{Status: e.status, Code: e.code, Key: e.key}
			break
		}
	}
	if p.Status == http.StatusForbidden {
		c, ok := app.FromContext(ctx)
		if tenantDenial(err) || ok && c.PatientOnly() {
			p = Problem{Status: http.StatusNotFound, Code: "not_found", Key: "error.404"}
		}
	}
	var br *badRequest
	if errors.As(err, &br) {
		p.Key, p.Args = br.key, br.args
	}
	p.Fields = fieldProblems(err)
	return p
}

// tenantDenial reports whether err is a denial by the tenant rule: the
// target belongs to another tenant, which callers are told as "not
// found".
func tenantDenial(err error) bool {
	var de *rbac.DeniedError
	return errors.As(err, &de) && de.Decision.Rule == rbac.RuleTenant
}

// fieldProblems returns the fields at fault named by err.
func fieldProblems(err error) []FieldProblem {
	var out []FieldProblem
	var ve *ehr.ValidationError
	var av *app.ValidationError
	var ie *auth.InvalidError
	var pe *auth.PasswordError
	switch {
	case errors.As(err, &av):
		for _, f := range av.Fields {
			out = append(out, FieldProblem{Field: f.Field, Code: f.Code})
		}
	case errors.As(err, &ve):
		for _, fe := range ve.Fields {
			out = append(out, FieldProblem{Field: fe.Field, Code: fe.Code})
		}
	case errors.As(err, &pe):
		out = append(out, FieldProblem{Field: "password", Code: app.CodeWeakPassword})
	case errors.As(err, &ie):
		for _, f := range ie.Fields {
			out = append(out, FieldProblem{Field: f, Code: ie.Code})
		}
	}
	return out
}

// Fail answers err through the error table: the status, and the error
// page for a browser or the JSON error for an API client. A 500 is logged
// (the error's message carries ids, never personal data).
func (rt *Router) Fail(w http.ResponseWriter, r *http.Request, err error) {
	rt.writeProblem(w, r, rt.problem(r, err))
}

// APIError is the body of every JSON error answer (openapi.yaml,
// #/components/schemas/Error): the error's code, its message in the
// request's language, and the fields at fault, each with the code of the
// rule it broke.
type APIError struct {
	Error   string            `json:"error"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// writeProblem writes p: JSON when the request wants it, else the error
// page (with the signed-in user in the header).
func (rt *Router) writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	ctx := r.Context()
	if wantsJSON(r) {
		body := APIError{Error: p.Code, Message: i18n.T(ctx, p.Key, p.Args...)}
		if len(p.Fields) > 0 {
			body.Fields = map[string]string{}
			for _, f := range p.Fields {
				if name := jsonName(f.Field); body.Fields[name] == "" {
					body.Fields[name] = f.Code
				}
			}
		}
		JSON(w, p.Status, body)
		return
	}
	var user *views.User
	if c, ok := app.FromContext(ctx); ok && rt.app != nil {
		user = rt.user(r, c, rt.app.Directory.Names(ctx, c, nil, nil))
	}
	rt.Render(w, r, p.Status, views.Error(rt.page(r, "app.name", user), p.Status, p.Key))
}

// jsonName is how the API names a field: a library's Go field path in
// snake case ("BirthDate" → "birth_date", "Observations[2].Value" →
// "observations[2].value"); names already in snake case stay.
func jsonName(field string) string {
	var b strings.Builder
	rs := []rune(field)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && rs[i-1] != '.' && rs[i-1] != '[' && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) ||
				i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1])) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
