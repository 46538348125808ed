package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// Identity is the authenticated user of a request.
type Identity struct {
	UserID    string
	TenantID  string
	PatientID string
	Roles     []string
}

// Role returns the user's first role, the one that picks the home page.
func (id Identity) Role() string {
	if len(id.Roles) == 0 {
		return ""
	}
	return id.Roles[0]
}

// Principal returns the rbac principal of id.
func (id Identity) Principal() rbac.Principal {
	return rbac.Principal{UserID: id.UserID, TenantID: id.TenantID, PatientID: id.PatientID, Roles: id.Roles}
}

// App holds the application services behind the role pages and the API.
type App struct {
	// Auth authenticates (login, sessions, bearer tokens).
	Auth *auth.Service
	// Records is the patient-record repository.
	Records *ehr.Repository
	// Policy decides what the pages offer (the repository decides what is
	// allowed).
	Policy *rbac.Engine

	matrix rbac.Matrix
	log    *slog.Logger
}

// Homes maps each role to its page.
var Homes = map[string]string{
	"medico":       "/medico",
	"admisionista": "/admisionista",
	"secretaria":   "/secretaria",
	"admin":        "/admin",
	"auditor":      "/auditor",
}

// homeOf returns the page a user lands on after login.
func homeOf(id Identity) string {
	if id.Role() == "paciente" && id.PatientID != "" {
		return "/paciente/" + id.PatientID
	}
	if h, ok := Homes[id.Role()]; ok {
		return h
	}
	return "/login"
}

func (s *Server) routesApp() {
	a := s.app
	a.log = s.log
	if a.Policy == nil {
		a.Policy = rbac.Default()
	}
	a.matrix = a.Policy.Matrix()
	s.handle("POST /auth", s.login)
	s.handle("POST /logout", s.logout)
	s.handle("GET /paciente/{id}", s.page_(s.portal, "paciente"))
	s.handle("GET /medico", s.page_(s.medico, "medico"))
	s.handle("GET /medico/pacientes/{id}", s.page_(s.chart, "medico"))
	s.routesChart()
	s.handle("GET /admisionista", s.page_(s.admisionista, "admisionista"))
	s.handle("POST /admisionista/pacientes", s.page_(s.registerPatient, "admisionista"))
	s.routesAdmissions()
	s.handle("GET /secretaria", s.page_(s.secretaria, "secretaria"))
	s.routesSchedule()
	s.handle("GET /admin", s.page_(s.admin, "admin"))
	s.routesUsers()
	s.handle("GET /auditor", s.page_(s.auditor, "auditor"))
	s.handle("POST /auditor/verify", s.page_(s.verifyChain, "auditor"))
	s.routesAPI()
}

// authenticate finds the identity of r (bearer token or session cookies,
// refreshing a browser session through w) and records it for the log.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (Identity, *http.Request, error) {
	aid, err := s.app.Auth.Authenticate(w, r)
	if err != nil {
		return Identity{}, r, err
	}
	id := Identity{UserID: aid.UserID, TenantID: aid.Tenant, PatientID: aid.PatientID, Roles: aid.Roles}
	if b, ok := r.Context().Value(identityBoxKey{}).(*identityBox); ok {
		b.id = &id
	}
	ctx := auth.NewContext(r.Context(), aid)
	ctx = ehr.NewContext(ctx, ehr.Actor{Principal: id.Principal(), RequestID: RequestID(ctx), IP: s.app.Auth.ClientIP(r)})
	return id, r.WithContext(ctx), nil
}

// pageHandler is a role page: it receives the authenticated identity.
type pageHandler func(w http.ResponseWriter, r *http.Request, id Identity)

// page_ authenticates the request and lets it through only for the roles
// listed; any other signed-in user gets 403, an anonymous browser goes to
// the login page (with ?expired=1 when its session lapsed).
func (s *Server) page_(h pageHandler, roles ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Every answer of a role page is private, its errors too (they
		// carry the user's name and the URL with its ids).
		w.Header().Set("Cache-Control", "no-store")
		id, r2, err := s.authenticate(w, r)
		if err != nil {
			s.unauthenticated(w, r, err)
			return
		}
		if !slices.ContainsFunc(id.Roles, func(role string) bool { return slices.Contains(roles, role) }) {
			s.renderError(w, r2, http.StatusForbidden)
			return
		}
		h(w, r2, id)
	}
}

func (s *Server) unauthenticated(w http.ResponseWriter, r *http.Request, err error) {
	if wantsJSON(r) || r.Header.Get("Authorization") != "" {
		code := "invalid_token"
		if errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, auth.ErrInvalidRefreshToken) {
			auth.WriteBearerChallenge(w, http.StatusUnauthorized, code, "invalid or expired token")
			return
		}
		auth.WriteBearerChallenge(w, http.StatusUnauthorized, "", "")
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
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !isBrowserForm(r) {
		sw := &statusWriter{ResponseWriter: w}
		s.app.Auth.TokenHandler().ServeHTTP(sw, r)
		if sw.status == http.StatusBadRequest || sw.status == http.StatusTooManyRequests {
			s.metrics.LoginFailed()
		}
		return
	}
	req, err := auth.ParseTokenRequest(r)
	if err != nil || req.GrantType != auth.GrantPassword {
		s.metrics.LoginFailed()
		s.loginAgain(w, r, http.StatusUnauthorized, "login.failed", req.Username)
		return
	}
	t, err := s.app.Auth.Login(r.Context(), req.Tenant, req.Username, req.Password, s.app.Auth.ClientIP(r))
	switch {
	case err == nil:
	case errors.Is(err, auth.ErrRateLimited):
		s.metrics.LoginFailed()
		s.loginAgain(w, r, http.StatusTooManyRequests, "login.locked", req.Username)
		return
	case errors.Is(err, auth.ErrInvalidCredentials):
		s.metrics.LoginFailed()
		s.loginAgain(w, r, http.StatusUnauthorized, "login.failed", req.Username)
		return
	default:
		s.log.ErrorContext(r.Context(), "login", "error", err)
		s.renderError(w, r, http.StatusInternalServerError)
		return
	}
	s.app.Auth.SetSessionCookies(w, t)
	w.Header().Set("Cache-Control", "no-store")
	id := Identity{UserID: t.Identity.UserID, TenantID: t.Identity.Tenant, PatientID: t.Identity.PatientID, Roles: t.Identity.Roles}
	s.log.InfoContext(r.Context(), "login", "user_id", id.UserID, "tenant_id", id.TenantID)
	http.Redirect(w, r, homeOf(id), http.StatusSeeOther)
}

// loginAgain answers a refused sign-in with the form again: one generic
// error, the username kept so that only the password is typed again (the
// password never comes back).
func (s *Server) loginAgain(w http.ResponseWriter, r *http.Request, status int, errKey, username string) {
	if len(username) > 200 || !utf8.ValidString(username) {
		username = ""
	}
	w.Header().Set("Cache-Control", "no-store")
	p := s.page(r, "login.title", nil)
	p.Path = "/login"
	s.render(w, r, status, views.Login(p, username, errKey))
}

// logout ends the session and returns to the login page.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	rec := &discardWriter{header: w.Header()}
	s.app.Auth.LogoutHandler().ServeHTTP(rec, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// discardWriter lets a handler set headers (cookies) but drops its status
// and body.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	aid, err := a.Auth.Authenticate(w, r)
	if err != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, homeOf(Identity{UserID: aid.UserID, TenantID: aid.Tenant, PatientID: aid.PatientID, Roles: aid.Roles}), http.StatusSeeOther)
}

func (a *App) viewUser(ctx context.Context, id Identity) *views.User {
	u := &views.User{Name: id.UserID, Role: id.Role()}
	if au, err := a.Auth.Users().User(ctx, id.TenantID, id.UserID); err == nil {
		u.Name = au.Username
	}
	if t, err := a.Records.GetTenant(ctx); err == nil {
		u.Hospital = t.Name
	}
	return u
}

// nav returns the navigation of id: the home of each of its roles.
func nav(id Identity, current string) []views.NavItem {
	var out []views.NavItem
	for _, role := range id.Roles {
		href := homeOf(Identity{Roles: []string{role}, PatientID: id.PatientID})
		if href == "/login" {
			continue
		}
		out = append(out, views.NavItem{Href: href, TextKey: "role." + role, Current: strings.HasPrefix(current, href)})
	}
	return out
}

// pageFor is the layout model of a role page.
func (s *Server) pageFor(r *http.Request, id Identity, titleKey string) views.Page {
	p := s.page(r, titleKey, s.app.viewUser(r.Context(), id))
	p.Nav = nav(id, r.URL.Path)
	if r.URL.Query().Has("saved") {
		p.Flash = "flash.saved"
	}
	return p
}

// can reports whether one of id's roles might take action a on kind k.
func (a *App) can(id Identity, act rbac.Action, k rbac.Kind) bool {
	return a.matrix.CanAny(id.Roles, act, k)
}

// fail maps a library error to an HTTP answer: 404 not found (also for
// another tenant's records), 403 denied, 409 conflict, 422 invalid, 500
// otherwise (logged, without personal data).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusFor(r, err)
	if status == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "request failed", "error", err)
	}
	s.renderError(w, r, status)
}

// statusFor is statusOf for the caller of r: a patient-only user gets 404
// instead of 403, so that probing ids reveals nothing.
func statusFor(r *http.Request, err error) int {
	status := statusOf(err)
	if id, ok := identity(r.Context()); ok && status == http.StatusForbidden && patientOnly(id) {
		return http.StatusNotFound
	}
	return status
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ehr.ErrNotFound), errors.Is(err, auth.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ehr.ErrDenied):
		var de *rbac.DeniedError
		if errors.As(err, &de) && de.Decision.Rule == rbac.RuleTenant {
			return http.StatusNotFound
		}
		return http.StatusForbidden
	case errors.Is(err, ehr.ErrConflict), errors.Is(err, auth.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ehr.ErrInvalid), errors.Is(err, auth.ErrInvalid):
		return http.StatusUnprocessableEntity
	case errors.Is(err, context.Canceled):
		return 499
	}
	return http.StatusInternalServerError
}
