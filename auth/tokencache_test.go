package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// countingMethod counts the signature checks of a key set: every call of
// the signing method's Verify, right or wrong.
type countingMethod struct {
	jwt.SigningMethod
	n atomic.Int64
}

func (m *countingMethod) Verify(input string, sig []byte, key any) error {
	m.n.Add(1)
	return m.SigningMethod.Verify(input, sig, key)
}

// cacheEnv is a Service on a fresh database whose key set counts its
// signature checks.
type cacheEnv struct {
	*tokenEnv
	svc  *Service
	sigs *countingMethod
}

// newCacheEnv returns a service over keys of alg with Config.TokenCacheSize
// size (0: the default).
func newCacheEnv(tb testing.TB, alg Algorithm, size int) *cacheEnv {
	tb.Helper()
	te := newTokenEnv(tb, alg)
	cm := &countingMethod{SigningMethod: te.keys.method}
	te.keys.method = cm
	svc, err := NewService(newPool(tb), te.keys, Config{Issuer: testIss, Audience: testAud, Clock: te.clock,
		Hasher: newCountingHasher(cheapParams), DefaultTenant: tenant, Logger: slog.New(slog.DiscardHandler), TokenCacheSize: size})
	if err != nil {
		tb.Fatal(err)
	}
	te.iss = svc.Issuer()
	return &cacheEnv{tokenEnv: te, svc: svc, sigs: cm}
}

// checks returns the number of signature checks so far.
func (e *cacheEnv) checks() int64 { return e.sigs.n.Load() }

// mustVerify verifies tok with the service and wants wantChecks signature
// checks made in all so far.
func (e *cacheEnv) mustVerify(tb testing.TB, tok string, wantChecks int64) *Claims {
	tb.Helper()
	c, err := e.svc.Verify(tok)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	if n := e.checks(); n != wantChecks {
		tb.Fatalf("%d signature checks, want %d", n, wantChecks)
	}
	return c
}

// tamperSignature changes one byte of tok's signature.
func tamperSignature(tb testing.TB, tok string) string {
	tb.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		tb.Fatal(err)
	}
	sig[len(sig)/2] ^= 0x01
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

func TestTokenCacheSkipsOnlyTheSignature(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, HS256, ES256} {
		t.Run(string(alg), func(t *testing.T) {
			e := newCacheEnv(t, alg, 0)
			tok := e.issue(t)
			e.mustVerify(t, tok, 1)
			if n := e.svc.sigs.size(); n != 1 {
				t.Fatalf("%d cache entries, want 1", n)
			}
			for range 3 {
				c := e.mustVerify(t, tok, 1)
				if id := c.Identity(); id.UserID != testIdentity.UserID || id.SessionID != testIdentity.SessionID ||
					id.PatientID != testIdentity.PatientID || !id.ExpiresAt.Equal(e.clock.Now().Add(DefaultAccessTTL)) {
					t.Fatalf("identity from a cached token: %+v", id)
				}
			}
			// VerifyContext, the bearer and the cookie paths of the
			// middleware use the cache too.
			if _, err := e.svc.VerifyContext(context.Background(), tok); err != nil || e.checks() != 1 {
				t.Fatalf("VerifyContext: %v, %d checks", err, e.checks())
			}
			if code := authStatus(e.svc, tok); code != http.StatusOK || e.checks() != 1 {
				t.Fatalf("bearer: %d, %d checks", code, e.checks())
			}
			if code := cookieStatus(e.svc, tok); code != http.StatusOK || e.checks() != 1 {
				t.Fatalf("cookie: %d, %d checks", code, e.checks())
			}
			// Issuer.Verify never uses the cache.
			if _, err := e.iss.Verify(tok); err != nil || e.checks() != 2 {
				t.Fatalf("Issuer.Verify: %v, %d checks", err, e.checks())
			}
		})
	}
}

// cookieStatus is the middleware's answer to a request with tok in the
// access cookie.
func cookieStatus(svc *Service, tok string) int {
	r := httptest.NewRequest("GET", "/medico", nil)
	r.AddCookie(&http.Cookie{Name: DefaultAccessCookie, Value: tok})
	w := httptest.NewRecorder()
	svc.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, r)
	return w.Code
}

func TestTokenCacheDisabled(t *testing.T) {
	e := newCacheEnv(t, EdDSA, -1)
	if e.svc.sigs != nil {
		t.Fatal("negative TokenCacheSize made a cache")
	}
	tok := e.issue(t)
	e.mustVerify(t, tok, 1)
	e.mustVerify(t, tok, 2)
	if code := authStatus(e.svc, tok); code != http.StatusOK || e.checks() != 3 {
		t.Fatalf("bearer: %d, %d checks", code, e.checks())
	}
}

// A cached token stands for its exact bytes only: the same claims with a
// changed signature, and the genuine signature on changed claims, are
// checked and refused.
func TestTokenCacheRefusesTamperedTokens(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, HS256, ES256} {
		t.Run(string(alg), func(t *testing.T) {
			e := newCacheEnv(t, alg, 0)
			tok := e.issue(t)
			e.mustVerify(t, tok, 1)

			bad := tamperSignature(t, tok)
			if _, err := e.svc.Verify(bad); !errors.Is(err, errSignature) {
				t.Fatalf("tampered signature after the genuine token was cached: %v", err)
			}
			if code := authStatus(e.svc, bad); code != http.StatusUnauthorized {
				t.Fatalf("tampered signature: middleware answered %d", code)
			}
			// Claims of an admin under the genuine token's signature.
			parts := strings.Split(tok, ".")
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			forged := strings.Replace(string(payload), `"roles":["paciente"]`, `"roles":["admin"]`, 1)
			if forged == string(payload) {
				t.Fatalf("payload without the expected roles: %s", payload)
			}
			forgedTok := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
			if _, err := e.svc.Verify(forgedTok); !errors.Is(err, errSignature) {
				t.Fatalf("forged claims with a cached token's signature: %v", err)
			}
			if n := e.checks(); n != 1+3 {
				t.Fatalf("%d signature checks, want 4 (genuine, tampered twice, forged)", n)
			}
			if n := e.svc.sigs.size(); n != 1 {
				t.Fatalf("%d cache entries, want only the genuine token", n)
			}
			e.mustVerify(t, tok, 4)
		})
	}
}

func TestTokenCacheRefusesExpiredToken(t *testing.T) {
	e := newCacheEnv(t, EdDSA, 0)
	tok := e.issue(t)
	e.mustVerify(t, tok, 1)
	// Accepted from the cache until its exp (with leeway) ...
	e.clock.Advance(DefaultAccessTTL + DefaultLeeway - time.Second)
	e.mustVerify(t, tok, 1)
	// ... refused from then on, and dropped.
	e.clock.Advance(time.Second)
	if _, err := e.svc.Verify(tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired cached token: %v", err)
	}
	if code := authStatus(e.svc, tok); code != http.StatusUnauthorized {
		t.Fatalf("expired cached token: middleware answered %d", code)
	}
	if n := e.svc.sigs.size(); n != 0 {
		t.Fatalf("%d cache entries after expiry, want 0", n)
	}
	// Dropped, so the middleware's attempt checked the signature again
	// (and refused the token for its exp).
	if n := e.checks(); n != 2 {
		t.Fatalf("%d signature checks, want 2", n)
	}

	// A token never presented after its expiry is swept by a later
	// insertion.
	old := e.issue(t)
	e.mustVerify(t, old, 3)
	e.clock.Advance(DefaultAccessTTL + DefaultLeeway + tokenCacheSweep*time.Second)
	e.mustVerify(t, e.issue(t), 4)
	if n := e.svc.sigs.size(); n != 1 {
		t.Fatalf("%d cache entries, want 1: the expired token was kept", n)
	}
}

// A cached token of a session that ends is refused at once: logout here,
// through the database as in production.
func TestTokenCacheRefusesRevokedSession(t *testing.T) {
	ctx := context.Background()
	e := newCacheEnv(t, EdDSA, 0)
	if _, err := e.svc.Users().CreateUser(ctx, NewUser{Tenant: tenant, Username: "ana", Password: password, Roles: []string{"medico"}}); err != nil {
		t.Fatal(err)
	}
	tok, err := e.svc.Login(ctx, tenant, "ana", password, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	e.mustVerify(t, tok.AccessToken, 1)
	e.mustVerify(t, tok.AccessToken, 1)
	if err := e.svc.Logout(ctx, tok.RefreshToken, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(tok.AccessToken); !errors.Is(err, ErrSessionRevoked) {
		t.Fatalf("cached token of an ended session: %v", err)
	}
	if code := authStatus(e.svc, tok.AccessToken); code != http.StatusUnauthorized {
		t.Fatalf("cached token of an ended session: middleware answered %d", code)
	}
	if n := e.checks(); n != 1 {
		t.Fatalf("%d signature checks, want 1: the refusal should come from the cached path", n)
	}
}

// An entry counts only while the key that verified it is the one the
// token's header names in the current key set.
func TestTokenCacheFollowsKeySet(t *testing.T) {
	e := newCacheEnv(t, EdDSA, 0)
	old := e.key
	tok := e.issue(t)
	e.mustVerify(t, tok, 1)

	// Rotation keeps the old key verifying: still a hit.
	if _, err := e.keys.Rotate(); err != nil {
		t.Fatal(err)
	}
	e.mustVerify(t, tok, 1)

	// Removed: refused, cache or not.
	if !e.keys.Remove(old.ID()) {
		t.Fatal("old key not in the set")
	}
	if _, err := e.svc.Verify(tok); !errors.Is(err, errHeader) {
		t.Fatalf("cached token of a removed key: %v", err)
	}
	if code := authStatus(e.svc, tok); code != http.StatusUnauthorized {
		t.Fatalf("cached token of a removed key: middleware answered %d", code)
	}

	// The same kid back as another Key object: the entry is not trusted,
	// the signature is checked again (and then cached for the new key).
	if err := e.keys.Add(old.Public()); err != nil {
		t.Fatal(err)
	}
	e.mustVerify(t, tok, 2)
	e.mustVerify(t, tok, 2)
}

func TestTokenCacheBound(t *testing.T) {
	const size = 8
	e := newCacheEnv(t, EdDSA, size)
	var last string
	for i := range 5 * size {
		last = e.issue(t)
		e.mustVerify(t, last, int64(i+1))
		if n := e.svc.sigs.size(); n > size || n == 0 {
			t.Fatalf("after %d tokens: %d cache entries, bound %d", i+1, n, size)
		}
	}
	e.mustVerify(t, last, 5*size) // the newest entry survived its eviction round
}

func TestTokenCacheConcurrent(t *testing.T) {
	const size, tokens, workers, rounds = 16, 40, 4, 100
	e := newCacheEnv(t, EdDSA, size)
	toks := make([]string, tokens)
	for i := range toks {
		toks[i] = e.issue(t)
	}
	bad := tamperSignature(t, toks[0])
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				tok := toks[(w*7+r)%tokens]
				if _, err := e.svc.Verify(tok); err != nil {
					errs <- err
					return
				}
				if _, err := e.svc.Verify(bad); !errors.Is(err, errSignature) {
					errs <- errors.New("tampered token accepted or refused for another reason")
					return
				}
				if n := e.svc.sigs.size(); n > size {
					errs <- errors.New("cache over its bound")
					return
				}
				if r%10 == 0 {
					e.clock.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCachedVerifyAllocationBudget holds a cache hit (EdDSA) to today's
// allocation count (Go 1.26): the 6 of an uncached Verify
// (TestVerifyAllocationBudget) less the signature's buffer and the copy
// of the signing input golang-jwt's Verify makes.
func TestCachedVerifyAllocationBudget(t *testing.T) {
	const budget = 4
	e := newCacheEnv(t, EdDSA, 0)
	tok := e.issue(t)
	e.mustVerify(t, tok, 1)
	var err error
	n := testing.AllocsPerRun(200, func() {
		if _, verr := e.svc.Verify(tok); verr != nil {
			err = verr
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.checks() != 1 {
		t.Fatalf("%d signature checks, want 1", e.checks())
	}
	if n > budget {
		t.Errorf("cached Verify makes %.0f allocations, budget %d", n, budget)
	}
	t.Logf("cached Verify (eddsa): %.0f allocations (budget %d)", n, budget)
}
