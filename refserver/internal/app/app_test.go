package app

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
)

// TestRolesArePolicyRoles: the role constants are exactly the default
// policy's roles, and App.Roles is the policy's list (the one list staff
// accounts are checked against).
func TestRolesArePolicyRoles(t *testing.T) {
	consts := []string{RolePaciente, RoleMedico, RoleAdmisionista, RoleSecretaria, RoleAdmin, RoleAuditor}
	policy := rbac.DefaultPolicy().Roles()
	slices.Sort(consts)
	sorted := slices.Sorted(slices.Values(policy))
	if !slices.Equal(consts, sorted) {
		t.Errorf("role constants %v, default policy's roles %v", consts, sorted)
	}
	if got := New(Config{}).Roles(); !slices.Equal(got, policy) {
		t.Errorf("App.Roles() = %v, want the policy's %v", got, policy)
	}
}

// TestCallerShapes: one caller, each library's shape of it, from one
// context.
func TestCallerShapes(t *testing.T) {
	id := auth.Identity{UserID: "u-1", Tenant: "t-1", Roles: []string{RolePaciente}, PatientID: "p-1", SessionID: "s"}
	c := CallerOf(id, "req-1", "10.0.0.1")
	want := Caller{UserID: "u-1", TenantID: "t-1", PatientID: "p-1", Roles: []string{RolePaciente}, RequestID: "req-1", IP: "10.0.0.1"}
	if !equalCaller(c, want) {
		t.Fatalf("CallerOf = %+v, want %+v", c, want)
	}
	if p := c.Principal(); p.UserID != "u-1" || p.TenantID != "t-1" || p.PatientID != "p-1" || !slices.Equal(p.Roles, c.Roles) {
		t.Errorf("Principal = %+v", p)
	}
	ctx := NewContext(context.Background(), c)
	got, ok := FromContext(ctx)
	if !ok || !equalCaller(got, c) {
		t.Errorf("FromContext = %+v, %v", got, ok)
	}
	actor, ok := ehr.ActorFromContext(ctx)
	if !ok || actor.Principal.UserID != "u-1" || actor.RequestID != "req-1" || actor.IP != "10.0.0.1" || actor.Principal.PatientID != "p-1" {
		t.Errorf("ehr actor = %+v, %v", actor, ok)
	}
	aid, ok := auth.FromContext(ctx)
	if !ok || aid.UserID != "u-1" || aid.Tenant != "t-1" {
		t.Errorf("auth identity = %+v, %v", aid, ok)
	}
	if _, ok := FromContext(context.Background()); ok {
		t.Error("a caller in an empty context")
	}
}

func equalCaller(a, b Caller) bool {
	return a.UserID == b.UserID && a.TenantID == b.TenantID && a.PatientID == b.PatientID && slices.Equal(a.Roles, b.Roles) &&
		a.RequestID == b.RequestID && a.IP == b.IP
}

// TestExpect: the outer context of a request sees the caller that an
// inner one installs (the log line), and only the first.
func TestExpect(t *testing.T) {
	outer := Expect(context.Background())
	if _, ok := FromContext(outer); ok {
		t.Fatal("Expect made a caller")
	}
	inner := NewContext(outer, Caller{UserID: "first"})
	NewContext(inner, Caller{UserID: "second"}) // a nested caller does not replace the request's
	if c, ok := FromContext(outer); !ok || c.UserID != "first" {
		t.Errorf("outer sees %+v, %v; want the first caller", c, ok)
	}
	if c, _ := FromContext(NewContext(inner, Caller{UserID: "second"})); c.UserID != "second" {
		t.Errorf("a nested context sees %q, want its own caller", c.UserID)
	}
	// Without Expect nothing leaks outwards.
	plain := context.Background()
	NewContext(plain, Caller{UserID: "x"})
	if _, ok := FromContext(plain); ok {
		t.Error("a caller leaked into a context not made by Expect")
	}
}

func TestPatientOnly(t *testing.T) {
	for _, tc := range []struct {
		c    Caller
		want bool
	}{
		{Caller{PatientID: "p", Roles: []string{RolePaciente}}, true},
		{Caller{PatientID: "p", Roles: []string{RolePaciente, RoleMedico}}, false},
		{Caller{Roles: []string{RolePaciente}}, false},
		{Caller{PatientID: "p"}, false},
		{Caller{Roles: []string{RoleMedico}}, false},
	} {
		if got := tc.c.PatientOnly(); got != tc.want {
			t.Errorf("%+v.PatientOnly() = %v, want %v", tc.c, got, tc.want)
		}
	}
}

func TestPatientNotes(t *testing.T) {
	signed := time.Now()
	notes := []ehr.Note{
		{ID: "draft", Status: ehr.NoteDraft},
		{ID: "signed", Status: ehr.NoteSigned, SignedAt: &signed},
		{ID: "amended", Status: ehr.NoteAmended, SignedAt: &signed},
		{ID: "eie-signed", Status: ehr.StatusEnteredInError, SignedAt: &signed},
		{ID: "eie-draft", Status: ehr.StatusEnteredInError},
	}
	var got []string
	for _, n := range PatientNotes(notes) {
		got = append(got, n.ID)
	}
	if want := []string{"signed", "amended", "eie-signed"}; !slices.Equal(got, want) {
		t.Errorf("PatientNotes = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		row  string
		want bool
	}{
		{`{"status":"draft"}`, false},
		{`{"status":"signed","signed_at":"2026-01-01T00:00:00Z"}`, true},
		{`{"status":"amended","signed_at":"2026-01-01T00:00:00Z"}`, true},
		{`{"status":"entered-in-error","signed_at":"2026-01-01T00:00:00Z"}`, true},
		{`{"status":"entered-in-error"}`, false},
		{`not json`, false},
	} {
		if got := PatientReadsVersion(json.RawMessage(tc.row)); got != tc.want {
			t.Errorf("PatientReadsVersion(%s) = %v, want %v", tc.row, got, tc.want)
		}
	}
}

func TestValidationError(t *testing.T) {
	inv := Invalid(FieldError{"username", CodeUsername})
	if !errors.Is(inv, ErrInvalid) || errors.Is(inv, ErrConflict) || !inv.Has("username") || inv.Has("role") {
		t.Errorf("Invalid: %v", inv)
	}
	if got := inv.Error(); got != "app: invalid input: username: username" {
		t.Errorf("Error() = %q", got)
	}
	if taken := Taken(FieldError{"username", CodeUsernameTaken}); !errors.Is(taken, ErrConflict) || errors.Is(taken, ErrInvalid) {
		t.Errorf("Taken: %v", taken)
	}
	if Invalid().orNil() != nil {
		t.Error("an empty ValidationError is an error")
	}
}

// TestAuthError: auth's refusals of a user's fields become the form's
// fields with their codes.
func TestAuthError(t *testing.T) {
	for _, tc := range []struct {
		err   error
		field string
		code  string
		is    error
	}{
		{&auth.PasswordError{Code: auth.CodeCommon}, "password", CodeWeakPassword, ErrInvalid},
		{&auth.InvalidError{Fields: []string{"Username"}, Code: auth.CodeInvalid}, "username", CodeUsername, ErrInvalid},
		{&auth.InvalidError{Fields: []string{"Roles"}, Code: auth.CodeTooMany}, "role", auth.CodeTooMany, ErrInvalid},
		{auth.ErrConflict, "username", CodeUsernameTaken, ErrConflict},
	} {
		err := authError(tc.err)
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0] != (FieldError{tc.field, tc.code}) || !errors.Is(err, tc.is) {
			t.Errorf("authError(%v) = %v", tc.err, err)
		}
	}
	other := errors.New("boom")
	if authError(other) != other || authError(nil) != nil {
		t.Error("authError changed an error that is no refusal")
	}
}
