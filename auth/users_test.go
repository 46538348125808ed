package auth

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestStoreAdminOperations(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	st := e.svc.Users()
	u, err := st.CreateUser(ctx, NewUser{Tenant: tenant, Username: "  Ana.Garcia ", Password: password, Roles: []string{"medico"}})
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "ana.garcia" || u.Status != StatusActive {
		t.Fatalf("%+v", u)
	}
	if _, err := st.CreateUser(ctx, NewUser{Tenant: tenant, Username: "ANA.GARCIA", Password: password}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate username: %v", err)
	}
	// The same username in another tenant is another user.
	if _, err := st.CreateUser(ctx, NewUser{Tenant: "clinica-norte", Username: "ana.garcia", Password: password}); err != nil {
		t.Fatal(err)
	}
	p, err := st.CreateUser(ctx, NewUser{Tenant: tenant, Username: "pepe", Password: password, Roles: []string{"paciente"}, PatientID: "0190a1b2-0000-7000-8000-000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []NewUser{
		{Tenant: tenant, Username: "x", Password: "short"},
		{Tenant: tenant, Username: "bob", Password: "password1234"},
		{Tenant: tenant, Username: "bob/../x", Password: password},
		{Tenant: "", Username: "bob", Password: password},
		{Tenant: tenant, Username: "bob", Password: password, Roles: []string{"Admin Role"}},
	} {
		if _, err := st.CreateUser(ctx, bad); !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrWeakPassword) {
			t.Errorf("%+v: %v", bad, err)
		}
	}

	got, err := st.User(ctx, tenant, u.ID)
	if err != nil || got.Username != "ana.garcia" || !slices.Equal(got.Roles, []string{"medico"}) {
		t.Fatalf("User: %+v %v", got, err)
	}
	if _, err := st.User(ctx, "clinica-norte", u.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cross-tenant read: %v", err)
	}
	if _, err := st.User(ctx, tenant, "not-a-uuid"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if got, err := st.UserByUsername(ctx, tenant, "PEPE"); err != nil || got.PatientID != p.PatientID {
		t.Fatalf("UserByUsername: %+v %v", got, err)
	}
	list, err := st.ListUsers(ctx, tenant)
	if err != nil || len(list) != 2 || list[0].Username != "ana.garcia" || list[1].Username != "pepe" {
		t.Fatalf("ListUsers: %+v %v", list, err)
	}

	if err := st.SetRoles(ctx, tenant, u.ID, []string{"medico", "auditor"}); err != nil {
		t.Fatal(err)
	}
	if err := st.DisableUser(ctx, tenant, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Login(ctx, tenant, "ana.garcia", password, "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("disabled user logged in: %v", err)
	}
	if err := st.EnableUser(ctx, tenant, u.ID); err != nil {
		t.Fatal(err)
	}
	tok, err := e.svc.Login(ctx, tenant, "ana.garcia", password, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tok.Identity.Roles, []string{"medico", "auditor"}) {
		t.Fatalf("roles %v", tok.Identity.Roles)
	}
	const newPw = "otra contraseña distinta"
	if err := st.ResetPassword(ctx, tenant, u.ID, "password1234"); !errors.Is(err, ErrWeakPassword) {
		t.Fatal(err)
	}
	if err := st.ResetPassword(ctx, tenant, u.ID, newPw); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Refresh(ctx, tok.RefreshToken, ""); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatalf("session survived a password reset: %v", err)
	}
	if _, err := e.svc.Login(ctx, tenant, "ana.garcia", password, "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal("old password still works")
	}
	if err := st.ChangePassword(ctx, tenant, u.ID, "wrong wrong wrong", "una tercera contraseña"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
	if err := st.ChangePassword(ctx, tenant, u.ID, newPw, "una tercera contraseña"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Login(ctx, tenant, "ana.garcia", "una tercera contraseña", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := st.DisableUser(ctx, tenant, "0190a1b2-0000-7000-8000-00000000dead"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}

	want := []EventKind{EventUserCreated, EventUserCreated, EventRolesChanged, EventUserDisabled, EventLoginFailed, EventUserEnabled,
		EventLoginSucceeded, EventPasswordChanged, EventLoginFailed, EventPasswordChanged, EventLoginSucceeded}
	if got := kinds(e.events(t, tenant)); !slices.Equal(got, want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	if n, err := VerifyEvents(ctx, e.pool, tenant); err != nil || n != int64(len(want)) {
		t.Fatalf("VerifyEvents: %d %v", n, err)
	}
}

func TestStoreEventNamesActor(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	admin := Identity{UserID: "0190a1b2-0000-7000-8000-0000000000ad", Tenant: tenant, Roles: []string{"admin"}}
	u, err := e.svc.Users().CreateUser(NewContext(ctx, admin), NewUser{Tenant: tenant, Username: "luis", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	evs := e.events(t, tenant)
	if len(evs) != 1 || evs[0].Detail != "by="+admin.UserID || evs[0].UserID != u.ID {
		t.Fatalf("%+v", evs)
	}
}
