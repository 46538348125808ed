package auth

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A *pgxpool.Pool fits DB too (same methods); it is not asserted here
// because pgxpool's dependency puddle is not in go.sum yet.
var _ DB = (*pgx.Conn)(nil)
var _ DB = (pgx.Tx)(nil)
var _ Beginner = (*pgx.Conn)(nil)

func migrateURL(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return Migrate(ctx, conn)
}

// newPool returns a connection to a fresh, migrated database. Tests use
// one connection at a time.
func newPool(tb testing.TB) *pgx.Conn {
	tb.Helper()
	url := pgtest.NewDB(tb, "auth", migrateURL)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	*tokenEnv
	pool   *pgx.Conn
	svc    *Service
	hasher *countingHasher
	logs   *syncBuffer
}

const (
	tenant   = "hospital-central"
	password = "caballo correcto grapa 7"
)

// newEnv is a service on a fresh database with a fake clock, a cheap
// counting hasher and captured debug-level logs; adjust cfg with fns.
func newEnv(tb testing.TB, fns ...func(*Config)) *env {
	tb.Helper()
	te := newTokenEnv(tb, EdDSA)
	e := &env{tokenEnv: te, pool: newPool(tb), hasher: newCountingHasher(cheapParams), logs: &syncBuffer{}}
	cfg := Config{Issuer: testIss, Audience: testAud, Clock: te.clock, Hasher: e.hasher, DefaultTenant: tenant,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, f := range fns {
		f(&cfg)
	}
	svc, err := NewService(e.pool, te.keys, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	e.svc, e.iss = svc, svc.Issuer()
	return e
}

func (e *env) createUser(tb testing.TB, username string, roles ...string) User {
	tb.Helper()
	u, err := e.svc.Users().CreateUser(context.Background(), NewUser{Tenant: tenant, Username: username, Password: password, Roles: roles})
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func (e *env) events(tb testing.TB, tenant string) []Event {
	tb.Helper()
	evs, err := Events(context.Background(), e.pool, tenant, 0, 10000)
	if err != nil {
		tb.Fatal(err)
	}
	return evs
}

func kinds(evs []Event) []EventKind {
	var ks []EventKind
	for _, e := range evs {
		ks = append(ks, e.Kind)
	}
	return ks
}

var _ = time.Second
