package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/internal/pgtest"
)

// replicas are Services on one database, as several server processes
// behind a load balancer: each has its own connection and its own
// revocation listener; they share keys and the fake clock.
type replicas struct {
	url   string
	clock *fakeClock
	svcs  []*Service
	conns []*pgx.Conn
	// down makes the listeners' connect fail, to keep them disconnected.
	down atomic.Bool
	// backend is the pid of the listener connection of replica 1.
	backend atomic.Int32
}

func newReplicas(t *testing.T, n int, fns ...func(*Config)) *replicas {
	t.Helper()
	ctx := context.Background()
	te := newTokenEnv(t, EdDSA)
	rs := &replicas{url: pgtest.NewDB(t, "auth", migrateURL), clock: te.clock}
	for i := range n {
		conn, err := pgx.Connect(ctx, rs.url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		cfg := Config{Issuer: testIss, Audience: testAud, Clock: te.clock, Hasher: newCountingHasher(cheapParams),
			DefaultTenant: tenant, Limiter: allowAll{}, Logger: slog.New(slog.DiscardHandler)}
		for _, f := range fns {
			f(&cfg)
		}
		svc, err := NewService(conn, te.keys, cfg)
		if err != nil {
			t.Fatal(err)
		}
		connect := func(ctx context.Context) (*pgx.Conn, error) {
			if rs.down.Load() {
				return nil, errors.New("database unreachable (test)")
			}
			c, err := pgx.Connect(ctx, rs.url)
			if err == nil && i == 1 {
				rs.backend.Store(int32(c.PgConn().PID()))
			}
			return c, err
		}
		if err := svc.StartRevocationListener(ctx, connect); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Close() })
		rs.svcs, rs.conns = append(rs.svcs, svc), append(rs.conns, conn)
	}
	return rs
}

// authStatus is the middleware's answer to a request with the bearer token.
func authStatus(svc *Service, token string) int {
	r := httptest.NewRequest("GET", "/api/v1/x", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	svc.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, r)
	return w.Code
}

// refusedWithin waits until svc refuses token, at most d (NOTIFY is
// delivered asynchronously, in milliseconds), and returns how long it
// took.
func refusedWithin(t *testing.T, svc *Service, token string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for authStatus(svc, token) != http.StatusUnauthorized {
		if time.Since(start) > d {
			t.Fatalf("token still accepted after %v", d)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func (rs *replicas) login(t *testing.T, i int, user string) Tokens {
	t.Helper()
	tok, err := rs.svcs[i].Login(context.Background(), tenant, user, password, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for j, s := range rs.svcs {
		if c := authStatus(s, tok.AccessToken); c != http.StatusOK {
			t.Fatalf("fresh token refused by replica %d: %d", j, c)
		}
	}
	return tok
}

// TestRevocationAcrossReplicas: logout, disable, a password reset, a
// password change and "revoke all" on replica 0 end the access tokens on
// replica 1 at once (within the NOTIFY's delivery), not at their expiry;
// other sessions stay valid.
func TestRevocationAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	rs := newReplicas(t, 2)
	a, b := rs.svcs[0], rs.svcs[1]
	newUser := func(name string) User {
		u, err := a.Users().CreateUser(ctx, NewUser{Tenant: tenant, Username: name, Password: password, Roles: []string{"medico"}})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	newUser("otro")
	otherTok := rs.login(t, 0, "otro")
	for _, tc := range []struct {
		name   string
		revoke func(u User, tok Tokens) error
	}{
		{"logout", func(u User, tok Tokens) error { return a.Logout(ctx, tok.RefreshToken, "10.0.0.1") }},
		{"end session", func(u User, tok Tokens) error { return a.EndSession(ctx, tok.Identity, "10.0.0.1") }},
		{"disable", func(u User, tok Tokens) error { return a.Users().DisableUser(ctx, tenant, u.ID) }},
		{"reset password", func(u User, tok Tokens) error {
			return a.Users().ResetPassword(ctx, tenant, u.ID, "otra contraseña larga 9")
		}},
		{"change password", func(u User, tok Tokens) error {
			return a.Users().ChangePassword(ctx, tenant, u.ID, password, "otra contraseña larga 9")
		}},
		{"revoke all", func(u User, tok Tokens) error { _, err := a.RevokeSessions(ctx, tenant, u.ID); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser("u-" + tc.name[:3] + tc.name[len(tc.name)-3:])
			tok := rs.login(t, 1, u.Username)
			if err := tc.revoke(u, tok); err != nil {
				t.Fatal(err)
			}
			// The replica that revoked refuses at once, synchronously.
			if c := authStatus(a, tok.AccessToken); c != http.StatusUnauthorized {
				t.Fatalf("revoking replica: %d", c)
			}
			took := refusedWithin(t, b, tok.AccessToken, 2*time.Second)
			t.Logf("replica 1 refused the token %v after the revocation committed", took)
			if _, err := b.Verify(tok.AccessToken); !errors.Is(err, ErrSessionRevoked) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify: %v", err)
			}
			if c := authStatus(b, otherTok.AccessToken); c != http.StatusOK {
				t.Fatalf("another user's token refused: %d", c)
			}
		})
	}
}

// TestRevocationListenerReconnects: a listener whose backend is killed
// (pg_terminate_backend) reconnects and reloads what was revoked
// meanwhile.
func TestRevocationListenerReconnects(t *testing.T) {
	ctx := context.Background()
	rs := newReplicas(t, 2)
	a, b := rs.svcs[0], rs.svcs[1]
	if _, err := a.Users().CreateUser(ctx, NewUser{Tenant: tenant, Username: "ana", Password: password}); err != nil {
		t.Fatal(err)
	}
	tok1 := rs.login(t, 0, "ana")
	tok2 := rs.login(t, 0, "ana")
	reloads := b.rev.reloads.Load()
	rs.down.Store(true) // keep it down while we revoke
	var ok bool
	if err := rs.conns[0].QueryRow(ctx, `SELECT pg_terminate_backend($1)`, rs.backend.Load()).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate: %v %v", ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.RevocationListenerUp() {
		if time.Now().After(deadline) {
			t.Fatal("listener did not notice its connection died")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Revoked while replica 1 is deaf: within RevocationMaxStale it
	// still accepts (the bounded window), ...
	if err := a.Logout(ctx, tok1.RefreshToken, ""); err != nil {
		t.Fatal(err)
	}
	if c := authStatus(b, tok1.AccessToken); c != http.StatusOK {
		t.Fatalf("within RevocationMaxStale: %d (the window is expected, not a failure of the fallback)", c)
	}
	// ... after the reconnect, the reload brings the revocation.
	rs.down.Store(false)
	deadline = time.Now().Add(10 * time.Second)
	for !b.RevocationListenerUp() || b.rev.reloads.Load() == reloads {
		if time.Now().After(deadline) {
			t.Fatal("listener did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := authStatus(b, tok1.AccessToken); c != http.StatusUnauthorized {
		t.Fatalf("revoked while disconnected, accepted after the reload: %d", c)
	}
	// And notifications flow again on the new connection.
	if err := a.Logout(ctx, tok2.RefreshToken, ""); err != nil {
		t.Fatal(err)
	}
	refusedWithin(t, b, tok2.AccessToken, 2*time.Second)
}

// TestRevocationFallbackWhenListenerDown: disconnected for longer than
// RevocationMaxStale, a replica checks each request's session in the
// database; if that fails too, it refuses (fail closed).
func TestRevocationFallbackWhenListenerDown(t *testing.T) {
	ctx := context.Background()
	rs := newReplicas(t, 2)
	a, b := rs.svcs[0], rs.svcs[1]
	if _, err := a.Users().CreateUser(ctx, NewUser{Tenant: tenant, Username: "ana", Password: password}); err != nil {
		t.Fatal(err)
	}
	live := rs.login(t, 0, "ana")
	ended := rs.login(t, 0, "ana")
	rs.down.Store(true)
	if _, err := rs.conns[0].Exec(ctx, `SELECT pg_terminate_backend($1)`, rs.backend.Load()); err != nil {
		t.Fatal(err)
	}
	for b.RevocationListenerUp() {
		time.Sleep(5 * time.Millisecond)
	}
	if err := a.Logout(ctx, ended.RefreshToken, ""); err != nil {
		t.Fatal(err)
	}
	rs.clock.Advance(DefaultRevocationMaxStale + time.Second)
	if c := authStatus(b, ended.AccessToken); c != http.StatusUnauthorized {
		t.Fatalf("stale listener: revoked session accepted: %d", c)
	}
	if c := authStatus(b, live.AccessToken); c != http.StatusOK {
		t.Fatalf("stale listener: live session refused: %d", c)
	}
	// The database unreachable as well: refuse, with 503 (the token is
	// not known to be bad: the client keeps it and retries).
	rs.conns[1].Close(ctx)
	if c := authStatus(b, live.AccessToken); c != http.StatusServiceUnavailable {
		t.Fatalf("stale listener and no database: %d, want 503", c)
	}
	if _, err := b.Verify(live.AccessToken); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Verify: %v, want ErrUnavailable (not ErrInvalidToken)", err)
	}
}

// TestRevocationReloadOnStart: a replica started after a revocation
// knows it.
func TestRevocationReloadOnStart(t *testing.T) {
	ctx := context.Background()
	rs := newReplicas(t, 1)
	a := rs.svcs[0]
	if _, err := a.Users().CreateUser(ctx, NewUser{Tenant: tenant, Username: "ana", Password: password}); err != nil {
		t.Fatal(err)
	}
	tok := rs.login(t, 0, "ana")
	if _, err := a.RevokeSessions(ctx, tenant, tok.Identity.UserID); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, rs.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	late, err := NewService(conn, a.issuer.keys, Config{Issuer: testIss, Audience: testAud, Clock: rs.clock, Hasher: newCountingHasher(cheapParams)})
	if err != nil {
		t.Fatal(err)
	}
	if c := authStatus(late, tok.AccessToken); c != http.StatusOK {
		t.Fatalf("before its listener starts the late replica cannot know: %d", c)
	}
	if err := late.StartRevocationListener(ctx, func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, rs.url) }); err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if c := authStatus(late, tok.AccessToken); c != http.StatusUnauthorized {
		t.Fatalf("revoked before start, accepted after: %d", c)
	}
	// Forgotten only once every token of the session has expired.
	rs.clock.Advance(late.revocationWindow() + time.Second)
	late.rev.prune(rs.clock.Now())
	if late.rev.revoked(tok.Identity.SessionID) {
		t.Fatal("not pruned")
	}
}

// TestCheckSessionAllocatesNothing: the revocation check on every request
// is a map lookup.
func TestCheckSessionAllocatesNothing(t *testing.T) {
	e := newEnv(t)
	e.svc.revoked([]string{"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d"})
	id := Identity{UserID: "u", Tenant: tenant, SessionID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"}
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		if err := e.svc.CheckSession(ctx, id); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("CheckSession allocates %v", n)
	}
	id.SessionID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d"
	if err := e.svc.CheckSession(ctx, id); !errors.Is(err, ErrSessionRevoked) {
		t.Fatal(err)
	}
}
