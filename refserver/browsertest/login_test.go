package browsertest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/refserver/internal/i18n"
)

// login signs in as role through the login form and returns the status
// of the page it lands on.
func (b *tab) login(role string) int64 {
	b.t.Helper()
	if st := b.open("/login"); st != 200 {
		b.t.Fatalf("GET /login: %d", st)
	}
	b.styled()
	b.fill("form[action='/auth']", map[string]string{"username": role, "password": password})
	b.shot("login-" + role)
	return b.submit("sign in as "+role, "form[action='/auth'] [type=submit]")
}

// loginAs signs in as role and fails the test unless it lands on want.
func (b *tab) loginAs(role, want string) {
	b.t.Helper()
	if st := b.login(role); st != 200 {
		b.t.Fatalf("sign in as %s: status %d at %s", role, st, b.location())
	}
	if p := b.path(); p != want {
		b.shot("failed-login-" + role)
		b.t.Fatalf("%s landed on %s, want %s", role, p, want)
	}
	b.styled()
	b.shot("home-" + role)
}

// logout signs out with the header's button and fails the test unless
// it lands on the login page without a session.
func (b *tab) logout() {
	b.t.Helper()
	if st := b.submit("sign out", "#logout"); st != 200 {
		b.t.Fatalf("sign out: status %d", st)
	}
	if p := b.path(); p != "/login" {
		b.t.Fatalf("after sign out at %s, want /login", p)
	}
	if c := b.cookies(); slices.Contains(c, auth.DefaultAccessCookie) || slices.Contains(c, auth.DefaultRefreshCookie) {
		b.t.Errorf("session cookies left after sign out: %v", c)
	}
	b.shot("logged-out")
}

// lang returns the language the page declares.
func (b *tab) lang() i18n.Lang {
	b.t.Helper()
	l, _ := i18n.Parse(b.attr("html", "lang"))
	return l
}

func TestLoginAndLogout(t *testing.T) {
	h := newHospital(t)
	b := openTab(t, h.URL, "medico")

	// A wrong password: back to the form with one generic error.
	b.open("/login")
	b.fill("form[action='/auth']", map[string]string{"username": "medico", "password": "not-the-password"})
	if st := b.submit("sign in with a wrong password", "form[action='/auth'] [type=submit]"); st != 401 {
		t.Errorf("wrong password: status %d, want 401", st)
	}
	b.wantText("[role=alert]", i18n.Translate(b.lang(), "login.failed"))
	// The username stays; the password is typed again.
	if got := run(b, "read the fields", chromedp.Evaluate[string](`document.querySelector("#username").value + "|" + document.querySelector("#password").value`)); got != "medico|" {
		t.Errorf("after a wrong password the fields hold %q, want the username only", got)
	}
	b.shot("wrong-password")

	b.loginAs("medico", "/medico")
	b.wantText("#current-user", "medico")
	// The icon browsers ask for is there (no 404 in the console).
	if st := run(b, "fetch the icon", evalFloat(`(() => { const x = new XMLHttpRequest(); x.open("GET", "/favicon.ico", false); x.send(); return x.status })()`)); st != 200 {
		t.Errorf("/favicon.ico: status %v", st)
	}
	b.logout()

	// The session is gone: a role page sends the browser to the login page.
	b.open("/medico")
	if p := b.path(); !strings.HasPrefix(p, "/login") {
		t.Errorf("after sign out /medico shows %s, want the login page", p)
	}
}

func TestLanguageSwitch(t *testing.T) {
	h := newHospital(t)
	b := openTab(t, h.URL, "admisionista")
	b.loginAs("admisionista", "/admisionista")

	// The browser asks for Spanish.
	if l := b.lang(); l != i18n.ES {
		t.Fatalf("page language %q, want es (Accept-Language)", l)
	}
	check := func(l i18n.Lang) {
		t.Helper()
		if got := b.lang(); got != l {
			t.Errorf("html lang = %q, want %q", got, l)
		}
		for sel, key := range map[string]string{"h1": "admisionista.title", "#logout": "layout.logout", "footer": "layout.footer"} {
			if got, want := strings.TrimSpace(b.mustText(sel)), i18n.Translate(l, key); got != want {
				t.Errorf("%s: %s shows %q, want %q", l, sel, got, want)
			}
		}
	}
	check(i18n.ES)
	for _, l := range []i18n.Lang{i18n.EN, i18n.ES} {
		if st := b.follow("switch to "+string(l), `.langs a[hreflang="`+string(l)+`"]`); st != 200 {
			t.Fatalf("switch to %s: status %d", l, st)
		}
		if p := b.path(); p != "/admisionista" {
			t.Errorf("the switch to %s went to %s, want to stay on /admisionista", l, p)
		}
		b.shot("lang-" + string(l))
		check(l)
	}
	// The choice outlives the page: the login page after sign out is in
	// the language chosen last.
	b.follow("switch to en", `.langs a[hreflang="en"]`)
	b.logout()
	if got, want := b.mustText("h1"), i18n.Translate(i18n.EN, "login.title"); got != want {
		t.Errorf("login page after sign out: h1 %q, want %q", got, want)
	}
}

func TestLoginWithoutJavaScript(t *testing.T) {
	h := newHospital(t)
	b := openTab(t, h.URL, "secretaria")
	b.disableScripts()
	b.open("/login")
	if b.scriptsEnabled() {
		t.Fatal("scripts still run after disabling them")
	}
	b.loginAs("secretaria", "/secretaria")
	if b.scriptsEnabled() {
		t.Fatal("scripts run on the page after login")
	}
	b.wantText("#current-role", i18n.Translate(i18n.ES, "role.secretaria"))
	// The language switch is a plain link, and sign out a plain form.
	b.follow("switch to en", `.langs a[hreflang="en"]`)
	if got, want := b.mustText("#logout"), i18n.Translate(i18n.EN, "layout.logout"); got != want {
		t.Errorf("without JavaScript the switch to English shows %q, want %q", got, want)
	}
	b.logout()
}

// TestLogoutRevokesTheStolenCookie: an access cookie copied before sign
// out (another browser, a stolen copy) no longer opens a page once the
// session has signed out. It used to work until the access token expired
// (5 minutes); revocation now takes effect at the next request.
func TestLogoutRevokesTheStolenCookie(t *testing.T) {
	h := newHospital(t)
	b := openTab(t, h.URL, "medico")
	b.loginAs("medico", "/medico")
	access := b.cookieValue(auth.DefaultAccessCookie)
	if access == "" {
		t.Fatal("no access cookie after sign-in")
	}
	b.logout()

	thief := openTab(t, h.URL, "thief")
	thief.setCookie(auth.DefaultAccessCookie, access)
	thief.open("/medico")
	if p := thief.path(); !strings.HasPrefix(p, "/login") {
		thief.shot("revoked-cookie-still-works")
		t.Fatalf("a copied access cookie of a signed-out session opens %s; want the login page", p)
	}
}

// cookieValue returns the value of the cookie called name, or "".
func (b *tab) cookieValue(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/"}})
	if err != nil {
		b.fail("read cookies", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setCookie sets a secure, HttpOnly cookie for the server, as the server
// would.
func (b *tab) setCookie(name, value string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	yes := true
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: name, Value: value, URL: b.base + "/",
		Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteStrict}); err != nil {
		b.fail("set cookie", err)
	}
}
