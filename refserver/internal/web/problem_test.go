package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/i18n"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// TestErrorTable: each library's errors, wrapped as they come, get their
// status, API code and message.
func TestErrorTable(t *testing.T) {
	denied := &rbac.DeniedError{Decision: rbac.Decision{Rule: "medico-clinical"}}
	otherTenant := &rbac.DeniedError{Decision: rbac.Decision{Rule: rbac.RuleTenant}}
	for _, tc := range []struct {
		err    error
		status int
		code   string
		key    string
	}{
		{fmt.Errorf("ehr: get patient x: %w", ehr.ErrNotFound), 404, "not_found", "error.404"},
		{fmt.Errorf("auth: %w", auth.ErrNotFound), 404, "not_found", "error.404"},
		{fmt.Errorf("ehr: chart: %w", denied), 403, "forbidden", "error.403"},
		{fmt.Errorf("app: list users: %w", denied), 403, "forbidden", "error.403"},
		{fmt.Errorf("ehr: chart: %w", otherTenant), 404, "not_found", "error.404"},
		{fmt.Errorf("ehr: sign: %w", ehr.ErrConflict), 409, "conflict", "error.409"},
		{auth.ErrConflict, 409, "conflict", "error.409"},
		{app.Taken(app.FieldError{Field: "username", Code: app.CodeUsernameTaken}), 409, "conflict", "error.409"},
		{&ehr.ValidationError{Fields: []ehr.FieldError{{Field: "Title", Code: ehr.CodeRequired}}}, 422, "invalid", "error.422"},
		{&auth.InvalidError{Fields: []string{"Username"}, Code: auth.CodeInvalid}, 422, "invalid", "error.422"},
		{&auth.PasswordError{Code: auth.CodeCommon}, 422, "invalid", "error.422"},
		{app.Invalid(app.FieldError{Field: "role", Code: ehr.CodeInvalid}), 422, "invalid", "error.422"},
		{BadRequest("error.body_json"), 400, "bad_request", "error.body_json"},
		{fmt.Errorf("verify: %w", auth.ErrInvalidToken), 401, "invalid_token", "error.token"},
		{auth.ErrRateLimited, 429, "too_many_requests", "login.locked"},
		{context.Canceled, 499, "canceled", "error.500"},
		{errors.New("pgx: connection refused"), 500, "internal", "error.500"},
	} {
		p := ProblemOf(context.Background(), tc.err)
		if p.Status != tc.status || p.Code != tc.code || p.Key != tc.key {
			t.Errorf("ProblemOf(%v) = %d %s %s, want %d %s %s", tc.err, p.Status, p.Code, p.Key, tc.status, tc.code, tc.key)
		}
		if !i18n.Has(i18n.ES, p.Key) || !i18n.Has(i18n.EN, p.Key) {
			t.Errorf("%s has no message", p.Key)
		}
	}
	// A patient is told "not found" about anything denied, so that
	// probing ids reveals nothing.
	patient := app.NewContext(context.Background(), app.Caller{UserID: "u", TenantID: "t", PatientID: "p", Roles: []string{app.RolePaciente}})
	if p := ProblemOf(patient, denied); p.Status != 404 || p.Code != "not_found" {
		t.Errorf("denied to a patient: %d %s, want 404", p.Status, p.Code)
	}
	staff := app.NewContext(context.Background(), app.Caller{UserID: "u", TenantID: "t", Roles: []string{app.RoleSecretaria}})
	if p := ProblemOf(staff, denied); p.Status != 403 {
		t.Errorf("denied to staff: %d, want 403", p.Status)
	}
}

// TestFieldProblems: the fields at fault, from each library, with the
// code of the rule.
func TestFieldProblems(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want []FieldProblem
	}{
		{&ehr.ValidationError{Fields: []ehr.FieldError{{Field: "BirthDate", Code: ehr.CodeInFuture}, {Field: "Observations[2].Value", Code: ehr.CodeOutOfRange}}},
			[]FieldProblem{{"BirthDate", ehr.CodeInFuture}, {"Observations[2].Value", ehr.CodeOutOfRange}}},
		{fmt.Errorf("wrapped: %w", &ehr.ValidationError{Fields: []ehr.FieldError{{Field: "Code", Code: ehr.CodeUnknownCode, Message: "is not an ICD-10 code"}}}),
			[]FieldProblem{{"Code", ehr.CodeUnknownCode}}},
		{&auth.InvalidError{Fields: []string{"Roles"}, Code: auth.CodeTooMany}, []FieldProblem{{"Roles", auth.CodeTooMany}}},
		{&auth.PasswordError{Code: auth.CodeTooShort}, []FieldProblem{{"password", app.CodeWeakPassword}}},
		{app.Invalid(app.FieldError{Field: "patient_id", Code: app.CodePatientOnly}), []FieldProblem{{"patient_id", app.CodePatientOnly}}},
		{ehr.ErrConflict, nil},
	} {
		got := ProblemOf(context.Background(), tc.err).Fields
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("fields of %v = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestEveryCodeHasAMessage: each field code a library or the server may
// give has its message ("field." + code) in both languages.
func TestEveryCodeHasAMessage(t *testing.T) {
	codes := append(append(ehr.Codes(), auth.Codes()...), app.Codes()...)
	for _, c := range codes {
		for _, l := range i18n.Langs() {
			if !i18n.Has(l, i18n.FieldKey(c)) {
				t.Errorf("code %q has no message in %s (%s)", c, l, i18n.FieldKey(c))
			}
		}
	}
}

func TestJSONName(t *testing.T) {
	for in, want := range map[string]string{
		"BirthDate": "birth_date", "PractitionerID": "practitioner_id", "ID": "id", "Observations[2].Value": "observations[2].value",
		"Contact.Phone": "contact.phone", "EffectiveAt": "effective_at", "username": "username", "patient_id": "patient_id",
	} {
		if got := jsonName(in); got != want {
			t.Errorf("jsonName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestJSONError: every JSON error has one shape; fields are named as the
// API names them, renamed where the API's names differ from the library's.
func TestJSONError(t *testing.T) {
	rt, _ := newInfraServer(t, nil)
	err := Rename(&ehr.ValidationError{Fields: []ehr.FieldError{{Field: "Contact.Phone", Code: ehr.CodeTooLong}, {Field: "BirthDate", Code: ehr.CodeRequired}}},
		map[string]string{"Contact.Phone": "phone"})
	r := httptest.NewRequest("POST", "/api/v1/patients", nil)
	r = r.WithContext(i18n.NewContext(r.Context(), i18n.EN))
	w := httptest.NewRecorder()
	rt.Fail(w, r, err)
	var body map[string]any
	if err := json.NewDecoder(w.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"error": "invalid", "message": "Please check the marked fields.",
		"fields": map[string]any{"phone": "too_long", "birth_date": "required"}}
	if w.Code != 422 || fmt.Sprint(body) != fmt.Sprint(want) {
		t.Errorf("%d %v, want 422 %v", w.Code, body, want)
	}
}

// TestUnauthenticatedJSON: an API client without credentials gets 401,
// the bearer challenge and the JSON error.
func TestUnauthenticatedJSON(t *testing.T) {
	rt, _ := newInfraServer(t, nil)
	for _, tc := range []struct {
		err       error
		code      string
		challenge string
	}{
		{errors.New("authentication required"), "unauthorized", `Bearer realm="historia"`},
		{fmt.Errorf("expired: %w", auth.ErrInvalidToken), "invalid_token", `Bearer realm="historia", error="invalid_token", error_description="invalid or expired token"`},
	} {
		r := httptest.NewRequest("GET", "/api/v1/me", nil)
		w := httptest.NewRecorder()
		rt.unauthenticated(w, r, tc.err)
		var e APIError
		if err := json.NewDecoder(w.Body).Decode(&e); err != nil || w.Code != http.StatusUnauthorized || e.Error != tc.code || e.Message == "" {
			t.Errorf("%v: %d %+v %v", tc.err, w.Code, e, err)
		}
		if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
			t.Errorf("%v: challenge %q, want %q", tc.err, got, tc.challenge)
		}
	}
}

// TestFormErrors: a library's fields reach a form only through its map;
// app's fields keep the form's names.
func TestFormErrors(t *testing.T) {
	lib := &ehr.ValidationError{Fields: []ehr.FieldError{{Field: "Body", Code: ehr.CodeRequired}, {Field: "Version", Code: ehr.CodeRequired}}}
	errs := views.FieldErrors{}
	if !FormErrors(lib, map[string]string{"Body": "body"}, ":n-1", errs) || fmt.Sprint(errs) != "map[body:n-1:field.required]" {
		t.Errorf("mapped: %v", errs)
	}
	errs = views.FieldErrors{}
	if FormErrors(lib, nil, "", errs) || len(errs) != 0 {
		t.Errorf("a library's fields without a map reached the form: %v", errs)
	}
	own := app.Invalid(app.FieldError{Field: "password", Code: app.CodeWeakPassword})
	errs = views.FieldErrors{"password:u": "kept"}
	if !FormErrors(own, nil, ":u", errs) || errs["password:u"] != "kept" {
		t.Errorf("app's field: %v", errs)
	}
	errs = views.FieldErrors{}
	if !FormErrors(own, nil, "", errs) || errs["password"] != "field.weak_password" {
		t.Errorf("app's field: %v", errs)
	}
	if FormErrors(ehr.ErrConflict, map[string]string{"Body": "body"}, "", views.FieldErrors{}) {
		t.Error("a conflict named a field")
	}
}
