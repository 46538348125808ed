// Package auth authenticates the users of Historia: argon2id passwords, a
// PostgreSQL user store, login with lock-out and rate limiting, JWT access
// tokens, rotating refresh tokens, a hash-chained security log, and the
// HTTP middleware and handlers around them. It imports nothing else of
// Historia; roles travel as strings.
//
// A server wires it up once:
//
//	conn, _ := pgx.Connect(ctx, url)          // its own connection
//	_ = auth.Migrate(ctx, conn)               // idempotent
//	conn.Close(ctx)
//
//	keys, _ := auth.LoadKeySet(auth.EdDSA, "/run/secrets/jwt-old.pem", "/run/secrets/jwt.pem")
//	svc, _ := auth.NewService(pool, keys, auth.Config{
//		Issuer:        "https://historia.example",
//		Audience:      "historia",
//		DefaultTenant: "hospital-central",
//		Logger:        logger,
//	})
//
//	// Revocation takes effect at once on every replica: LISTEN on its own
//	// connection (not from the pool); stop it with svc.Close().
//	err := svc.StartRevocationListener(ctx, func(ctx context.Context) (*pgx.Conn, error) {
//		return pgx.Connect(ctx, url)
//	})
//	defer svc.Close()
//
//	mux.Handle("POST /auth", svc.TokenHandler())      // OAuth2 password, refresh_token and mfa-otp grants
//	mux.Handle("POST /auth/mfa/associate", svc.MFAAssociateHandler())
//	mux.Handle("POST /logout", svc.LogoutHandler())
//	mux.Handle("GET /.well-known/jwks.json", svc.JWKSHandler())
//	mux.Handle("/api/v1/", svc.Middleware(api))      // Bearer token or session cookies
//
// and handlers read the principal with FromContext:
//
//	id, ok := auth.FromContext(r.Context())
//
// A browser login page may call Login itself, then SetSessionCookies and
// redirect to the role's page:
//
//	t, err := svc.Login(ctx, tenant, username, password, svc.ClientIP(r))
//	if errors.Is(err, auth.ErrInvalidCredentials) { /* one message for all failures */ }
//	svc.SetSessionCookies(w, t)
//	http.Redirect(w, r, "/medico", http.StatusSeeOther)
//
// The admin page uses svc.Users(): CreateUser, User, UserByUsername,
// ListUsers, DisableUser, EnableUser, ResetPassword, ChangePassword,
// SetRoles, and svc.RevokeSessions to log a user out everywhere.
//
// # Revocation
//
// Access tokens carry their session id (sid). Middleware, Authenticate and
// VerifyContext check it, after the signature, against the replica's set
// of sessions revoked within an access token's life: one map lookup, no
// allocation. Every revocation (Logout, EndSession, RevokeSessions,
// DisableUser, ResetPassword, ChangePassword, ResetMFA, refresh-token
// reuse, session limits) sends NOTIFY on RevocationChannel in its own
// transaction; StartRevocationListener follows it, reconnects with
// back-off and reloads on (re)connection. While the listener has been
// down longer than Config.RevocationMaxStale (5 s), each request's session
// is read from the database, and refused if that read fails (fail
// closed). RevocationListenerUp is for /readyz.
//
// # Verified-token cache
//
// A client sends the same access token with every request, and its
// signature check (Ed25519: about 50 µs of CPU) is most of Verify's work.
// The Service therefore remembers the tokens whose signature it has
// verified: Middleware, Authenticate (bearer and cookie), Verify and
// VerifyContext skip the signature computation for such a token, and only
// that. The size, split and protected-header checks run first, against
// the current key set; then the claims are decoded and exp, nbf, iat,
// iss, aud and the required claims are checked against the clock; then
// the session (CheckSession), exactly as for a new token. Issuer.Verify
// never uses the cache.
//
// This is safe because a signature is a pure function of the token's
// bytes and the key: checking the same bytes with the same key again
// always gives the same answer, so the cache changes nothing the checks
// decide. An entry is keyed by the exact token string (no hash, nothing
// to collide: one changed byte is another token, checked in full), and
// only a token that passed every check is added, so a client cannot fill
// the cache with tokens of its own making. An entry holds the key that
// verified it and counts only while the token's header names that same
// key in the current key set: a removed key's tokens are refused as
// before, a key replaced by another object is checked again.
//
// The cache is bounded: Config.TokenCacheSize entries
// (DefaultTokenCacheSize, 4096, when zero; negative disables it). An
// expired token's entry is dropped when the token comes again, and by a
// sweep at most once a minute when a token is added; a full cache drops
// its expired entries, then random ones until it is half full. An entry
// is a copy of the token (about 650 bytes), so the default bound is
// about 3 MB; a replica serving more distinct live tokens than the bound
// still verifies them all, with fewer hits. A hit takes a read lock and
// a map lookup; the cache needs no goroutine.
//
// # Second factor (TOTP, RFC 6238)
//
// Config.MFAPolicy (and TenantMFAPolicies per tenant) names the roles that
// must use a second factor; svc.MFARequired(tenant, roles) tells the
// server. A user with a confirmed TOTP is always asked for it. The token
// endpoint follows Auth0's mfa-otp pattern:
//
//	POST /auth  username=ana&password=…
//	→ 400 {"error":"mfa_required","mfa_token":"…","mfa_methods":["totp","recovery_code"],"expires_in":300}
//	POST /auth  grant_type=urn:historia:params:oauth:grant-type:mfa-otp&mfa_token=…&otp=123456
//	        (or &recovery_code=abcd-efgh-ijkl; Auth0's grant names are accepted too)
//	→ 200 {"access_token",…}
//
// The mfa_token lives 5 minutes, is spent by its first use (right or
// wrong: after a wrong code the client starts again with the password),
// and is bound to the user and to the client (ClientKey of its address).
// Wrong codes count toward the account's lock-out; a code is accepted once
// per step (replay protection in the database). A user whose roles require
// MFA but who has none gets "mfa_enrollment_required":true and
// mfa_methods ["totp"]: POST mfa_token to MFAAssociateHandler for
// {"secret","otpauth_uri"} (show the URI as a QR code), then the mfa-otp
// grant with the first code; that answer also holds "recovery_codes" (10,
// shown once, stored salted and hashed). A browser login page calls Login
// and, on an *MFARequiredError, asks for the code and calls LoginMFA
// (and MFAAssociate for an enrolment). From a session: EnrollTOTP then
// ConfirmTOTP (returns the recovery codes); an admin's Store.ResetMFA
// removes the factor and ends the user's sessions. Every step is a
// security event (mfa.challenged, mfa.succeeded, mfa.failed,
// mfa.enrolled, mfa.reset).
//
// # Passkeys (WebAuthn) as a second factor
//
// With Config.WebAuthn (the relying party: RP ID and allowed origins,
// from the server's configured public origin, never from a request's
// Host) a user may register passkeys (github.com/go-webauthn/webauthn).
// A user with a passkey is asked for a second factor at login, and
// MFARequiredError.Methods holds "webauthn"; a passkey also satisfies
// MFAPolicy (no TOTP enrolment is forced). The ceremonies:
//
//	// registration, signed in, after RequireRecentAuth:
//	opts, err := svc.BeginPasskeyRegistration(ctx, id)          // → navigator.credentials.create
//	err = svc.FinishPasskeyRegistration(ctx, id, credJSON, ip)  // the challenge is kept server-side per session
//	// the second step of a login, with the mfa_token:
//	opts, err := svc.BeginPasskeyLogin(ctx, mfaToken, ip)        // → navigator.credentials.get
//	t, err := svc.LoginPasskey(ctx, mfaToken, assertionJSON, ip) // spends the token, like LoginMFA
//
// The assertion's challenge is stored on the mfa_token's row, so a
// passkey answers exactly the challenge a code would, and the token is
// spent right or wrong; a refused assertion counts toward lock-out. A
// signature counter that does not grow marks the credential as a
// possible clone and refuses it. Credentials live in
// auth_webauthn_credentials; Store.ResetMFA revokes them with the TOTP.
// Every step is a security event (webauthn.challenged, then
// mfa.enrolled, mfa.succeeded or mfa.failed with detail webauthn…).
//
// # Re-authentication
//
// Access tokens carry auth_time, when the user last proved possession of
// a factor in the session (login, second factor, Reauthenticate; not a
// refresh). Before a sensitive action — password change or reset, role
// change, MFA enrolment, break-the-glass — the server calls
//
//	if err := svc.RequireRecentAuth(id, 5*time.Minute); errors.Is(err, auth.ErrReauthRequired) {
//		// ask for the password or a code, then:
//		t, err := svc.Reauthenticate(ctx, id, secret, svc.ClientIP(r))
//		svc.SetSessionCookies(w, t) // or hand t.AccessToken to an API client
//	}
//
// # Throttling
//
// The login limiter keys a client by ClientKey: an IPv4 address, an IPv6
// /64. RateLimiter evicts its least recently used key when full. Password
// spraying (Config.SprayThreshold distinct usernames failing within
// SprayWindow in a tenant, default 20 in 1 minute) raises one
// login.spraying event per window across all replicas, calls
// Config.OnSpraying, and counts in svc.SprayingAlerts() for /metrics.
//
// Input errors carry a stable code for front ends to translate: an
// *InvalidError (ErrInvalid) and a *PasswordError (ErrWeakPassword) have a
// Code, one of Codes():
//
//	required       a required argument is empty
//	invalid        a malformed username, tenant or role name; a password that is not UTF-8
//	too_short      a password shorter than MinPasswordLength (12)
//	too_long       a password longer than MaxPasswordLength (128)
//	too_many       more roles than a user may have
//	common         a password in the list of common passwords
//	contains_name  a password that contains the username or the tenant
//
// Login failures are not input errors: they are ErrInvalidCredentials
// alone, whatever failed.
//
// See docs/security.md for the security model and the tests that show
// each property.
package auth
