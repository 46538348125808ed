package web

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/i18n"
	"github.com/historiaehr/historia/refserver/internal/static"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// Config is what New needs. Logger and Metrics are required; the rest may
// be nil while the server runs without a database (then /readyz fails and
// only the infrastructure routes and /login answer).
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
	// MetricsToken, when set, serves GET /metrics on this router to
	// requests bearing it (Authorization: Bearer); when empty the router
	// does not serve /metrics, and MetricsHandler serves them on a
	// listener of their own.
	MetricsToken string
	// App holds the services and use cases. With it the router also
	// serves the session routes (POST /auth, /logout, /) and authenticates
	// the routes mounted with Handle.
	App *app.App
}

// Router is the server's HTTP handler: the middleware chain (request id,
// security headers, the log line, metrics, cross-origin protection, the
// query check) around a mux. New registers the infrastructure and session
// routes; the role pages (package pages), the JSON API (package api) and
// protocol front-ends mount theirs with Handle.
type Router struct {
	log     *slog.Logger
	metrics *Metrics
	ready   func(context.Context) error
	tls     bool
	idle    time.Duration
	app     *app.App
	token   string
	mux     *http.ServeMux
	handler http.Handler
	routes  []string
	cop     *http.CrossOriginProtection
}

// New returns the Router of cfg.
func New(cfg Config) *Router {
	rt := &Router{log: cfg.Logger, metrics: cfg.Metrics, ready: cfg.Ready, tls: cfg.TLS,
		idle: cfg.IdleTimeout, app: cfg.App, token: cfg.MetricsToken, mux: http.NewServeMux()}
	rt.routesInfra()
	if rt.app != nil {
		rt.routesSession()
	}
	cop := http.NewCrossOriginProtection()
	rt.cop = cop
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt.log.WarnContext(r.Context(), "cross-origin request refused", "path", r.URL.Path)
		rt.writeProblem(w, r, problemCrossOrigin)
	}))
	rt.handler = rt.observe(cop.Handler(rt.cleanQuery(rt.jsonBodies(rt.mux))))
	return rt
}

// AllowCrossOrigin exempts the routes of pattern (http.ServeMux syntax,
// such as "/fhir/R4/") from the cross-origin protection. Only for routes
// that authenticate with a bearer token alone (HandleBearer): a
// cross-site request there carries no credential the browser adds, so it
// can forge nothing, and browser applications of other origins (SMART on
// FHIR apps) must be able to call them.
func (rt *Router) AllowCrossOrigin(pattern string) { rt.cop.AddInsecureBypassPattern(pattern) }

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.handler.ServeHTTP(w, r) }

// Routes returns the patterns registered on the router, in order.
func (rt *Router) Routes() []string { return append([]string(nil), rt.routes...) }

// Log returns the router's logger.
func (rt *Router) Log() *slog.Logger { return rt.log }

// HandleFunc registers h for pattern as it is: no authentication (the
// infrastructure routes, the login page).
func (rt *Router) HandleFunc(pattern string, h http.HandlerFunc) {
	rt.routes = append(rt.routes, pattern)
	rt.mux.HandleFunc(pattern, h)
}

// Handler is an authenticated route: it receives the caller, whose
// context the request already carries (app.NewContext), and returns the
// error it could not answer itself, which the router answers through the
// error table (ProblemOf).
type Handler func(w http.ResponseWriter, r *http.Request, c app.Caller) error

// Handle registers h for pattern behind authentication: a bearer token or
// the session cookies (refreshed when needed). An anonymous API client
// gets 401 with a bearer challenge, an anonymous browser the login page;
// with roles given, a caller holding none of them gets 403. Every answer
// is private (Cache-Control: no-store), its errors too.
func (rt *Router) Handle(pattern string, h Handler, roles ...string) {
	rt.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		c, r2, err := rt.authenticate(w, r)
		if err != nil {
			rt.unauthenticated(w, r, err)
			return
		}
		if len(roles) > 0 && !slices.ContainsFunc(c.Roles, func(role string) bool { return slices.Contains(roles, role) }) {
			rt.writeProblem(w, r2, problemRole)
			return
		}
		if err := h(w, r2, c); err != nil {
			rt.Fail(w, r2, err)
		}
	})
}

func (rt *Router) routesInfra() {
	rt.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	rt.HandleFunc("GET /readyz", rt.readyz)
	if rt.token != "" {
		rt.HandleFunc("GET /metrics", rt.metricsWithToken)
	}
	rt.HandleFunc("GET /static/", static.Handler().ServeHTTP)
	rt.HandleFunc("GET /favicon.ico", static.Favicon)
	rt.HandleFunc("GET /lang/{lang}", rt.setLang)
	rt.HandleFunc("GET /login", rt.loginPage)
	rt.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			rt.home(w, r)
			return
		}
		rt.writeProblem(w, r, problemNoRoute)
	})
}

// MetricsHandler serves the Prometheus metrics: mount it on a listener
// of its own (historia serve --metrics-addr), reachable by the scraper
// only.
func (rt *Router) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(rt.metrics.Registry, promhttp.HandlerOpts{})
}

// metricsWithToken serves the metrics on the main listener to the bearer
// of the metrics token (compared in constant time); anyone else gets 401.
func (rt *Router) metricsWithToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(rt.token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="historia-metrics"`)
		rt.writeProblem(w, r, problemUnauthenticated)
		return
	}
	rt.MetricsHandler().ServeHTTP(w, r)
}

func (rt *Router) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if rt.ready == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("no database configured\n"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := rt.ready(ctx); err != nil {
		rt.log.WarnContext(r.Context(), "not ready", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

// setLang sets the language cookie and goes back to next (a local path).
func (rt *Router) setLang(w http.ResponseWriter, r *http.Request) {
	l, ok := i18n.Parse(r.PathValue("lang"))
	if !ok {
		rt.writeProblem(w, r, problemNoRoute)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: i18n.CookieName, Value: string(l), Path: "/",
		MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: rt.tls, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, LocalPath(r.URL.Query().Get("next")), http.StatusSeeOther)
}

// LocalPath returns p as a path on this server, cleaned (as http.Redirect
// would clean it), or "/" when it is not one. It refuses absolute and
// scheme-relative URLs, and any backslash, control character or
// percent-encoded slash or backslash (browsers read a backslash as a slash and drop
// tabs and newlines), and checks the path after cleaning, so that
// "/x/../\evil" or "/x/..//evil" cannot become "//evil".
func LocalPath(p string) string {
	if p == "" || p[0] != '/' || strings.ContainsFunc(p, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.IsAbs() || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	raw := strings.ToLower(u.EscapedPath())
	if strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") ||
		strings.ContainsFunc(u.Path, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return "/"
	}
	clean := path.Clean(u.Path)
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	if !strings.HasPrefix(clean, "/") || strings.HasPrefix(clean, "//") {
		return "/"
	}
	out := (&url.URL{Path: clean, RawQuery: u.RawQuery, Fragment: u.Fragment}).String()
	if strings.HasPrefix(out, "//") || strings.ContainsAny(out, "\\\t\r\n") {
		return "/"
	}
	return out
}

func (rt *Router) loginPage(w http.ResponseWriter, r *http.Request) {
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
	rt.Render(w, r, status, views.Login(rt.page(r, "login.title", nil), "", errKey))
}
