// Package ehrtest gives tests a fresh, migrated Historia database on a
// real PostgreSQL server, and seed helpers (a tenant, one principal per
// role, patients) that keep tests short.
//
// The server is found as internal/pgtest does: HISTORIA_TEST_DATABASE_URL,
// else a container from HISTORIA_TEST_PG_IMAGE (dockertest), else the
// installed PostgreSQL binaries. The schema is migrated once per test
// binary into a template database; each test gets a clone of it, dropped
// when the test ends. Without a server a test is skipped, or fails under
// CI=true. A server it starts runs without durability (fsync off) unless
// HISTORIA_TEST_PG_DURABLE=1 (see internal/pgtest).
//
//	func TestMain(m *testing.M) { ehrtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
//		p := h.NewPatient(t)
//		chart, err := h.Repo.Chart(h.As(h.PatientActor(p)), p.ID)
//		...
//	}
package ehrtest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/internal/pgtest"
	"github.com/historiaehr/historia/rbac"
)

// Main runs the tests of a package that uses NewDB, then stops the shared
// server: call it from TestMain.
func Main(m *testing.M) { pgtest.Main(m) }

// templateName names the migrated template; it changes with the schema.
func templateName() string { return fmt.Sprintf("ehr_v%d", ehr.SchemaVersion()) }

// migrateTemplate migrates the template database at url.
func migrateTemplate(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return ehr.Migrate(ctx, conn)
}

// NewURL returns the URL of a fresh, migrated database for this test,
// dropped when the test ends. The URL's role is a superuser; use it to
// inspect the database, or to open a pool that runs as the application
// role (SET ROLE historia_app).
func NewURL(tb testing.TB) string {
	tb.Helper()
	return pgtest.NewDB(tb, templateName(), migrateTemplate)
}

// NewDB returns a pool on a fresh, migrated database for this test. The
// pool is closed, and the database dropped, when the test ends.
func NewDB(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return Open(tb, NewURL(tb))
}

// Open opens a pool on url, closed when the test ends.
func Open(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		tb.Fatalf("ehrtest: open pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// Staff returns an actor of tenantID with a new user id and the given
// roles.
func Staff(tenantID string, roles ...string) ehr.Actor {
	return ehr.Actor{
		Principal: rbac.Principal{UserID: uuid.NewString(), TenantID: tenantID, Roles: roles},
		RequestID: "req-" + uuid.NewString()[:8],
		IP:        "192.0.2.10",
	}
}

// Hospital is a seeded tenant: the repository, the tenant, one staff actor
// per role, and the practitioner record of the physician.
type Hospital struct {
	Repo         *ehr.Repository
	Tenant       ehr.Tenant
	Medico       ehr.Actor
	Practitioner ehr.Practitioner
	Admisionista ehr.Actor
	Secretaria   ehr.Actor
	Admin        ehr.Actor
	Auditor      ehr.Actor
}

var seq atomic.Int64

// NewHospital creates a tenant in db with a repository over it (opts are
// passed to ehr.NewRepository), one actor per staff role, and a
// practitioner linked to the physician.
func NewHospital(tb testing.TB, db ehr.DB, opts ...ehr.Option) *Hospital {
	tb.Helper()
	repo := ehr.NewRepository(db, opts...)
	ctx := context.Background()
	t, err := repo.CreateTenant(ctx, fmt.Sprintf("Hospital de prueba %d", seq.Add(1)))
	if err != nil {
		tb.Fatalf("ehrtest: create tenant: %v", err)
	}
	h := &Hospital{
		Repo:         repo,
		Tenant:       t,
		Admisionista: Staff(t.ID, "admisionista"),
		Secretaria:   Staff(t.ID, "secretaria"),
		Admin:        Staff(t.ID, "admin"),
		Auditor:      Staff(t.ID, "auditor"),
	}
	h.Medico, h.Practitioner = h.NewMedico(tb, "Dra. Ana Gómez")
	return h
}

// As returns a context carrying actor a.
func (h *Hospital) As(a ehr.Actor) context.Context {
	return ehr.NewContext(context.Background(), a)
}

// NewMedico creates a physician actor and their practitioner record.
func (h *Hospital) NewMedico(tb testing.TB, name string) (ehr.Actor, ehr.Practitioner) {
	tb.Helper()
	a := Staff(h.Tenant.ID, "medico")
	p, err := h.Repo.CreatePractitioner(h.As(h.Admin), ehr.Practitioner{UserID: a.Principal.UserID, Name: name, Specialty: "Medicina interna"})
	if err != nil {
		tb.Fatalf("ehrtest: create practitioner: %v", err)
	}
	return a, p
}

// NewPatient registers a synthetic patient (as the admissions desk) and
// returns it. Each call uses a new document number.
func (h *Hospital) NewPatient(tb testing.TB) ehr.Patient {
	tb.Helper()
	n := seq.Add(1)
	p, err := h.Repo.RegisterPatient(h.As(h.Admisionista), ehr.Patient{
		DocumentType:   "CC",
		DocumentNumber: fmt.Sprintf("T%09d", n),
		GivenNames:     "José María",
		FamilyNames:    fmt.Sprintf("Pérez Núñez %d", n),
		BirthDate:      time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC),
		Sex:            ehr.SexMale,
		Contact:        ehr.Contact{Phone: "+57 300 000 0000", Email: "paciente@example.org", Address: "Calle 1 # 2-3"},
	})
	if err != nil {
		tb.Fatalf("ehrtest: register patient: %v", err)
	}
	return p
}

// PatientActor returns the actor of patient p (role paciente).
func (h *Hospital) PatientActor(p ehr.Patient) ehr.Actor {
	a := Staff(h.Tenant.ID, "paciente")
	a.Principal.PatientID = p.ID
	return a
}

// OnCareTeam puts practitioner pr on patient p's care team (as the
// admissions desk).
func (h *Hospital) OnCareTeam(tb testing.TB, p ehr.Patient, pr ehr.Practitioner) ehr.CareTeamMember {
	tb.Helper()
	m, err := h.Repo.AssignCareTeam(h.As(h.Admisionista), ehr.CareTeamMember{PatientID: p.ID, PractitionerID: pr.ID, Role: "attending"})
	if err != nil {
		tb.Fatalf("ehrtest: assign care team: %v", err)
	}
	return m
}
