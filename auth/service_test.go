package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoginIssuesVerifiableTokens(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u, err := e.svc.Users().CreateUser(ctx, NewUser{Tenant: tenant, Username: "pepe", Password: password, Roles: []string{"paciente"},
		PatientID: "0190a1b2-0000-7000-8000-000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.svc.Login(ctx, "", "Pepe", password, "10.0.0.1") // default tenant, any case
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "bearer" || tok.ExpiresIn != int(DefaultAccessTTL/time.Second) || tok.RefreshToken == "" {
		t.Fatalf("%+v", tok)
	}
	c, err := e.svc.Verify(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	id := c.Identity()
	if id.UserID != u.ID || id.Tenant != tenant || id.PatientID != u.PatientID || !slices.Equal(id.Roles, []string{"paciente"}) ||
		id.SessionID == "" || id.SessionID != tok.Identity.SessionID {
		t.Fatalf("identity %+v", id)
	}
	if !tok.SessionExpiresAt.Equal(e.clock.Now().Add(DefaultSessionLimit)) {
		t.Fatalf("session limit %v", tok.SessionExpiresAt)
	}
	// Another tenant does not know this user.
	if _, err := e.svc.Login(ctx, "clinica-norte", "pepe", password, "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
}

func TestLoginLockoutAndBackoff(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *Config) { c.Limiter = allowAll{} })
	u := e.createUser(t, "ana", "medico")
	fail := func() {
		t.Helper()
		if _, err := e.svc.Login(ctx, tenant, "ana", "not the password!", "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	lockedFor := func() time.Duration {
		t.Helper()
		got, err := e.svc.Users().User(ctx, tenant, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LockedUntil.IsZero() {
			return 0
		}
		return got.LockedUntil.Sub(e.clock.Now())
	}
	for i := 0; i < DefaultMaxFailures-1; i++ {
		fail()
	}
	if d := lockedFor(); d != 0 {
		t.Fatalf("locked after %d failures", DefaultMaxFailures-1)
	}
	fail()
	if d := lockedFor(); d != DefaultLockBase {
		t.Fatalf("first lock-out %v, want %v", d, DefaultLockBase)
	}
	// While locked the right password fails with the same error.
	if _, err := e.svc.Login(ctx, tenant, "ana", password, "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("locked account logged in: %v", err)
	}
	// After the back-off one more failure locks for twice as long, then
	// four times...
	e.clock.Advance(DefaultLockBase)
	fail()
	if d := lockedFor(); d != 2*DefaultLockBase {
		t.Fatalf("second lock-out %v", d)
	}
	e.clock.Advance(2 * DefaultLockBase)
	fail()
	if d := lockedFor(); d != 4*DefaultLockBase {
		t.Fatalf("third lock-out %v", d)
	}
	// ... and after it the right password works and resets the count.
	e.clock.Advance(4*DefaultLockBase + time.Second)
	if _, err := e.svc.Login(ctx, tenant, "ana", password, "10.0.0.1"); err != nil {
		t.Fatalf("after back-off: %v", err)
	}
	if got, _ := e.svc.Users().User(ctx, tenant, u.ID); got.FailedAttempts != 0 || !got.LockedUntil.IsZero() {
		t.Fatalf("not reset: %+v", got)
	}
	// The cap.
	if d := e.svc.lockFor(100); d != DefaultLockMax {
		t.Fatalf("cap %v", d)
	}
	evs := kinds(e.events(t, tenant))
	if n := countKind(evs, EventAccountLocked); n != 3 {
		t.Fatalf("%d lock-out events: %v", n, evs)
	}
}

func countKind(ks []EventKind, k EventKind) int {
	n := 0
	for _, x := range ks {
		if x == k {
			n++
		}
	}
	return n
}

type allowAll struct{}

func (allowAll) Allow(string) bool { return true }

// Every login attempt verifies exactly one argon2id hash with the current
// parameters, whatever the account's state: counted, never timed.
func TestLoginUnknownUserDoesSameHashWork(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *Config) { c.Limiter = allowAll{}; c.MaxFailures = 2 })
	e.createUser(t, "ana")
	d := e.createUser(t, "disabled.user")
	if err := e.svc.Users().DisableUser(ctx, tenant, d.ID); err != nil {
		t.Fatal(err)
	}
	e.createUser(t, "locked.user")
	for i := 0; i < 2; i++ {
		_, _ = e.svc.Login(ctx, tenant, "locked.user", "wrong password!!", "")
	}
	cases := []struct{ name, user, pw string }{
		{"known user, wrong password", "ana", "wrong password!!"},
		{"unknown user", "nadie", "wrong password!!"},
		{"unknown tenant user", "ana@otro", password},
		{"disabled user, right password", "disabled.user", password},
		{"locked user, right password", "locked.user", password},
		{"overlong username", strings.Repeat("a", 1000), password},
		{"empty password", "ana", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.hasher.verifies.Store(0)
			e.hasher.hashes.Store(0)
			_, err := e.svc.Login(ctx, tenant, tc.user, tc.pw, "")
			if !errors.Is(err, ErrInvalidCredentials) || err.Error() != ErrInvalidCredentials.Error() {
				t.Fatalf("error %v, want the generic one", err)
			}
			if v, h := e.hasher.verifies.Load(), e.hasher.hashes.Load(); v != 1 || h != 0 {
				t.Fatalf("%d verifications and %d hashes, want 1 and 0", v, h)
			}
			if p := e.hasher.lastParams.Load().(Params); p != cheapParams {
				t.Fatalf("verified with %+v, want the configured %+v", p, cheapParams)
			}
		})
	}
}

func TestLoginRateLimitPerClient(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *Config) { c.Limiter = NewRateLimiter(3, time.Minute, c.Clock) })
	e.createUser(t, "ana")
	for i := 0; i < 3; i++ {
		if _, err := e.svc.Login(ctx, tenant, "ana", "wrong password!!", "192.0.2.1"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	e.hasher.verifies.Store(0)
	if _, err := e.svc.Login(ctx, tenant, "ana", password, "192.0.2.1"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("4th attempt: %v", err)
	}
	if e.hasher.verifies.Load() != 0 {
		t.Fatal("a refused client cost a hash")
	}
	if _, err := e.svc.Login(ctx, tenant, "ana", password, "192.0.2.2"); err != nil {
		t.Fatalf("another client: %v", err)
	}
	e.clock.Advance(20 * time.Second) // one attempt regained
	if _, err := e.svc.Login(ctx, tenant, "ana", password, "192.0.2.1"); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}

func TestLoginRehashesOnParameterChange(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.createUser(t, "ana")
	stronger := Params{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	svc, err := NewService(e.pool, e.keys, Config{Issuer: testIss, Audience: testAud, Clock: e.clock, Hasher: NewArgon2id(stronger), Logger: e.svc.log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, tenant, "ana", password, ""); err != nil {
		t.Fatal(err)
	}
	var hash string
	if err := e.pool.QueryRow(ctx, "SELECT password_hash FROM users WHERE id = $1", u.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("not rehashed: %s", hash)
	}
	if _, err := svc.Login(ctx, tenant, "ana", password, ""); err != nil {
		t.Fatalf("login after rehash: %v", err)
	}
}

func TestRefreshRotates(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createUser(t, "ana", "medico")
	t0, err := e.svc.Login(ctx, tenant, "ana", password, "")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	t1, err := e.svc.Refresh(ctx, t0.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	if t1.RefreshToken == "" || t1.RefreshToken == t0.RefreshToken || t1.Identity.SessionID != t0.Identity.SessionID {
		t.Fatalf("not rotated: %+v", t1)
	}
	if _, err := e.svc.Verify(t1.AccessToken); err != nil {
		t.Fatal(err)
	}
	// Only the hash is stored.
	var n int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM refresh_tokens WHERE position($1::bytea in token_hash) > 0", []byte(t1.RefreshToken[37:])).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refresh token stored in clear (%v)", err)
	}
	tampered := []byte(t1.RefreshToken)
	tampered[50] = flip(tampered[50])
	for _, bad := range []string{"", "x", string(tampered), strings.Repeat("A", 80),
		"00000000-0000-0000-0000-000000000000." + t1.RefreshToken[37:]} {
		if _, err := e.svc.Refresh(ctx, bad, ""); !errors.Is(err, ErrInvalidRefreshToken) {
			t.Errorf("refresh %q: %v", bad, err)
		}
	}
}

func TestRefreshTokenReuseRevokesFamily(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createUser(t, "ana")
	t0, _ := e.svc.Login(ctx, tenant, "ana", password, "")
	other, _ := e.svc.Login(ctx, tenant, "ana", password, "") // another session, unaffected
	t1, err := e.svc.Refresh(ctx, t0.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	t2, err := e.svc.Refresh(ctx, t1.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultRefreshGrace + time.Second)
	// The thief replays the first token: the whole family dies.
	if _, err := e.svc.Refresh(ctx, t0.RefreshToken, "203.0.113.9"); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := e.svc.Refresh(ctx, t2.RefreshToken, ""); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatalf("current token of a revoked family: %v", err)
	}
	if _, err := e.svc.Refresh(ctx, other.RefreshToken, ""); err != nil {
		t.Fatalf("other session: %v", err)
	}
	evs := e.events(t, tenant)
	i := slices.IndexFunc(evs, func(ev Event) bool { return ev.Kind == EventRefreshReused })
	if i < 0 || evs[i].SessionID != t0.Identity.SessionID || evs[i].ClientIP != "203.0.113.9" {
		t.Fatalf("no reuse event: %v", kinds(evs))
	}
}

func TestRefreshGraceForConcurrentRequests(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createUser(t, "ana")
	t0, _ := e.svc.Login(ctx, tenant, "ana", password, "")
	t1, err := e.svc.Refresh(ctx, t0.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	// A second tab sends the same token a moment later: access only.
	e.clock.Advance(2 * time.Second)
	g, err := e.svc.Refresh(ctx, t0.RefreshToken, "")
	if err != nil {
		t.Fatalf("within grace: %v", err)
	}
	if g.RefreshToken != "" || g.AccessToken == "" {
		t.Fatalf("grace answer %+v", g)
	}
	if _, err := e.svc.Refresh(ctx, t1.RefreshToken, ""); err != nil {
		t.Fatalf("session hurt by grace: %v", err)
	}
	// Now t0 is two generations old: reuse.
	if _, err := e.svc.Refresh(ctx, t0.RefreshToken, ""); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatal("old token accepted")
	}
}

func TestRefreshIdleTimeout(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createUser(t, "ana")
	t0, _ := e.svc.Login(ctx, tenant, "ana", password, "")
	e.clock.Advance(DefaultIdleTimeout - time.Second)
	t1, err := e.svc.Refresh(ctx, t0.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultIdleTimeout + time.Second)
	if _, err := e.svc.Refresh(ctx, t1.RefreshToken, ""); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatalf("idle session refreshed: %v", err)
	}
}

func TestRefreshAbsoluteLimit(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createUser(t, "ana")
	tok, _ := e.svc.Login(ctx, tenant, "ana", password, "")
	var err error
	for elapsed := time.Duration(0); elapsed < DefaultSessionLimit-20*time.Minute; elapsed += 20 * time.Minute {
		e.clock.Advance(20 * time.Minute)
		if tok, err = e.svc.Refresh(ctx, tok.RefreshToken, ""); err != nil {
			t.Fatalf("at %v: %v", elapsed, err)
		}
	}
	e.clock.Advance(20 * time.Minute)
	if _, err := e.svc.Refresh(ctx, tok.RefreshToken, ""); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatalf("session beyond %v: %v", DefaultSessionLimit, err)
	}
}

func TestLogoutAndRevokeEverySession(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.createUser(t, "ana")
	a, _ := e.svc.Login(ctx, tenant, "ana", password, "")
	b, _ := e.svc.Login(ctx, tenant, "ana", password, "")
	c, _ := e.svc.Login(ctx, tenant, "ana", password, "")
	if err := e.svc.Logout(ctx, a.RefreshToken, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(ctx, a.RefreshToken, ""); err != nil {
		t.Fatalf("second logout: %v", err)
	}
	if _, err := e.svc.Refresh(ctx, a.RefreshToken, ""); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatal("logged-out session refreshed")
	}
	if err := e.svc.EndSession(ctx, b.Identity, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Refresh(ctx, b.RefreshToken, ""); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatal("ended session refreshed")
	}
	n, err := e.svc.RevokeSessions(ctx, tenant, u.ID)
	if err != nil || n != 1 {
		t.Fatalf("RevokeSessions: %d %v", n, err)
	}
	if _, err := e.svc.Refresh(ctx, c.RefreshToken, ""); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatal("revoked session refreshed")
	}
	ks := kinds(e.events(t, tenant))
	if countKind(ks, EventLogout) != 2 || countKind(ks, EventSessionsRevoked) != 1 {
		t.Fatalf("events %v", ks)
	}
}

// TestLoginMalformedInputIsAFailedLogin: text PostgreSQL cannot store in
// the username or tenant (a NUL byte, invalid UTF-8) used to reach the
// database and end in a 500 with no security event. It is a failed login
// like any other, with the same hashing work, recorded on the default
// tenant's security log.
func TestLoginMalformedInputIsAFailedLogin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *Config) { c.Limiter = allowAll{} })
	e.createUser(t, "medico", "medico")
	for _, tc := range []struct{ name, tenant, username string }{
		{"NUL in username", tenant, "med\x00ico"},
		{"NUL in tenant", "a\x00b", "medico"},
		{"invalid UTF-8 in tenant", "\xff", "medico"},
		{"invalid UTF-8 in username", "", "m\xc3edico"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := Events(ctx, e.pool, tenant, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Login(ctx, tc.tenant, tc.username, password, "10.0.0.9"); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Login = %v; want ErrInvalidCredentials", err)
			}
			after, err := Events(ctx, e.pool, tenant, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before)+1 {
				t.Fatalf("%d security events written; want 1", len(after)-len(before))
			}
			ev := after[len(after)-1]
			if ev.Kind != EventLoginFailed || ev.Detail != "malformed_input" || ev.ClientIP != "10.0.0.9" || ev.Username != "" {
				t.Fatalf("event %+v", ev)
			}
		})
	}
	if _, err := VerifyEvents(ctx, e.pool, tenant); err != nil {
		t.Fatal(err)
	}
}
