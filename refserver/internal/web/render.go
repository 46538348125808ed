package web

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/a-h/templ"

	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// page returns the bare layout model for r (no navigation).
func (rt *Router) page(r *http.Request, titleKey string, user *views.User) views.Page {
	return views.Page{TitleKey: titleKey, User: user, Path: r.URL.RequestURI(), IdleSeconds: int(rt.idle.Seconds())}
}

// Layout is the layout model of a role page for caller c: the header
// (username, role, hospital), the navigation of c's roles and the flash
// of ?saved. It reads the caller's username (one query); a page that
// resolves other names too uses LayoutNamed with them instead.
func (rt *Router) Layout(r *http.Request, c app.Caller, titleKey string) views.Page {
	return rt.LayoutNamed(r, c, titleKey, rt.app.Directory.Names(r.Context(), c, nil, nil))
}

// LayoutNamed is Layout with names already resolved for the page
// (Directory.Names, which always includes the caller).
func (rt *Router) LayoutNamed(r *http.Request, c app.Caller, titleKey string, nm app.Names) views.Page {
	p := rt.page(r, titleKey, rt.user(r, c, nm))
	p.Nav = nav(c, r.URL.Path)
	if r.URL.Query().Has("saved") {
		p.Flash = "flash.saved"
	}
	return p
}

// user is the header's view of c.
func (rt *Router) user(r *http.Request, c app.Caller, nm app.Names) *views.User {
	return &views.User{Name: nm.Username(c.UserID), Role: c.Role(), Hospital: rt.app.Directory.TenantName(r.Context())}
}

// Render writes a templ component with status.
func (rt *Router) Render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		rt.log.ErrorContext(r.Context(), "render", "error", err)
	}
}

// JSON writes v as the JSON answer with status (never stored).
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// Compact: indenting cost a second pass over every answer (a
	// person reading one pipes it to jq).
	_ = json.NewEncoder(w).Encode(v)
}

// wantsJSON reports whether the answer to r, when it is an error, should
// be JSON: API routes, and clients that accept JSON but not HTML.
func wantsJSON(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/auth" && r.Header.Get("Accept") == "application/json" {
		return true
	}
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// SeeOther answers a successful form post with a redirect to target.
func SeeOther(w http.ResponseWriter, r *http.Request, target string) {
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// Public is the layout model of a page anyone may open (no user, no
// navigation): the activation page.
func (rt *Router) Public(r *http.Request, titleKey string) views.Page {
	return rt.page(r, titleKey, nil)
}
