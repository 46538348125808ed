package server

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/auth"
)

// browserPost posts a form as the login page does (Accept: text/html).
func (f *fixture) browserPost(path string, cookies []*http.Cookie, form url.Values) *http.Response {
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "text/html")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return f.serve(r)
}

// passwordStep posts the login form of user.
func (f *fixture) passwordStep(user string) *http.Response {
	return f.browserPost("/auth", nil, url.Values{"username": {user}, "password": {testPassword}, "tenant": {f.a.TenantID}})
}

var (
	hiddenToken = regexp.MustCompile(`name="mfa_token" value="([^"]+)"`)
	secretText  = regexp.MustCompile(`<code id="mfa-secret">([A-Z2-7]+)</code>`)
	qrImage     = regexp.MustCompile(`<img id="mfa-qr" src="data:image/png;base64,([A-Za-z0-9+/=]+)"`)
	codeItem    = regexp.MustCompile(`<li><code>([^<]+)</code></li>`)
)

func match(t *testing.T, re *regexp.Regexp, page, what string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s on the page:\n%s", what, page)
	}
	return html.UnescapeString(m[1])
}

// totp computes the code of secret at now, as the user's app would.
func totp(t *testing.T, secret string, now time.Time) string {
	t.Helper()
	k, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return auth.TOTPCode(k, auth.TOTPStep(now), auth.TOTPDigits, auth.TOTPSHA1)
}

// enrolPage checks an enrolment page (a QR code PNG that decodes, the
// secret as text) and returns the secret.
func enrolPage(t *testing.T, page string) string {
	t.Helper()
	secret := match(t, secretText, page, "secret")
	b, err := base64.StdEncoding.DecodeString(match(t, qrImage, page, "QR code"))
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(b)); err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("the QR code is not a PNG image: %v", err)
	}
	return secret
}

// TestBrowserMFALogin: with a policy requiring a second factor for
// medico, the first login enrols (QR code and secret served, the first
// code computed from the secret, recovery codes shown once); later logins
// ask for the code on a second page (the mfa_token in a hidden field,
// never in a URL): a wrong code starts again from the password, a right
// one or a recovery code opens the home page. A role outside the policy
// logs in with the password alone.
func TestBrowserMFALogin(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	f := newFixtureWith(t, func(c *Config) { c.MFARoles = []string{"medico"}; c.Clock = clock; c.IdleTimeout = 30 * time.Minute })

	// Outside the policy: the password alone.
	if _, home := f.browserLogin(t, f.a.TenantID, "secretaria"); home != "/secretaria" {
		t.Fatalf("secretaria: %q", home)
	}

	// Enrolment at the first login.
	res := f.passwordStep("medico")
	page := body(t, res)
	if res.StatusCode != 200 || len(res.Cookies()) != 0 || res.Header.Get("Location") != "" {
		t.Fatalf("password step: %d, %d cookies, want 200 and no session yet", res.StatusCode, len(res.Cookies()))
	}
	secret := enrolPage(t, page)
	token := match(t, hiddenToken, page, "mfa_token")
	res = f.browserPost("/auth", nil, url.Values{"grant_type": {auth.GrantMFAOTP}, "mfa_token": {token}, "otp": {totp(t, secret, clock.Now())}})
	page = body(t, res)
	if res.StatusCode != 200 || len(res.Cookies()) == 0 {
		t.Fatalf("first code: %d, %d cookies", res.StatusCode, len(res.Cookies()))
	}
	codes := codeItem.FindAllStringSubmatch(page, -1)
	if len(codes) != auth.RecoveryCodeCount || !strings.Contains(page, `href="/medico"`) {
		t.Fatalf("want %d recovery codes and a link home, got %d", auth.RecoveryCodeCount, len(codes))
	}
	if res := f.get("/medico", res.Cookies(), ""); res.StatusCode != 200 {
		t.Fatalf("home after enrolment: %d", res.StatusCode)
	}

	// Later: password → code page.
	login := func() string {
		t.Helper()
		res := f.passwordStep("medico")
		page := body(t, res)
		if res.StatusCode != 200 || len(res.Cookies()) != 0 || !strings.Contains(page, `name="otp"`) || strings.Contains(page, "mfa-qr") {
			t.Fatalf("password step: %d, want the code page", res.StatusCode)
		}
		return match(t, hiddenToken, page, "mfa_token")
	}
	clock.Add(30 * time.Second)
	tok := login()
	res = f.browserPost("/auth", nil, url.Values{"grant_type": {auth.GrantMFAOTP}, "mfa_token": {tok}, "otp": {"000000"}})
	if b := body(t, res); res.StatusCode != 401 || len(res.Cookies()) != 0 || !strings.Contains(b, `id="username"`) {
		t.Fatalf("wrong code: %d, want 401 and the login form again", res.StatusCode)
	}
	// The spent token is refused even with the right code.
	res = f.browserPost("/auth", nil, url.Values{"grant_type": {auth.GrantMFAOTP}, "mfa_token": {tok}, "otp": {totp(t, secret, clock.Now())}})
	if res.StatusCode != 401 || len(res.Cookies()) != 0 {
		t.Fatalf("spent mfa_token: %d", res.StatusCode)
	}
	tok = login()
	res = f.browserPost("/auth", nil, url.Values{"grant_type": {auth.GrantMFAOTP}, "mfa_token": {tok}, "otp": {totp(t, secret, clock.Now())}})
	if res.StatusCode != 303 || res.Header.Get("Location") != "/medico" || len(res.Cookies()) == 0 {
		t.Fatalf("right code: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if strings.Contains(res.Header.Get("Location"), tok) {
		t.Fatal("the mfa_token is in a URL")
	}
	// A recovery code, once.
	rc := html.UnescapeString(codes[0][1])
	res = f.browserPost("/auth", nil, url.Values{"grant_type": {auth.GrantMFAOTP}, "mfa_token": {login()}, "recovery_code": {rc}})
	if res.StatusCode != 303 || res.Header.Get("Location") != "/medico" {
		t.Fatalf("recovery code: %d", res.StatusCode)
	}
	res = f.browserPost("/auth", nil, url.Values{"grant_type": {auth.GrantMFAOTP}, "mfa_token": {login()}, "recovery_code": {rc}})
	if res.StatusCode != 401 {
		t.Fatalf("recovery code used twice: %d", res.StatusCode)
	}
	f.noPHI(t, secret, rc, tok)
}

// TestAccountPageEnrolsTOTP: a user outside the policy turns the second
// factor on from /cuenta (QR code, first code, recovery codes); from
// then on the login asks for it.
func TestAccountPageEnrolsTOTP(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	f := newFixtureWith(t, func(c *Config) { c.Clock = clock; c.IdleTimeout = 30 * time.Minute })
	cookies, _ := f.browserLogin(t, f.a.TenantID, "secretaria")
	page := body(t, f.get("/cuenta", cookies, ""))
	if !strings.Contains(page, `data-enrolled="false"`) || !strings.Contains(page, `action="/cuenta/mfa"`) {
		t.Fatalf("account page before:\n%s", page)
	}
	res := f.post("/cuenta/mfa", cookies, url.Values{})
	page = body(t, res)
	if res.StatusCode != 200 {
		t.Fatalf("enrol: %d", res.StatusCode)
	}
	if enrolPage(t, page) == "" {
		t.Fatal("the enrolment page shows no secret")
	}
	var secret string
	if res := f.post("/cuenta/mfa/confirmar", cookies, url.Values{"otp": {"000000"}}); res.StatusCode != 422 {
		t.Fatalf("wrong first code: %d, want 422 and a new secret", res.StatusCode)
	} else {
		secret = enrolPage(t, body(t, res))
	}
	res = f.post("/cuenta/mfa/confirmar", cookies, url.Values{"otp": {totp(t, secret, clock.Now())}})
	page = body(t, res)
	if res.StatusCode != 200 || len(codeItem.FindAllString(page, -1)) != auth.RecoveryCodeCount {
		t.Fatalf("confirm: %d", res.StatusCode)
	}
	if page := body(t, f.get("/cuenta", cookies, "")); !strings.Contains(page, `data-enrolled="true"`) {
		t.Fatal("account page after: MFA not on")
	}
	if res := f.passwordStep("secretaria"); res.StatusCode != 200 || !strings.Contains(body(t, res), `name="mfa_token"`) {
		t.Fatalf("login after enrolment: %d, want the code page", res.StatusCode)
	}
	f.noPHI(t, secret)
}

// TestReauthForSensitiveActions: a password reset and break-the-glass
// need a proof of the password or second factor within 5 minutes. A fresh
// session may; an older one gets the re-authentication form (browser) or
// 401 reauth_required (API) until it re-authenticates, by the form (which
// then completes the action) or POST /api/v1/reauth (a new access token).
func TestReauthForSensitiveActions(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	f := newFixtureWith(t, func(c *Config) { c.Clock = clock; c.IdleTimeout = 30 * time.Minute })
	med, err := demoUser(f, "medico")
	if err != nil {
		t.Fatal(err)
	}
	cookies, _ := f.browserLogin(t, f.a.TenantID, "admin")
	reset := func(pw string) *http.Response {
		return f.browserPost("/admin/usuarios/"+med.ID+"/clave", cookies, url.Values{"password": {pw}})
	}
	if res := reset("una-clave-nueva-muy-larga-1"); res.StatusCode != 303 {
		t.Fatalf("fresh admin session, reset: %d, want 303", res.StatusCode)
	}
	// Six minutes later (the access cookie is refreshed; auth_time is not).
	clock.Add(6 * time.Minute)
	res := reset("una-clave-nueva-muy-larga-2")
	page := body(t, res)
	if res.StatusCode != 401 || !strings.Contains(page, `name="reauth_secret"`) || strings.Contains(page, "una-clave-nueva-muy-larga-2") {
		t.Fatalf("old session, reset: %d, want 401 and the re-authentication form (without the new password)", res.StatusCode)
	}
	cookies = merge(cookies, res.Cookies())
	res = f.browserPost("/admin/usuarios/"+med.ID+"/clave", cookies, url.Values{"reauth_secret": {"wrong-password"}})
	if b := body(t, res); res.StatusCode != 401 || !strings.Contains(b, `id="reauth-error"`) {
		t.Fatalf("wrong re-auth password: %d", res.StatusCode)
	}
	res = f.browserPost("/admin/usuarios/"+med.ID+"/clave", cookies, url.Values{"reauth_secret": {testPassword}})
	if res.StatusCode != 422 || len(res.Cookies()) == 0 {
		t.Fatalf("re-authenticated: %d, want the reset form again asking for the new password (422) and a new cookie", res.StatusCode)
	}
	cookies = merge(cookies, res.Cookies())
	if res := reset("una-clave-nueva-muy-larga-3"); res.StatusCode != 303 {
		t.Fatalf("after re-auth, reset: %d", res.StatusCode)
	}

	// Break-the-glass by the API: a fresh token may; a refreshed one
	// with an old auth_time may not until POST /api/v1/reauth.
	pw := "una-clave-nueva-muy-larga-3"
	form := url.Values{"username": {"medico"}, "password": {pw}, "tenant": {f.a.TenantID}}
	r := httptest.NewRequest("POST", "/auth", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(f.serve(r).Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("medico token: %v", err)
	}
	p1, p2 := f.newPatient(t, "88888888C", "Goikoetxea"), f.newPatient(t, "99999999D", "Etxeberria")
	glass := map[string]any{"reason": "Parada cardiorrespiratoria en urgencias"}
	if code := f.api(t, "POST", "/api/v1/patients/"+p1+"/break-glass", tok.AccessToken, glass, nil); code != 201 {
		t.Fatalf("fresh token, break-glass: %d", code)
	}
	clock.Add(6 * time.Minute)
	form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
	r = httptest.NewRequest("POST", "/auth", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := json.NewDecoder(f.serve(r).Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("refresh: %v", err)
	}
	b, _ := json.Marshal(glass)
	r = httptest.NewRequest("POST", "/api/v1/patients/"+p2+"/break-glass", bytes.NewReader(b))
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	r.Header.Set("Content-Type", "application/json")
	res = f.serve(r)
	var apiErr struct{ Error string }
	_ = json.NewDecoder(res.Body).Decode(&apiErr)
	if res.StatusCode != 401 || apiErr.Error != "reauth_required" || !strings.Contains(res.Header.Get("WWW-Authenticate"), "insufficient_user_authentication") {
		t.Fatalf("old auth_time, break-glass: %d %q %q", res.StatusCode, apiErr.Error, res.Header.Get("WWW-Authenticate"))
	}
	if code := f.api(t, "POST", "/api/v1/reauth", tok.AccessToken, map[string]string{"password": "wrong-password"}, nil); code != 401 {
		t.Fatalf("reauth with a wrong password: %d", code)
	}
	var fresh struct {
		AccessToken string `json:"access_token"`
	}
	if code := f.api(t, "POST", "/api/v1/reauth", tok.AccessToken, map[string]string{"password": pw}, &fresh); code != 200 || fresh.AccessToken == "" {
		t.Fatalf("reauth: %d", code)
	}
	if code := f.api(t, "POST", "/api/v1/patients/"+p2+"/break-glass", fresh.AccessToken, glass, nil); code != 201 {
		t.Fatalf("after reauth, break-glass: %d", code)
	}
	f.noPHI(t, pw, testPassword)
}
