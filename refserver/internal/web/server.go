// Package web is the reference server's HTTP layer: the router, the
// middleware (request id, logs, metrics, security headers, CSRF), the role
// pages rendered with package views, and the JSON API under /api/v1.
package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/historiaehr/historia/refserver/internal/i18n"
	"github.com/historiaehr/historia/refserver/internal/static"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// Config is what New needs. Logger and Metrics are required; the rest may
// be nil while the server runs without a database (then /readyz fails and
// the role pages answer 503).
type Config struct {
	Logger  *slog.Logger
	Metrics *Metrics
	// Ready reports whether the database is reachable and its schema
	// current; /readyz calls it.
	Ready func(context.Context) error
	// TLS says the server is served over TLS (adds HSTS).
	TLS bool
	// IdleTimeout is the session idle time-out shown to scripts.js; the
	// authentication layer enforces it.
	IdleTimeout time.Duration
	// App holds the application's services (authentication, policy,
	// records). Nil serves only the infrastructure routes and /login.
	App *App
}

// Server is the HTTP handler of the reference server.
type Server struct {
	log     *slog.Logger
	metrics *Metrics
	ready   func(context.Context) error
	tls     bool
	idle    time.Duration
	app     *App
	mux     *http.ServeMux
	handler http.Handler
	routes  []string
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	s := &Server{log: cfg.Logger, metrics: cfg.Metrics, ready: cfg.Ready, tls: cfg.TLS,
		idle: cfg.IdleTimeout, app: cfg.App, mux: http.NewServeMux()}
	s.routesInfra()
	if s.app != nil {
		s.routesApp()
	}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.WarnContext(r.Context(), "cross-origin request refused", "path", r.URL.Path)
		s.renderErrorKey(w, r, http.StatusForbidden, "error.csrf")
	}))
	s.handler = s.observe(cop.Handler(s.cleanQuery(s.mux)))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Routes returns the patterns registered on the router, in order.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, h)
}

func (s *Server) routesInfra() {
	s.handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	s.handle("GET /readyz", s.readyz)
	metrics := promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{})
	s.handle("GET /metrics", metrics.ServeHTTP)
	s.handle("GET /static/", static.Handler().ServeHTTP)
	s.handle("GET /favicon.ico", static.Favicon)
	s.handle("GET /lang/{lang}", s.setLang)
	s.handle("GET /login", s.loginPage)
	s.handle("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			s.home(w, r)
			return
		}
		s.renderError(w, r, http.StatusNotFound)
	})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.ready == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("no database configured\n"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.log.WarnContext(r.Context(), "not ready", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

// setLang sets the language cookie and goes back to next (a local path).
func (s *Server) setLang(w http.ResponseWriter, r *http.Request) {
	l, ok := i18n.Parse(r.PathValue("lang"))
	if !ok {
		s.renderError(w, r, http.StatusNotFound)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: i18n.CookieName, Value: string(l), Path: "/",
		MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: s.tls, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
}

// localPath returns p when it is a path on this server, else "/". It
// refuses absolute URLs and scheme-relative ones ("//evil", "/\evil").
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.IsAbs() || u.Host != "" {
		return "/"
	}
	return p
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	errKey := ""
	switch {
	case r.URL.Query().Has("expired"):
		errKey = "login.expired"
	case r.URL.Query().Get("error") == "locked":
		errKey = "login.locked"
	case r.URL.Query().Has("error"):
		errKey = "login.failed"
	}
	status := http.StatusOK
	if errKey == "login.failed" {
		status = http.StatusUnauthorized
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, views.Login(s.page(r, "login.title", nil), "", errKey))
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if s.app == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.app.home(w, r)
}

// page returns the layout model for r.
func (s *Server) page(r *http.Request, titleKey string, user *views.User) views.Page {
	return views.Page{TitleKey: titleKey, User: user, Path: r.URL.RequestURI(), IdleSeconds: int(s.idle.Seconds())}
}

// render writes a templ component with status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		s.log.ErrorContext(r.Context(), "render", "error", err)
	}
}

// wantsJSON reports whether the error answer to r should be JSON: API
// routes, and clients that accept JSON but not HTML.
func wantsJSON(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/auth" && r.Header.Get("Accept") == "application/json" {
		return true
	}
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// renderError answers status with the standard message for it.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int) {
	key := "error.500"
	switch status {
	case http.StatusBadRequest:
		key = "error.badrequest"
	case http.StatusForbidden:
		key = "error.403"
	case http.StatusNotFound:
		key = "error.404"
	case http.StatusConflict:
		key = "error.409"
	case http.StatusUnprocessableEntity:
		key = "error.422"
	}
	s.renderErrorKey(w, r, status, key)
}

// APIError is the body of every JSON error answer.
type APIError struct {
	Error   string            `json:"error"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func (s *Server) renderErrorKey(w http.ResponseWriter, r *http.Request, status int, key string) {
	if wantsJSON(r) {
		writeJSON(w, status, APIError{Error: strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_"),
			Message: i18n.T(r.Context(), key)})
		return
	}
	var user *views.User
	if s.app != nil {
		if id, ok := identity(r.Context()); ok {
			user = s.app.viewUser(r.Context(), id)
		}
	}
	s.render(w, r, status, views.Error(s.page(r, "app.name", user), status, key))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
