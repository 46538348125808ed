package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
)

// TestActivation: the registration desk issues a code (an admin cannot),
// the patient activates their account with it once, and every refusal
// writes no account.
func TestActivation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	as := func(role string) context.Context {
		return app.NewContext(ctx, app.Caller{UserID: uuid.NewString(), TenantID: f.tenant, Roles: []string{role}, RequestID: "r1"})
	}
	adm := as(app.RoleAdmisionista)
	p, err := f.app.Records.RegisterPatient(adm, ehr.Patient{DocumentType: "DNI", DocumentNumber: "12345678Z",
		GivenNames: "Ana", FamilyNames: "Prueba", BirthDate: time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC), Sex: "female"})
	if err != nil {
		t.Fatal(err)
	}
	users := func() int { return f.count(t, "SELECT count(*) FROM users") }

	if _, err := f.app.Activations.Issue(f.admin(), p.ID); !errors.Is(err, rbac.ErrDenied) {
		t.Fatalf("admin issues a code: %v", err)
	}
	if _, err := f.app.Activations.Issue(as(app.RoleAdmin), p.ID); !errors.Is(err, rbac.ErrDenied) {
		t.Fatalf("admin user issues a code: %v", err)
	}
	act, err := f.app.Activations.Issue(adm, p.ID)
	if err != nil || act.Code == "" {
		t.Fatalf("issue: %v", err)
	}
	ok := app.Activate{Tenant: f.tenant, Code: act.Code, Username: "ana.prueba", Password: password}
	with := func(fn func(*app.Activate)) app.Activate { in := ok; fn(&in); return in }
	for _, tc := range []struct {
		name  string
		in    app.Activate
		field string
	}{
		{"no code", with(func(in *app.Activate) { in.Code = "" }), "code"},
		{"wrong code", with(func(in *app.Activate) { in.Code = "AAAAA-AAAAA-AAAAA-AAAAA" }), "code"},
		{"wrong tenant", with(func(in *app.Activate) { in.Tenant = uuid.NewString() }), "code"},
		{"weak password", with(func(in *app.Activate) { in.Password = "corta" }), "password"},
		{"bad username", with(func(in *app.Activate) { in.Username = "no válido" }), "username"},
	} {
		_, err := f.app.Activations.Activate(ctx, tc.in, "192.0.2."+tc.name[:1])
		var ve *app.ValidationError
		if !errors.As(err, &ve) || !ve.Has(tc.field) {
			t.Errorf("%s: %v, want a field error on %s", tc.name, err, tc.field)
		}
		if n := users(); n != 0 {
			t.Fatalf("%s: %d users written", tc.name, n)
		}
	}
	u, err := f.app.Activations.Activate(ctx, ok, "192.0.2.1")
	if err != nil || u.PatientID != p.ID || len(u.Roles) != 1 || u.Roles[0] != app.RolePaciente {
		t.Fatalf("activate: %+v %v", u, err)
	}
	if _, err := f.app.Activations.Activate(ctx, with(func(in *app.Activate) { in.Username = "otra.cuenta" }), "192.0.2.1"); !errors.Is(err, app.ErrInvalid) {
		t.Fatalf("second use: %v", err)
	}
	if n := users(); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
	// Rate limited per client: a guessing client is stopped.
	var limited bool
	for i := 0; i < 20 && !limited; i++ {
		_, err := f.app.Activations.Activate(ctx, with(func(in *app.Activate) { in.Code = "BBBBB-BBBBB-BBBBB-BBBBB" }), "198.51.100.7")
		limited = errors.Is(err, auth.ErrRateLimited)
	}
	if !limited {
		t.Error("20 wrong codes from one client were not rate limited")
	}
}
