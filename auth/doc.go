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
//	mux.Handle("POST /auth", svc.TokenHandler())      // OAuth2 password and refresh_token grants
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
