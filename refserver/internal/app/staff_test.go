package app_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
)

func TestMain(m *testing.M) { ehrtest.Main(m) }

const password = "caballo correcto grapa 7"

// roundTrips counts the statements and batches a pool sends (a pgx
// tracer): each is one round trip to the database.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

type fixture struct {
	pool   *pgxpool.Pool
	trips  *roundTrips
	app    *app.App
	users  *auth.Store
	tenant string
}

// newFixture is a migrated database (ehr and auth) with one tenant and
// the App over it.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	url := ehrtest.NewURL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	err = auth.Migrate(ctx, conn)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	trips := &roundTrips{}
	pool := ehrtest.OpenWith(t, url, func(c *pgxpool.Config) { c.ConnConfig.Tracer = trips })
	repo := ehr.NewRepository(pool, ehr.WithAuthorizer(rbac.Default()))
	tn, err := repo.CreateTenant(ctx, "Hospital de Prueba")
	if err != nil {
		t.Fatal(err)
	}
	users := auth.NewStore(pool, auth.StoreConfig{})
	return &fixture{pool: pool, trips: trips, users: users, tenant: tn.ID,
		app: app.New(app.Config{Users: users, Records: repo, DB: pool})}
}

// admin is the context of an operator administering the tenant.
func (f *fixture) admin() context.Context {
	return app.NewContext(context.Background(), app.Operator(f.tenant, app.RoleAdmin))
}

func (f *fixture) count(t *testing.T, sql string) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStaffCreateRefuses: each mistake is named on its field with its
// code, the policy is checked, and nothing is written.
func TestStaffCreateRefuses(t *testing.T) {
	f := newFixture(t)
	medico := app.NewContext(context.Background(), app.Caller{UserID: uuid.NewString(), TenantID: f.tenant, Roles: []string{app.RoleMedico}})
	other := app.NewContext(context.Background(), app.Operator(uuid.NewString(), app.RoleAdmin))
	ok := app.NewStaff{Username: "nueva", Password: password, Roles: []string{app.RoleSecretaria}}
	with := func(fn func(*app.NewStaff)) app.NewStaff { in := ok; fn(&in); return in }
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		in          app.NewStaff
		field, code string
		is          error
	}{
		{"no role", f.admin(), with(func(in *app.NewStaff) { in.Roles = []string{" "} }), "role", ehr.CodeRequired, app.ErrInvalid},
		{"unknown role", f.admin(), with(func(in *app.NewStaff) { in.Roles = []string{"cirujano"} }), "role", ehr.CodeInvalid, app.ErrInvalid},
		// A patient's account is made by the patient with an activation
		// code (Activations), never by an admin: with or without a
		// patient id, existing or not.
		{"paciente without patient", f.admin(), with(func(in *app.NewStaff) { in.Roles = []string{app.RolePaciente} }), "role", app.CodePatientActivation, app.ErrInvalid},
		{"paciente with any patient", f.admin(), with(func(in *app.NewStaff) { in.Roles = []string{app.RolePaciente}; in.PatientID = uuid.NewString() }), "role", app.CodePatientActivation, app.ErrInvalid},
		{"paciente among roles", f.admin(), with(func(in *app.NewStaff) {
			in.Roles = []string{app.RoleSecretaria, app.RolePaciente}
			in.PatientID = uuid.NewString()
		}), "role", app.CodePatientActivation, app.ErrInvalid},
		{"patient for staff", f.admin(), with(func(in *app.NewStaff) { in.PatientID = uuid.NewString() }), "patient_id", app.CodePatientOnly, app.ErrInvalid},
		{"medico without name", f.admin(), with(func(in *app.NewStaff) { in.Roles = []string{app.RoleMedico} }), "practitioner_name", ehr.CodeRequired, app.ErrInvalid},
		{"weak password", f.admin(), with(func(in *app.NewStaff) { in.Password = "corta" }), "password", app.CodeWeakPassword, app.ErrInvalid},
		{"bad username", f.admin(), with(func(in *app.NewStaff) { in.Username = "no válido" }), "username", app.CodeUsername, app.ErrInvalid},
		{"unknown tenant", other, ok, "tenant", app.CodeUnknownTenant, app.ErrInvalid},
		{"not an admin", medico, ok, "", "", rbac.ErrDenied},
		{"no caller", context.Background(), ok, "", "", rbac.ErrDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.app.Staff.Create(tc.ctx, tc.in)
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want one matching %v", err, tc.is)
			}
			if tc.field != "" {
				var ve *app.ValidationError
				if !errors.As(err, &ve) || !ve.Has(tc.field) || ve.Fields[0].Code != tc.code {
					t.Fatalf("err = %v, want %s: %s", err, tc.field, tc.code)
				}
			}
			if n := f.count(t, "SELECT count(*) FROM users"); n != 0 {
				t.Fatalf("%d users written after a refusal", n)
			}
		})
	}
}

// TestStaffCreateMedico: a medico gets their practitioner record; the
// same username again is a conflict on the username.
func TestStaffCreateMedico(t *testing.T) {
	f := newFixture(t)
	acct, err := f.app.Staff.Create(f.admin(), app.NewStaff{Username: "Dra.Vega", Password: password, Roles: []string{app.RoleMedico},
		PractitionerName: "Dra. Ana Vega", Specialty: "Geriatría"})
	if err != nil {
		t.Fatal(err)
	}
	if acct.User.Username != "dra.vega" || acct.Practitioner == nil || acct.Practitioner.UserID != acct.User.ID || acct.Practitioner.Name != "Dra. Ana Vega" {
		t.Fatalf("account %+v, practitioner %+v", acct.User, acct.Practitioner)
	}
	_, err = f.app.Staff.Create(f.admin(), app.NewStaff{Username: "dra.vega", Password: password, Roles: []string{app.RoleSecretaria}})
	var ve *app.ValidationError
	if !errors.Is(err, app.ErrConflict) || !errors.As(err, &ve) || ve.Fields[0] != (app.FieldError{Field: "username", Code: app.CodeUsernameTaken}) {
		t.Fatalf("same username again: %v", err)
	}
	acct, err = f.app.Staff.Create(f.admin(), app.NewStaff{Username: "secre", Password: password, Roles: []string{app.RoleSecretaria, app.RoleSecretaria}})
	if err != nil || acct.Practitioner != nil || len(acct.User.Roles) != 1 {
		t.Fatalf("secretaria: %+v, %v", acct, err)
	}
}

// TestStaffCreateDisablesHalfMadeMedico: when the practitioner record is
// refused, the account is disabled and the error names the field.
func TestStaffCreateDisablesHalfMadeMedico(t *testing.T) {
	f := newFixture(t)
	_, err := f.app.Staff.Create(f.admin(), app.NewStaff{Username: "dr.largo", Password: password, Roles: []string{app.RoleMedico},
		PractitionerName: strings.Repeat("n", 300)})
	var ve *app.ValidationError
	if !errors.As(err, &ve) || !ve.Has("practitioner_name") || ve.Fields[0].Code != ehr.CodeTooLong {
		t.Fatalf("err = %v, want practitioner_name: too_long", err)
	}
	u, err := f.users.UserByUsername(context.Background(), f.tenant, "dr.largo")
	if err != nil || u.Status != auth.StatusDisabled {
		t.Fatalf("the half-made account: %+v, %v; want it disabled", u, err)
	}
}

// TestStaffManage: listing, disabling (not oneself) and resetting a
// password go through the policy.
func TestStaffManage(t *testing.T) {
	f := newFixture(t)
	acct, err := f.app.Staff.Create(f.admin(), app.NewStaff{Username: "jefa", Password: password, Roles: []string{app.RoleAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	self := app.NewContext(context.Background(), app.Caller{UserID: acct.User.ID, TenantID: f.tenant, Roles: []string{app.RoleAdmin}})
	var ve *app.ValidationError
	if err := f.app.Staff.SetEnabled(self, acct.User.ID, false); !errors.As(err, &ve) || !ve.Has("id") {
		t.Errorf("disabling oneself: %v", err)
	}
	if err := f.app.Staff.ResetPassword(self, acct.User.ID, "corta"); !errors.As(err, &ve) || !ve.Has("password") {
		t.Errorf("a weak password: %v", err)
	}
	users, err := f.app.Staff.List(self)
	if err != nil || len(users) != 1 {
		t.Errorf("List = %v, %v", users, err)
	}
	clerk := app.NewContext(context.Background(), app.Caller{UserID: uuid.NewString(), TenantID: f.tenant, Roles: []string{app.RoleSecretaria}})
	if _, err := f.app.Staff.List(clerk); !errors.Is(err, rbac.ErrDenied) {
		t.Errorf("a clerk lists users: %v", err)
	}
	if err := f.app.Staff.SetEnabled(clerk, acct.User.ID, false); !errors.Is(err, rbac.ErrDenied) {
		t.Errorf("a clerk disables a user: %v", err)
	}
	if err := f.app.Staff.SetEnabled(f.admin(), acct.User.ID, false); err != nil {
		t.Errorf("the operator disables a user: %v", err)
	}
}

// TestPatientOutsideTenantIsNotFound: ehr answers a request about an id
// that is no patient of the caller's tenant (no one's, or another
// tenant's) with ErrNotFound, also when the policy would deny it, so the
// pages and the API answer 404 without a second read. (The server used
// to make that read, missingPatient, until ehr did so itself.)
func TestPatientOutsideTenantIsNotFound(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	repo := f.app.Records
	t2, err := repo.CreateTenant(ctx, "Otro hospital")
	if err != nil {
		t.Fatal(err)
	}
	as := func(tenant, role string) context.Context {
		return app.NewContext(ctx, app.Caller{UserID: uuid.NewString(), TenantID: tenant, Roles: []string{role}})
	}
	theirs, err := repo.RegisterPatient(as(t2.ID, app.RoleAdmisionista), ehr.Patient{DocumentType: "DNI", DocumentNumber: "12345678Z",
		GivenNames: "Otra", FamilyNames: "Paciente", BirthDate: time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC), Sex: "female"})
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range []string{uuid.NewString(), theirs.ID} {
		medico, adm, sec := as(f.tenant, app.RoleMedico), as(f.tenant, app.RoleAdmisionista), as(f.tenant, app.RoleSecretaria)
		for name, call := range map[string]func() error{
			"note": func() error {
				_, err := repo.CreateNote(medico, ehr.Note{PatientID: pid, Title: "Nota", Body: "Texto"}, false)
				return err
			},
			"history": func() error { _, err := repo.History(medico, rbac.KindNote, pid, uuid.NewString()); return err },
			"break-glass": func() error {
				_, err := repo.BreakGlass(medico, pid, "Urgencia vital en la guardia", time.Hour)
				return err
			},
			"admit": func() error {
				_, err := repo.Admit(adm, ehr.Admission{PatientID: pid, AttendingID: uuid.NewString(), Ward: "UCI"})
				return err
			},
			"care team": func() error {
				_, err := repo.AssignCareTeam(adm, ehr.CareTeamMember{PatientID: pid, PractitionerID: uuid.NewString(), Role: "attending"})
				return err
			},
			"cancel": func() error {
				_, err := repo.CancelAppointment(sec, ehr.RecordRef{Kind: rbac.KindAppointment, PatientID: pid, ID: uuid.NewString(), Version: 1}, "motivo")
				return err
			},
		} {
			if err := call(); !errors.Is(err, ehr.ErrNotFound) || errors.Is(err, ehr.ErrDenied) {
				t.Errorf("%s for patient %s outside the tenant: %v, want ErrNotFound only", name, pid, err)
			}
		}
	}
}

// TestDirectoryNames: every name a page shows in one statement, the
// tenant's name read once.
func TestDirectoryNames(t *testing.T) {
	f := newFixture(t)
	med, err := f.app.Staff.Create(f.admin(), app.NewStaff{Username: "medico", Password: password, Roles: []string{app.RoleMedico}, PractitionerName: "Dra. Ruiz"})
	if err != nil {
		t.Fatal(err)
	}
	adm, err := f.app.Staff.Create(f.admin(), app.NewStaff{Username: "admin", Password: password, Roles: []string{app.RoleAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	c := app.Caller{UserID: adm.User.ID, TenantID: f.tenant, Roles: []string{app.RoleAdmin}}
	ctx := app.NewContext(context.Background(), c)
	stranger := uuid.NewString()
	f.trips.n.Store(0)
	nm := f.app.Directory.Names(ctx, c, []string{med.User.ID, stranger, app.OperatorUser, ""}, []string{med.Practitioner.ID, stranger})
	if n := f.trips.n.Load(); n != 1 {
		t.Errorf("Names took %d round trips, want 1", n)
	}
	for _, tc := range []struct{ got, want string }{
		{nm.User(med.User.ID), "Dra. Ruiz"},
		{nm.Username(med.User.ID), "medico"},
		{nm.Username(adm.User.ID), "admin"},
		{nm.User(adm.User.ID), "admin"},
		{nm.User(stranger), stranger},
		{nm.User(app.OperatorUser), app.OperatorUser},
		{nm.Practitioner(med.Practitioner.ID), "Dra. Ruiz"},
		{nm.Practitioner(stranger), stranger},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	f.trips.n.Store(0)
	if got := f.app.Directory.TenantName(ctx); got != "Hospital de Prueba" {
		t.Errorf("TenantName = %q", got)
	}
	if got := f.app.Directory.TenantName(ctx); got != "Hospital de Prueba" {
		t.Errorf("TenantName again = %q", got)
	}
	if n := f.trips.n.Load(); n != 1 {
		t.Errorf("two TenantName calls took %d round trips, want 1", n)
	}
	// Another tenant's user is not named.
	other := app.Caller{UserID: uuid.NewString(), TenantID: uuid.NewString(), Roles: []string{app.RoleAdmin}}
	if got := f.app.Directory.Names(ctx, other, []string{med.User.ID}, nil).User(med.User.ID); got != med.User.ID {
		t.Errorf("a user of another tenant is named %q", got)
	}
}
