package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/go-webauthn/webauthn/webauthn"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Defaults of Config.
const (
	DefaultSessionLimit = 12 * time.Hour
	DefaultIdleTimeout  = 30 * time.Minute
	DefaultMaxFailures  = 5
	DefaultLockBase     = time.Minute
	DefaultLockMax      = time.Hour
	DefaultRefreshGrace = 10 * time.Second
)

// Config configures a Service. Zero fields take the defaults named.
type Config struct {
	// Issuer and Audience are the iss and aud of access tokens. Required.
	Issuer   string
	Audience string
	// AccessTTL is the life of access tokens (DefaultAccessTTL).
	AccessTTL time.Duration
	// Leeway is the clock skew tolerated when verifying (DefaultLeeway).
	Leeway time.Duration
	// TokenCacheSize bounds the cache of access tokens whose signature
	// verified, which lets Middleware, Authenticate, Verify and
	// VerifyContext skip the signature check (only that) when the same
	// token comes again; see "Verified-token cache" in the package
	// documentation. Zero means DefaultTokenCacheSize entries; negative
	// disables the cache.
	TokenCacheSize int
	// SessionLimit is the absolute life of a session (DefaultSessionLimit).
	SessionLimit time.Duration
	// IdleTimeout ends a session not refreshed for that long
	// (DefaultIdleTimeout).
	IdleTimeout time.Duration
	// RefreshGrace: a refresh token presented again within this time of
	// its rotation, while its successor is still unused, is taken for a
	// browser's concurrent request: it gets a new access token but no new
	// refresh token, and the session is not revoked. Any other reuse
	// revokes the session. DefaultRefreshGrace; negative disables.
	RefreshGrace time.Duration
	// MaxFailures failed logins in a row lock the account
	// (DefaultMaxFailures).
	MaxFailures int
	// LockBase is the first lock-out; each further failure doubles it, up
	// to LockMax (DefaultLockBase, DefaultLockMax).
	LockBase time.Duration
	// LockMax caps the lock-out (DefaultLockMax).
	LockMax time.Duration
	// Limiter limits login attempts per client address; default
	// NewRateLimiter(DefaultRateBurst, DefaultRatePeriod, Clock).
	Limiter Limiter
	// DefaultTenant is used when a login names no tenant.
	DefaultTenant string
	// Hasher defaults to NewArgon2id(DefaultParams).
	Hasher Hasher
	// Clock defaults to the system clock.
	Clock Clock
	// Logger defaults to slog.Default(). Nothing logged holds a password,
	// a token or a username.
	Logger *slog.Logger
	// Cookies configures the session cookies (see CookieConfig).
	Cookies CookieConfig
	// ClientIP returns the client address of a request, for rate limiting
	// and events; default the host of r.RemoteAddr. Behind a proxy, supply
	// one that trusts only the proxy's header.
	ClientIP func(r *http.Request) string
	// OnUnauthorized, when set, answers requests the middleware refuses
	// (e.g. a redirect to /login for browsers) instead of the RFC 6750 401.
	OnUnauthorized func(w http.ResponseWriter, r *http.Request, err error)
	// SprayThreshold distinct usernames failing to log in within
	// SprayWindow in one tenant raise a login.spraying event, once per
	// window (DefaultSprayThreshold, DefaultSprayWindow).
	SprayThreshold int
	// SprayWindow is the window of SprayThreshold (DefaultSprayWindow).
	SprayWindow time.Duration
	// OnSpraying, when set, is called (after the commit) each time this
	// replica raises a login.spraying event, with the tenant and the
	// number of distinct usernames that failed within the window: a hook
	// for an alert or a metric (see also Service.SprayingAlerts).
	OnSpraying func(tenant string, usernames int)
	// MFAPolicy says which roles must use a second factor, in every
	// tenant without an entry in TenantMFAPolicies.
	MFAPolicy MFAPolicy
	// TenantMFAPolicies overrides MFAPolicy per tenant.
	TenantMFAPolicies map[string]MFAPolicy
	// MFAIssuer is the issuer shown by authenticator apps (the otpauth
	// URI's); default Issuer.
	MFAIssuer string
	// MFATokenTTL is the life of an mfa_token (DefaultMFATokenTTL).
	MFATokenTTL time.Duration
	// WebAuthn is the relying party of passkeys; passkeys are off while
	// its RPID is empty.
	WebAuthn WebAuthnConfig
	// RevocationMaxStale: while the revocation listener has been
	// disconnected for longer than this, every request's session is
	// checked in the database (DefaultRevocationMaxStale).
	RevocationMaxStale time.Duration
	// OnLogin, when set, is called by TokenHandler after a successful grant
	// instead of writing the JSON answer; it may set cookies
	// (SetSessionCookies) and redirect.
	OnLogin func(w http.ResponseWriter, r *http.Request, t Tokens)
}

// Service authenticates users: login, refresh, logout, and the HTTP
// middleware and handlers around them. It is safe for concurrent use.
type Service struct {
	db     DB
	cfg    Config
	store  *Store
	issuer *Issuer
	hasher Hasher
	clock  Clock
	log    *slog.Logger
	dummy  string // hash checked for unknown users, so they cost the same
	rev    revocations
	// sigs caches the tokens whose signature verified; nil when disabled.
	sigs *sigCache
	// webauthn is the passkeys' relying party, nil when they are off.
	webauthn *webauthn.WebAuthn
	sprays   atomic.Uint64 // login.spraying alerts raised by this replica
}

// NewService returns a service over db (migrated by Migrate) signing with
// keys.
func NewService(db DB, keys *KeySet, cfg Config) (*Service, error) {
	c := cfg
	c.Clock = clockOr(c.Clock)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Hasher == nil {
		c.Hasher = NewArgon2id(DefaultParams)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.SessionLimit, DefaultSessionLimit)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.RefreshGrace, DefaultRefreshGrace)
	def(&c.LockBase, DefaultLockBase)
	def(&c.LockMax, DefaultLockMax)
	def(&c.RevocationMaxStale, DefaultRevocationMaxStale)
	def(&c.SprayWindow, DefaultSprayWindow)
	def(&c.MFATokenTTL, DefaultMFATokenTTL)
	if c.MFAIssuer == "" {
		c.MFAIssuer = c.Issuer
	}
	if c.TokenCacheSize == 0 {
		c.TokenCacheSize = DefaultTokenCacheSize
	}
	if c.SprayThreshold <= 0 {
		c.SprayThreshold = DefaultSprayThreshold
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.Limiter == nil {
		c.Limiter = NewRateLimiter(DefaultRateBurst, DefaultRatePeriod, c.Clock)
	}
	if c.ClientIP == nil {
		c.ClientIP = remoteHost
	}
	iss, err := NewIssuer(keys, IssuerConfig{Issuer: c.Issuer, Audience: c.Audience, TTL: c.AccessTTL, Leeway: c.Leeway, Clock: c.Clock})
	if err != nil {
		return nil, err
	}
	c.AccessTTL = iss.TTL()
	c.Cookies = c.Cookies.withDefaults()
	var pw [24]byte
	_, _ = rand.Read(pw[:])
	dummy, err := c.Hasher.Hash(base64.RawURLEncoding.EncodeToString(pw[:]))
	if err != nil {
		return nil, err
	}
	wa, err := newWebAuthn(c.WebAuthn, c.MFAIssuer)
	if err != nil {
		return nil, err
	}
	s := &Service{db: db, cfg: c, issuer: iss, hasher: c.Hasher, clock: c.Clock, log: c.Logger, dummy: dummy, webauthn: wa,
		sigs: newSigCache(c.TokenCacheSize), store: NewStore(db, StoreConfig{Hasher: c.Hasher, Clock: c.Clock, Logger: c.Logger})}
	s.store.onRevoked = s.revoked
	return s, nil
}

// Users returns the user store sharing the service's hasher, clock and
// logger.
func (s *Service) Users() *Store { return s.store }

// Issuer returns the access-token issuer.
func (s *Service) Issuer() *Issuer { return s.issuer }

// Verify checks an access token (see Issuer.Verify) and its session
// (CheckSession): VerifyContext with context.Background().
func (s *Service) Verify(token string) (*Claims, error) {
	return s.VerifyContext(context.Background(), token)
}

// Tokens is the result of a login or refresh. Its JSON form is the OAuth 2
// token response.
type Tokens struct {
	AccessToken string `json:"access_token"`
	// TokenType is always "bearer".
	TokenType string `json:"token_type"`
	// ExpiresIn is the access token's life in seconds.
	ExpiresIn int `json:"expires_in"`
	// RefreshToken is empty when a refresh inside the grace period gave
	// only a new access token.
	RefreshToken string `json:"refresh_token,omitempty"`
	// AccessExpiresAt is when the access token expires.
	AccessExpiresAt time.Time `json:"-"`
	// SessionExpiresAt is the session's absolute limit.
	SessionExpiresAt time.Time `json:"-"`
	// Identity is the principal the tokens stand for.
	Identity Identity `json:"-"`
	// RecoveryCodes are set once, by the login that confirmed a TOTP
	// enrolment: show them to the user, they are not kept in clear.
	RecoveryCodes []string `json:"recovery_codes,omitempty"`
}

// loginRow is what login reads of a user.
type loginRow struct {
	User
	hash string
}

func (s *Service) lockFor(failures int) time.Duration {
	n := failures - s.cfg.MaxFailures
	d := s.cfg.LockBase
	for i := 0; i < n && d < s.cfg.LockMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.LockMax)
}

// storableText reports whether s is text PostgreSQL can store: valid
// UTF-8 without NUL bytes.
func storableText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// Login checks a username and password in tenant (empty: the configured
// default tenant) and opens a session. Whatever fails — unknown user,
// wrong password, disabled or locked account — it returns
// ErrInvalidCredentials, after the same password-hashing work; a client
// over its rate limit gets ErrRateLimited and no hashing is done. The
// outcome is recorded as a security event. A username or tenant that is
// no storable text (a NUL byte, invalid UTF-8) fails the same way, and its
// event (detail "malformed_input") goes to the default tenant's log.
func (s *Service) Login(ctx context.Context, tenant, username, password, clientIP string) (Tokens, error) {
	if tenant == "" {
		tenant = s.cfg.DefaultTenant
	}
	if !s.cfg.Limiter.Allow(ClientKey(clientIP)) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth: login rate limited", slog.String("client_ip", clientIP))
		return Tokens{}, ErrRateLimited
	}
	// Text PostgreSQL cannot store (a NUL byte, invalid UTF-8) is a
	// failed login like any other, recorded as a security event on the
	// default tenant's log, never a database error. (Checked before
	// normalizing, which would replace invalid UTF-8.)
	malformed := !storableText(username) || !storableText(tenant)
	username = NormalizeUsername(username)
	if malformed {
		username, tenant = "", s.cfg.DefaultTenant
	}
	if len(username) > maxUsernameLen || len(tenant) > maxTenantLen {
		username, tenant = "", "" // never matches; still hashed below
	}

	var row loginRow
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE tenant_id = $1 AND username = $2`,
		tenant, username), &row.hash)
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Tokens{}, fmt.Errorf("auth: login: %w", err)
	}
	row.User = u

	// Exactly one password verification per attempt, known user or not.
	hash := s.dummy
	if found {
		hash = row.hash
	}
	ok, rehash, herr := s.hasher.Verify(password, hash)
	if herr != nil {
		ok = false
	}
	ok = ok && found

	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: login: %w", err)
	}
	defer tx.Rollback(ctx)

	fail := func(detail string, user *User) (Tokens, error) {
		ev := Event{Tenant: tenant, Time: now, Kind: EventLoginFailed, Username: username, ClientIP: clientIP, Detail: detail}
		if user != nil {
			ev.UserID = user.ID
		}
		if ev.Tenant == "" {
			ev.Tenant = "-"
		}
		if err := appendEvent(ctx, tx, &ev); err != nil {
			return Tokens{}, err
		}
		spray, err := s.detectSpraying(ctx, tx, ev.Tenant, now, clientIP)
		if err != nil {
			return Tokens{}, err
		}
		if err := tx.Commit(ctx); err != nil {
			return Tokens{}, fmt.Errorf("auth: login: %w", err)
		}
		if spray > 0 {
			s.raisedSpraying(ctx, ev.Tenant, spray)
		}
		attrs := []slog.Attr{slog.String("tenant", tenant), slog.String("client_ip", clientIP), slog.String("reason", detail)}
		if user != nil {
			attrs = append(attrs, slog.String("user_id", user.ID))
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "auth: login failed", attrs...)
		return Tokens{}, ErrInvalidCredentials
	}
	if malformed {
		return fail("malformed_input", nil)
	}
	if !found {
		return fail("unknown_user", nil)
	}
	// Re-read under a row lock: the decision uses the current state.
	var curHash string
	cur, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE id = $1 FOR UPDATE`, row.ID), &curHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return fail("unknown_user", nil)
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: login: %w", err)
	}
	switch {
	case cur.Status != StatusActive:
		return fail("disabled", &cur)
	case now.Before(cur.LockedUntil):
		return fail("locked", &cur)
	case !ok || curHash != row.hash:
		if err := s.recordFailure(ctx, tx, cur, tenant, clientIP, now); err != nil {
			return Tokens{}, err
		}
		return fail("bad_password", &cur)
	}

	// The password is right.
	newHash := ""
	if rehash {
		if h, err := s.hasher.Hash(password); err == nil {
			newHash = h
		}
	}
	// A second factor is due when the user has one, or must have one.
	totp, err := totpConfirmed(ctx, tx, cur.ID)
	if err != nil {
		return Tokens{}, err
	}
	passkey := false
	if s.webauthn != nil {
		if passkey, err = hasPasskey(ctx, tx, cur.ID); err != nil {
			return Tokens{}, err
		}
	}
	if totp || passkey || s.MFARequired(tenant, cur.Roles) {
		return s.challengeMFA(ctx, tx, cur, newHash, totp, passkey, clientIP, now)
	}
	return s.openSession(ctx, tx, cur, newHash, "", clientIP, now)
}

// recordFailure counts a failed proof (password or second factor) on the
// locked user row cur, locking the account with back-off from
// Config.MaxFailures on.
func (s *Service) recordFailure(ctx context.Context, tx pgx.Tx, cur User, tenant, clientIP string, now time.Time) error {
	failures := cur.FailedAttempts + 1
	var locked *time.Time
	if failures >= s.cfg.MaxFailures {
		t := now.Add(s.lockFor(failures))
		locked = &t
		if err := appendEvent(ctx, tx, &Event{Tenant: tenant, Time: now, Kind: EventAccountLocked, UserID: cur.ID,
			Username: cur.Username, ClientIP: clientIP, Detail: fmt.Sprintf("failures=%d until=%s", failures, t.Format(time.RFC3339))}); err != nil {
			return err
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth: account locked", slog.String("tenant", tenant),
			slog.String("user_id", cur.ID), slog.Int("failures", failures), slog.Time("until", t))
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET failed_attempts = $2, locked_until = coalesce($3, locked_until) WHERE id = $1`,
		cur.ID, failures, locked); err != nil {
		return fmt.Errorf("auth: login: %w", err)
	}
	return nil
}

// openSession completes a login inside tx (cur's row locked): it resets
// the failure count, stores newHash when not empty, opens a session whose
// auth_time is now, records login.succeeded (with detail) and commits.
func (s *Service) openSession(ctx context.Context, tx pgx.Tx, cur User, newHash, detail, clientIP string, now time.Time) (Tokens, error) {
	tenant := cur.Tenant
	if _, err := tx.Exec(ctx, `UPDATE users SET failed_attempts = 0, locked_until = NULL, last_login_at = $2,
		password_hash = CASE WHEN $3 = '' THEN password_hash ELSE $3 END WHERE id = $1`, cur.ID, now, newHash); err != nil {
		return Tokens{}, fmt.Errorf("auth: login: %w", err)
	}
	sid, err := uuid.NewV7()
	if err != nil {
		return Tokens{}, err
	}
	refresh, tokHash, err := newRefreshToken(sid)
	if err != nil {
		return Tokens{}, err
	}
	expires := now.Add(s.cfg.SessionLimit)
	if _, err := tx.Exec(ctx, `INSERT INTO auth_sessions (id, tenant_id, user_id, created_at, expires_at, last_used_at, auth_time)
		VALUES ($1, $2, $3, $4, $5, $4, $4)`, sid, tenant, cur.ID, now, expires); err != nil {
		return Tokens{}, fmt.Errorf("auth: login: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (session_id, token_hash, generation, created_at) VALUES ($1, $2, 0, $3)`,
		sid, tokHash, now); err != nil {
		return Tokens{}, fmt.Errorf("auth: login: %w", err)
	}
	if newHash != "" {
		detail = strings.TrimSpace(detail + " rehashed")
	}
	if err := appendEvent(ctx, tx, &Event{Tenant: tenant, Time: now, Kind: EventLoginSucceeded, UserID: cur.ID,
		Username: cur.Username, SessionID: sid.String(), ClientIP: clientIP, Detail: detail}); err != nil {
		return Tokens{}, err
	}
	id := Identity{UserID: cur.ID, Tenant: tenant, Roles: cur.Roles, PatientID: cur.PatientID, SessionID: sid.String(), AuthTime: now}
	t, err := s.tokens(id, refresh, expires)
	if err != nil {
		return Tokens{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Tokens{}, fmt.Errorf("auth: login: %w", err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "auth: login", slog.String("tenant", tenant), slog.String("user_id", cur.ID),
		slog.String("session_id", sid.String()), slog.String("client_ip", clientIP))
	return t, nil
}

func (s *Service) tokens(id Identity, refresh string, sessionExpires time.Time) (Tokens, error) {
	at, c, err := s.issuer.Issue(id)
	if err != nil {
		return Tokens{}, err
	}
	id.TokenID, id.ExpiresAt = c.ID, c.ExpiresAt.Time
	if c.AuthTime != nil {
		id.AuthTime = c.AuthTime.Time
	}
	return Tokens{AccessToken: at, TokenType: "bearer", ExpiresIn: int(s.cfg.AccessTTL / time.Second), RefreshToken: refresh,
		AccessExpiresAt: c.ExpiresAt.Time, SessionExpiresAt: sessionExpires, Identity: id}, nil
}

// A refresh token is "<session uuid>.<base64url of 32 random bytes>"; the
// session id routes the lookup (one shard on Citus), the secret is stored
// only as its SHA-256.
func newRefreshToken(sid uuid.UUID) (token string, hash []byte, err error) {
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", nil, err
	}
	h := sha256.Sum256(secret[:])
	return sid.String() + "." + base64.RawURLEncoding.EncodeToString(secret[:]), h[:], nil
}

func parseRefreshToken(tok string) (uuid.UUID, []byte, bool) {
	if len(tok) != 36+1+43 {
		return uuid.UUID{}, nil, false
	}
	sidText, secretText, ok := strings.Cut(tok, ".")
	if !ok {
		return uuid.UUID{}, nil, false
	}
	sid, err := uuid.Parse(sidText)
	if err != nil {
		return uuid.UUID{}, nil, false
	}
	secret, err := base64.RawURLEncoding.Strict().DecodeString(secretText)
	if err != nil || len(secret) != 32 {
		return uuid.UUID{}, nil, false
	}
	h := sha256.Sum256(secret)
	return sid, h[:], true
}

type sessionRow struct {
	tenant, userID    string
	expires, lastUsed time.Time
	authTime          time.Time
	generation        int
	revoked           bool
	tokGeneration     int
	tokUsed           *time.Time
}

// lockSession locks the session and finds the token in it.
func lockSession(ctx context.Context, tx pgx.Tx, sid uuid.UUID, hash []byte) (sessionRow, error) {
	var r sessionRow
	var revokedAt *time.Time
	err := tx.QueryRow(ctx, `SELECT tenant_id, user_id::text, expires_at, last_used_at, coalesce(auth_time, created_at), generation, revoked_at
		FROM auth_sessions WHERE id = $1 FOR UPDATE`, sid).Scan(&r.tenant, &r.userID, &r.expires, &r.lastUsed, &r.authTime, &r.generation, &revokedAt)
	if err == nil {
		r.revoked = revokedAt != nil
		err = tx.QueryRow(ctx, `SELECT generation, used_at FROM refresh_tokens WHERE session_id = $1 AND token_hash = $2`,
			sid, hash).Scan(&r.tokGeneration, &r.tokUsed)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrInvalidRefreshToken
	}
	if err != nil {
		return r, fmt.Errorf("auth: refresh: %w", err)
	}
	return r, nil
}

// revokeSession ends session sid inside tx and announces it on
// RevocationChannel (delivered at commit).
func revokeSession(ctx context.Context, tx pgx.Tx, sid uuid.UUID, now time.Time, reason string) error {
	rows, err := tx.Query(ctx, `WITH r AS (UPDATE auth_sessions SET revoked_at = $2, revoked_reason = $3
		WHERE id = $1 AND revoked_at IS NULL RETURNING id)`+notifyRevoked, sid, now, reason)
	if err == nil {
		_, err = collectIDs(rows)
	}
	if err != nil {
		return fmt.Errorf("auth: revoke session: %w", err)
	}
	return nil
}

// Refresh exchanges a refresh token for a new access token and a new
// refresh token (rotation); the old one is spent. Presenting a spent token
// again revokes the whole session (its token family) and records a
// refresh.reused event — except within Config.RefreshGrace of its rotation,
// see there. Past the session's absolute limit or idle time-out, or for a
// disabled user, the session ends. Every failure is ErrInvalidRefreshToken.
func (s *Service) Refresh(ctx context.Context, refreshToken, clientIP string) (Tokens, error) {
	sid, hash, ok := parseRefreshToken(refreshToken)
	if !ok {
		return Tokens{}, ErrInvalidRefreshToken
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: refresh: %w", err)
	}
	defer tx.Rollback(ctx)
	r, err := lockSession(ctx, tx, sid, hash)
	if err != nil {
		return Tokens{}, err
	}
	end := func(reason string) (Tokens, error) {
		if err := revokeSession(ctx, tx, sid, now, reason); err != nil {
			return Tokens{}, err
		}
		if err := tx.Commit(ctx); err != nil {
			return Tokens{}, fmt.Errorf("auth: refresh: %w", err)
		}
		s.revoked([]string{sid.String()})
		s.log.LogAttrs(ctx, slog.LevelInfo, "auth: session ended", slog.String("tenant", r.tenant), slog.String("user_id", r.userID),
			slog.String("session_id", sid.String()), slog.String("reason", reason))
		return Tokens{}, ErrInvalidRefreshToken
	}
	if r.revoked {
		return Tokens{}, ErrInvalidRefreshToken
	}
	graceOnly := false
	if r.tokUsed != nil {
		if s.cfg.RefreshGrace > 0 && r.tokGeneration == r.generation-1 && now.Sub(*r.tokUsed) <= s.cfg.RefreshGrace {
			graceOnly = true
		} else {
			if err := appendEvent(ctx, tx, &Event{Tenant: r.tenant, Time: now, Kind: EventRefreshReused, UserID: r.userID,
				SessionID: sid.String(), ClientIP: clientIP, Detail: fmt.Sprintf("generation=%d current=%d", r.tokGeneration, r.generation)}); err != nil {
				return Tokens{}, err
			}
			s.log.LogAttrs(ctx, slog.LevelWarn, "auth: refresh token reused; session revoked", slog.String("tenant", r.tenant),
				slog.String("user_id", r.userID), slog.String("session_id", sid.String()), slog.String("client_ip", clientIP))
			return end("reuse")
		}
	}
	if !now.Before(r.expires) {
		return end("expired")
	}
	if now.Sub(r.lastUsed) > s.cfg.IdleTimeout {
		return end("idle")
	}
	var (
		roles          []string
		patient, state string
	)
	if err := tx.QueryRow(ctx, `SELECT roles, coalesce(patient_id, ''), status FROM users WHERE id = $1`, r.userID).
		Scan(&roles, &patient, &state); err != nil {
		return Tokens{}, fmt.Errorf("auth: refresh: %w", err)
	}
	if UserStatus(state) != StatusActive {
		return end("disabled")
	}
	id := Identity{UserID: r.userID, Tenant: r.tenant, Roles: roles, PatientID: patient, SessionID: sid.String(), AuthTime: r.authTime}
	newTok := ""
	if !graceOnly {
		var newHash []byte
		if newTok, newHash, err = newRefreshToken(sid); err != nil {
			return Tokens{}, err
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $3 WHERE session_id = $1 AND token_hash = $2`, sid, hash, now); err != nil {
			return Tokens{}, fmt.Errorf("auth: refresh: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (session_id, token_hash, generation, created_at) VALUES ($1, $2, $3, $4)`,
			sid, newHash, r.generation+1, now); err != nil {
			return Tokens{}, fmt.Errorf("auth: refresh: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE auth_sessions SET generation = $2, last_used_at = $3 WHERE id = $1`, sid, r.generation+1, now); err != nil {
			return Tokens{}, fmt.Errorf("auth: refresh: %w", err)
		}
	}
	t, err := s.tokens(id, newTok, r.expires)
	if err != nil {
		return Tokens{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Tokens{}, fmt.Errorf("auth: refresh: %w", err)
	}
	return t, nil
}

// Logout ends the session the refresh token belongs to (any token of the
// session, spent or not, will do) and records a logout event. Logging out
// of an ended session is not an error; a token matching no session is
// ErrInvalidRefreshToken. The session's access tokens are refused from
// the next request on (CheckSession), on every replica that runs the
// revocation listener.
func (s *Service) Logout(ctx context.Context, refreshToken, clientIP string) error {
	sid, hash, ok := parseRefreshToken(refreshToken)
	if !ok {
		return ErrInvalidRefreshToken
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("auth: logout: %w", err)
	}
	defer tx.Rollback(ctx)
	r, err := lockSession(ctx, tx, sid, hash)
	if err != nil {
		return err
	}
	if r.revoked {
		return nil
	}
	return s.endSession(ctx, tx, sid, r.tenant, r.userID, clientIP)
}

func (s *Service) endSession(ctx context.Context, tx pgx.Tx, sid uuid.UUID, tenant, userID, clientIP string) error {
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	if err := revokeSession(ctx, tx, sid, now, "logout"); err != nil {
		return err
	}
	if err := appendEvent(ctx, tx, &Event{Tenant: tenant, Time: now, Kind: EventLogout, UserID: userID,
		SessionID: sid.String(), ClientIP: clientIP}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("auth: logout: %w", err)
	}
	s.revoked([]string{sid.String()})
	s.log.LogAttrs(ctx, slog.LevelInfo, "auth: logout", slog.String("tenant", tenant), slog.String("user_id", userID),
		slog.String("session_id", sid.String()))
	return nil
}

// EndSession ends the session of an authenticated identity (for a client
// that holds only its access token). An unknown or ended session is not an
// error.
func (s *Service) EndSession(ctx context.Context, id Identity, clientIP string) error {
	sid, err := uuid.Parse(id.SessionID)
	if err != nil {
		return nil
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("auth: logout: %w", err)
	}
	defer tx.Rollback(ctx)
	var revoked *time.Time
	err = tx.QueryRow(ctx, `SELECT revoked_at FROM auth_sessions WHERE id = $1 AND tenant_id = $2 AND user_id::text = $3 FOR UPDATE`,
		sid, id.Tenant, id.UserID).Scan(&revoked)
	if errors.Is(err, pgx.ErrNoRows) || revoked != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("auth: logout: %w", err)
	}
	return s.endSession(ctx, tx, sid, id.Tenant, id.UserID, clientIP)
}

// RevokeSessions ends every session of a user ("log out everywhere") and
// records a sessions.revoked event. It returns how many sessions ended, or
// ErrNotFound for an unknown user.
func (s *Service) RevokeSessions(ctx context.Context, tenant, userID string) (int64, error) {
	var n int64
	err := s.store.updateRevoking(ctx, "revoke sessions", tenant, userID, Event{Kind: EventSessionsRevoked},
		func(tx pgx.Tx, u User, _ string, now time.Time) ([]string, error) {
			sids, err := revokeUserSessions(ctx, tx, u.ID, now, "revoked")
			n = int64(len(sids))
			return sids, err
		})
	return n, err
}
