package browsertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/demo"
	"github.com/historiaehr/historia/refserver/internal/server"
)

// password is every seeded user's password.
const password = "browser-test-password"

// hospital is a running server over a fresh database seeded with the demo
// hospital: one user per role (the username is the role), the physician's
// practitioner record, and a few patients, the first of them the
// "paciente" user's own chart.
type hospital struct {
	URL string // https://127.0.0.1:port
	// LocalURL is the server as https://localhost:port, the origin of
	// its passkeys (an IP address is never a WebAuthn RP ID).
	LocalURL     string
	Pool         *pgxpool.Pool
	Repo         *ehr.Repository
	Tenant       string
	PatientID    string // the chart of the "paciente" user
	Practitioner ehr.Practitioner
	users        map[string]auth.User
}

// newHospital starts the server for t. The database comes from ehrtest
// (skipped without PostgreSQL, failed under CI=true). Every test here
// also needs the browser, so its absence is reported first, before the
// database is made.
func newHospital(t *testing.T) *hospital {
	t.Helper()
	return newHospitalWith(t, func(*server.Config) {})
}

// newHospitalWith is newHospital with the server's Config adjusted by fn.
func newHospitalWith(t *testing.T, fn func(*server.Config)) *hospital {
	t.Helper()
	requireBrowser(t)
	ctx := context.Background()
	url := ehrtest.NewURL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	// ehrtest migrated ehr's schema; the server also needs auth's.
	err = server.Migrate(ctx, conn)
	conn.Close(ctx)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pool, err := server.OpenPool(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	seeded, err := demo.Seed(ctx, pool, 4, password, io.Discard)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	h := &hospital{Pool: pool, Repo: ehr.NewRepository(pool, ehr.WithAuthorizer(rbac.Default())),
		Tenant: seeded.TenantID, PatientID: seeded.PatientID, users: map[string]auth.User{}}
	store := auth.NewStore(pool, auth.StoreConfig{})
	for _, role := range demo.Roles {
		u, err := store.UserByUsername(ctx, h.Tenant, role)
		if err != nil {
			t.Fatalf("user %s: %v", role, err)
		}
		h.users[role] = u
	}
	if h.Practitioner, err = h.Repo.PractitionerByUser(h.as("admin"), h.users["medico"].ID); err != nil {
		t.Fatalf("practitioner: %v", err)
	}

	keys, err := server.Keys("", "")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// TLS: the session cookies are Secure with the __Host- prefix. The
	// listener comes first: its port names the passkeys' origin.
	ts := httptest.NewUnstartedServer(nil)
	ts.EnableHTTP2 = true
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	h.LocalURL = "https://localhost:" + port
	cfg := server.Config{Issuer: "browsertest", IdleTimeout: 15 * time.Minute, LoginLimiter: allowAll{}, PublicOrigin: h.LocalURL}
	fn(&cfg)
	// t.Context ends the revocation listener with the test (it logs
	// through t, which must not outlive it).
	handler, err := server.Handler(t.Context(), log, pool, keys, cfg, h.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = handler
	ts.StartTLS()
	t.Cleanup(ts.Close)
	h.URL = ts.URL
	return h
}

// as returns a context acting as the seeded user of role.
func (h *hospital) as(role string) context.Context {
	u := h.users[role]
	return ehr.NewContext(context.Background(), ehr.Actor{
		Principal: rbac.Principal{UserID: u.ID, TenantID: h.Tenant, PatientID: u.PatientID, Roles: []string{role}},
		RequestID: "browsertest-fixture",
	})
}

// patient returns a seeded patient.
func (h *hospital) patient(t *testing.T, id string) ehr.Patient {
	t.Helper()
	p, err := h.Repo.GetPatient(h.as("admisionista"), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// recordVitals records a few days of vital signs of patient id, as the
// physician.
func (h *hospital) recordVitals(t *testing.T, id string) []ehr.Observation {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Minute)
	var obs []ehr.Observation
	for i, v := range []struct{ hr, temp float64 }{{88, 38.2}, {84, 37.9}, {79, 37.4}, {76, 37.0}, {72, 36.8}} {
		at := now.Add(time.Duration(i-4) * 12 * time.Hour)
		obs = append(obs,
			ehr.Observation{Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Display: "Frecuencia cardiaca",
				Value: new(v.hr), Unit: "/min", EffectiveAt: at},
			ehr.Observation{Category: ehr.CategoryVitalSigns, Code: ehr.CodeBodyTemp, Display: "Temperatura",
				Value: new(v.temp), Unit: "Cel", EffectiveAt: at})
	}
	out, err := h.Repo.RecordObservations(h.as("medico"), id, obs)
	if err != nil {
		t.Fatalf("record vitals: %v", err)
	}
	return out
}

// allowAll lets every login through: the tests sign in many times from
// one address.
type allowAll struct{}

func (allowAll) Allow(string) bool { return true }

// testWriter sends the server's warnings and errors to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Logf("server: %s", p)
	return len(p), nil
}

// otherPatients returns the ids of the seeded patients other than the
// "paciente" user's.
func (h *hospital) otherPatients(t *testing.T) []string {
	t.Helper()
	rows, err := h.Pool.Query(context.Background(), "SELECT patient_id::text FROM patients WHERE tenant_id = $1 AND patient_id <> $2", h.Tenant, h.PatientID)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
