package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// Homes maps each staff role to its page; a patient's home is their own
// chart (/paciente/{id}).
var Homes = map[string]string{
	app.RoleMedico:       "/medico",
	app.RoleAdmisionista: "/admisionista",
	app.RoleSecretaria:   "/secretaria",
	app.RoleAdmin:        "/admin",
	app.RoleAuditor:      "/auditor",
}

// Home returns the page c lands on after login: the home of c's first
// role, or /login when it has none.
func Home(c app.Caller) string {
	if c.Role() == app.RolePaciente && c.PatientID != "" {
		return "/paciente/" + c.PatientID
	}
	if h, ok := Homes[c.Role()]; ok {
		return h
	}
	return "/login"
}

// nav returns the navigation of c: the home of each of its roles.
func nav(c app.Caller, current string) []views.NavItem {
	var out []views.NavItem
	for _, role := range c.Roles {
		href := Home(app.Caller{Roles: []string{role}, PatientID: c.PatientID})
		if href == "/login" {
			continue
		}
		out = append(out, views.NavItem{Href: href, TextKey: "role." + role, Current: strings.HasPrefix(current, href)})
	}
	if len(out) > 0 || len(c.Roles) > 0 {
		out = append(out, views.NavItem{Href: "/cuenta", TextKey: "account.title", Current: strings.HasPrefix(current, "/cuenta")})
	}
	return out
}

func (rt *Router) routesSession() {
	rt.HandleFunc("POST /auth", rt.login)
	rt.HandleFunc("POST /logout", rt.logout)
	// An API client that must enrol a second factor at login gets its
	// secret here (auth's handler); a browser gets it on the enrolment
	// page.
	rt.HandleFunc("POST /auth/mfa/associate", func(w http.ResponseWriter, r *http.Request) {
		rt.app.Auth.MFAAssociateHandler().ServeHTTP(w, r)
	})
	rt.Handle("POST /api/v1/reauth", rt.reauthAPI)
	rt.routesPasskeys()
}

// authenticate finds the caller of r (bearer token or session cookies,
// refreshing a browser session through w) and returns r with the caller
// in its context.
func (rt *Router) authenticate(w http.ResponseWriter, r *http.Request) (app.Caller, *http.Request, error) {
	aid, err := rt.app.Auth.Authenticate(w, r)
	if err != nil {
		return app.Caller{}, r, err
	}
	c := app.CallerOf(aid, RequestID(r.Context()), rt.app.Auth.ClientIP(r))
	// auth's identity too: its session and auth_time decide whether a
	// sensitive action needs re-authentication (RecentAuth).
	ctx := auth.NewContext(app.NewContext(r.Context(), c), aid)
	return c, r.WithContext(ctx), nil
}

// unauthenticated answers a request without valid credentials (or whose
// session could not be checked: 503): an API
// client gets 401 with a bearer challenge (RFC 6750, auth's header) and
// the JSON error, a browser the login page (with ?expired=1 when its
// session lapsed).
func (rt *Router) unauthenticated(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, auth.ErrUnavailable) {
		// The session could not be checked (the database is down): not
		// a sign-in matter. 503, and the client retries.
		w.Header().Set("Retry-After", "5")
		rt.writeProblem(w, r, ProblemOf(r.Context(), err))
		return
	}
	if wantsJSON(r) || r.Header.Get("Authorization") != "" {
		p := problemUnauthenticated
		code, desc := "", ""
		if errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, auth.ErrInvalidRefreshToken) {
			p = ProblemOf(r.Context(), err)
			code, desc = "invalid_token", "invalid or expired token"
		}
		// The challenge header as auth writes it; the body is the
		// server's one error shape.
		auth.WriteBearerChallenge(&discardWriter{header: w.Header()}, http.StatusUnauthorized, code, desc)
		rt.writeProblem(w, r, p)
		return
	}
	target := "/login"
	if hasSessionCookie(r) {
		target = "/login?expired=1"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func hasSessionCookie(r *http.Request) bool {
	for _, c := range r.Cookies() {
		if c.Name == auth.DefaultAccessCookie || c.Name == auth.DefaultRefreshCookie {
			return true
		}
	}
	return false
}

// isBrowserForm reports whether r is a form posted by a browser (which
// gets cookies and redirects) rather than an API client (JSON).
func isBrowserForm(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// login is POST /auth. API clients get auth's OAuth2 token endpoint
// unchanged; a browser posting the login form gets the session cookies
// and a redirect to its role's page, or the form again with one generic
// error.
func (rt *Router) login(w http.ResponseWriter, r *http.Request) {
	a := rt.app.Auth
	if !isBrowserForm(r) {
		sw := &statusWriter{ResponseWriter: w}
		a.TokenHandler().ServeHTTP(sw, r)
		if sw.status == http.StatusBadRequest || sw.status == http.StatusTooManyRequests {
			rt.metrics.LoginFailed()
		}
		return
	}
	req, err := auth.ParseTokenRequest(r)
	if err == nil && req.GrantType == auth.GrantMFAOTP {
		rt.loginMFA(w, r, req)
		return
	}
	if err != nil || req.GrantType != auth.GrantPassword {
		rt.metrics.LoginFailed()
		rt.loginAgain(w, r, http.StatusUnauthorized, "login.failed", req.Username)
		return
	}
	t, err := a.Login(r.Context(), req.Tenant, req.Username, req.Password, a.ClientIP(r))
	var mfa *auth.MFARequiredError
	switch {
	case err == nil:
	case errors.As(err, &mfa):
		rt.secondFactor(w, r, mfa, "")
		return
	case errors.Is(err, auth.ErrRateLimited):
		rt.metrics.LoginFailed()
		rt.loginAgain(w, r, http.StatusTooManyRequests, "login.locked", req.Username)
		return
	case errors.Is(err, auth.ErrInvalidCredentials):
		rt.metrics.LoginFailed()
		rt.loginAgain(w, r, http.StatusUnauthorized, "login.failed", req.Username)
		return
	default:
		rt.Fail(w, r, err)
		return
	}
	rt.signedIn(w, r, t)
}

// signedIn ends a successful browser login: the session cookies, and the
// role's page, or first the recovery codes of a second factor enrolled
// at this login (shown once).
func (rt *Router) signedIn(w http.ResponseWriter, r *http.Request, t auth.Tokens) {
	a := rt.app.Auth
	a.SetSessionCookies(w, t)
	w.Header().Set("Cache-Control", "no-store")
	c := app.CallerOf(t.Identity, RequestID(r.Context()), a.ClientIP(r))
	rt.log.InfoContext(r.Context(), "login", "user_id", c.UserID, "tenant_id", c.TenantID)
	if len(t.RecoveryCodes) > 0 {
		r = r.WithContext(app.NewContext(r.Context(), c))
		p := rt.Layout(r, c, "mfa.codes.title")
		p.Path = Home(c)
		rt.Render(w, r, http.StatusOK, views.RecoveryCodes(p, t.RecoveryCodes, Home(c)))
		return
	}
	http.Redirect(w, r, Home(c), http.StatusSeeOther)
}

// secondFactor answers a right password when a second factor is due: the
// code form, or for a user who must enrol, the enrolment page with a new
// secret. The mfa_token travels in a hidden field.
func (rt *Router) secondFactor(w http.ResponseWriter, r *http.Request, mfa *auth.MFARequiredError, errKey string) {
	w.Header().Set("Cache-Control", "no-store")
	p := rt.page(r, "mfa.title", nil)
	p.Path = "/login"
	if !mfa.Enroll {
		rt.Render(w, r, http.StatusOK, views.MFACode(p, views.MFACodeData{Token: mfa.Token, ErrorKey: errKey,
			TOTP:    slices.Contains(mfa.Methods, auth.MFAMethodTOTP),
			Passkey: slices.Contains(mfa.Methods, auth.MFAMethodWebAuthn) && rt.app.Auth.PasskeysEnabled()}))
		return
	}
	a := rt.app.Auth
	en, err := a.MFAAssociate(r.Context(), mfa.Token, a.ClientIP(r))
	if err != nil {
		rt.loginFailedMFA(w, r, err)
		return
	}
	qr, err := QRDataURL(en.URI)
	if err != nil {
		rt.Fail(w, r, err)
		return
	}
	p.TitleKey = "mfa.enroll.title"
	rt.Render(w, r, http.StatusOK, views.MFAEnroll(p, views.MFAEnrollData{Token: mfa.Token, Secret: en.Secret, QR: qr, Action: "/auth", ErrorKey: errKey}))
}

// loginMFA is the second step of a browser login: the code (or a
// recovery code) with the mfa_token of the first step.
func (rt *Router) loginMFA(w http.ResponseWriter, r *http.Request, req auth.TokenRequest) {
	a := rt.app.Auth
	t, err := a.LoginMFA(r.Context(), req.MFAToken, req.OTP, req.RecoveryCode, a.ClientIP(r))
	if err != nil {
		rt.loginFailedMFA(w, r, err)
		return
	}
	rt.signedIn(w, r, t)
}

// loginFailedMFA answers a refused second step: the mfa_token is spent
// (right or wrong), so the user starts again from the password.
func (rt *Router) loginFailedMFA(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, auth.ErrRateLimited):
		rt.metrics.LoginFailed()
		rt.loginAgain(w, r, http.StatusTooManyRequests, "login.locked", "")
	case errors.Is(err, auth.ErrInvalidCredentials):
		rt.metrics.LoginFailed()
		rt.loginAgain(w, r, http.StatusUnauthorized, "mfa.failed", "")
	case errors.Is(err, auth.ErrInvalidMFAToken):
		rt.metrics.LoginFailed()
		rt.loginAgain(w, r, http.StatusUnauthorized, "mfa.expired", "")
	default:
		rt.Fail(w, r, err)
	}
}

// loginAgain answers a refused sign-in with the form again: one generic
// error, the username kept so that only the password is typed again (the
// password never comes back).
func (rt *Router) loginAgain(w http.ResponseWriter, r *http.Request, status int, errKey, username string) {
	if len(username) > 200 || !utf8.ValidString(username) {
		username = ""
	}
	w.Header().Set("Cache-Control", "no-store")
	p := rt.page(r, "login.title", nil)
	p.Path = "/login"
	rt.Render(w, r, status, views.Login(p, username, errKey))
}

// logout ends the session and returns to the login page.
func (rt *Router) logout(w http.ResponseWriter, r *http.Request) {
	rec := &discardWriter{header: w.Header()}
	rt.app.Auth.LogoutHandler().ServeHTTP(rec, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// discardWriter lets a handler set headers (cookies) but drops its status
// and body.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// home sends / to the caller's home, or to the login page.
func (rt *Router) home(w http.ResponseWriter, r *http.Request) {
	if rt.app == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	aid, err := rt.app.Auth.Authenticate(w, r)
	if err != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, Home(app.CallerOf(aid, "", "")), http.StatusSeeOther)
}
