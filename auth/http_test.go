package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func postForm(h http.Handler, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/auth", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = "198.51.100.7:4321"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decodeJSON(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	return m
}

func TestTokenHandlerPasswordAndRefreshGrants(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "ana", "medico")
	h := e.svc.TokenHandler()

	w := postForm(h, url.Values{"username": {"ana"}, "password": {password}}.Encode()) // FastAPI form: no grant_type
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	m := decodeJSON(t, w)
	if m["token_type"] != "bearer" || m["expires_in"] != float64(300) || m["access_token"] == "" || m["refresh_token"] == "" || len(m) != 4 {
		t.Fatalf("answer %v", m)
	}
	if _, err := e.svc.Verify(m["access_token"].(string)); err != nil {
		t.Fatal(err)
	}
	w = postForm(h, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}.Encode())
	if w.Code != 200 {
		t.Fatalf("refresh grant %d %s", w.Code, w.Body)
	}
	m2 := decodeJSON(t, w)
	if m2["refresh_token"] == m["refresh_token"] {
		t.Fatal("not rotated")
	}
	// Same answer for every credential failure.
	var bodies []string
	for _, f := range []url.Values{
		{"username": {"ana"}, "password": {"wrong password!!"}},
		{"username": {"nadie"}, "password": {"wrong password!!"}},
		{"username": {"ana"}, "password": {password}, "tenant": {"otro"}},
	} {
		w := postForm(h, f.Encode())
		if w.Code != 400 || decodeJSON(t, w)["error"] != "invalid_grant" || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%v: %d %s", f, w.Code, w.Body)
		}
		bodies = append(bodies, w.Body.String())
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Fatalf("answers differ: %q", bodies)
	}
	e.clock.Advance(DefaultRefreshGrace + time.Second) // past the grace for concurrent requests
	w = postForm(h, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}.Encode())
	if w.Code != 400 || decodeJSON(t, w)["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %s", w.Code, w.Body)
	}
}

func TestTokenHandlerRequestErrors(t *testing.T) {
	e := newEnv(t)
	h := e.svc.TokenHandler()
	for _, tc := range []struct {
		body, code string
		status     int
	}{
		{"grant_type=client_credentials", "unsupported_grant_type", 400},
		{"grant_type=authorization_code&code=x", "unsupported_grant_type", 400},
		{"username=ana", "invalid_request", 400},
		{"password=x", "invalid_request", 400},
		{"username=ana&username=bob&password=x", "invalid_request", 400},
		{"grant_type=refresh_token", "invalid_request", 400},
		{"username=%zz&password=x", "invalid_request", 400},
		{"username=ana&password=" + strings.Repeat("a", 9000), "invalid_request", 413},
	} {
		w := postForm(h, tc.body)
		if w.Code != tc.status || decodeJSON(t, w)["error"] != tc.code || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%.40q: %d %s", tc.body, w.Code, w.Body)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/auth?username=ana&password=x", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 405 || w.Header().Get("Allow") != "POST" {
		t.Fatalf("GET: %d", w.Code)
	}
	r = httptest.NewRequest(http.MethodPost, "/auth", strings.NewReader(`{"username":"ana"}`))
	r.Header.Set("Content-Type", "application/json")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 400 {
		t.Fatalf("JSON body: %d", w.Code)
	}
	r = httptest.NewRequest(http.MethodPost, "/auth?password=x", strings.NewReader("username=ana"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 400 {
		t.Fatalf("password in query: %d", w.Code)
	}
}

// TestTokenHandlerMalformedText: the probe's POST /auth with a NUL byte or
// invalid UTF-8 in username or tenant answered 500 with a PostgreSQL
// encoding error and no security event. It is the generic invalid_grant.
func TestTokenHandlerMalformedText(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limiter = allowAll{} })
	e.createUser(t, "medico", "medico")
	h := e.svc.TokenHandler()
	for _, body := range []string{
		"username=med%00ico&password=" + url.QueryEscape(password),
		"username=medico&tenant=a%00b&password=" + url.QueryEscape(password),
		"username=medico&tenant=%FF&password=" + url.QueryEscape(password),
	} {
		w := postForm(h, body)
		if w.Code != http.StatusBadRequest || decodeJSON(t, w)["error"] != "invalid_grant" {
			t.Errorf("%q: %d %s; want 400 invalid_grant", body, w.Code, w.Body)
		}
	}
	evs, err := Events(context.Background(), e.pool, tenant, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Kind == EventLoginFailed && ev.Detail == "malformed_input" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d malformed_input security events; want 3", n)
	}
}

func TestTokenHandlerRateLimited(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limiter = NewRateLimiter(1, time.Minute, c.Clock) })
	h := e.svc.TokenHandler()
	postForm(h, "username=ana&password=whatever1234")
	w := postForm(h, "username=ana&password=whatever1234")
	if w.Code != 429 || w.Header().Get("Retry-After") == "" || decodeJSON(t, w)["error"] != "temporarily_unavailable" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestTokenHandlerBrowserHook(t *testing.T) {
	e := newEnv(t, func(c *Config) {})
	e.svc.cfg.OnLogin = func(w http.ResponseWriter, r *http.Request, t Tokens) {
		e.svc.SetSessionCookies(w, t)
		http.Redirect(w, r, "/medico", http.StatusSeeOther)
	}
	e.createUser(t, "ana", "medico")
	w := postForm(e.svc.TokenHandler(), "username=ana&password="+url.QueryEscape(password))
	if w.Code != 303 || w.Header().Get("Location") != "/medico" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 2 {
		t.Fatalf("cookies %v", cookies)
	}
	for _, c := range cookies {
		if !strings.HasPrefix(c.Name, "__Host-") || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.MaxAge <= 0 {
			t.Errorf("cookie %+v", c)
		}
	}
	if cookies[0].MaxAge != int(DefaultAccessTTL/time.Second) || cookies[1].MaxAge != int(DefaultSessionLimit/time.Second) {
		t.Errorf("lifetimes %d %d", cookies[0].MaxAge, cookies[1].MaxAge)
	}
}

func protected(e *env) (http.Handler, *Identity) {
	var got Identity
	return e.svc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := FromContext(r.Context())
		if !ok {
			panic("no identity")
		}
		got = id
		w.WriteHeader(204)
	})), &got
}

func TestMiddlewareBearer(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.createUser(t, "ana", "medico")
	tok, _ := e.svc.Login(ctx, tenant, "ana", password, "")
	h, got := protected(e)
	do := func(auth ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/patients", nil)
		for _, a := range auth {
			r.Header.Add("Authorization", a)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do("Bearer " + tok.AccessToken); w.Code != 204 || got.UserID != u.ID || got.Tenant != tenant || got.SessionID != tok.Identity.SessionID {
		t.Fatalf("%d %+v", w.Code, *got)
	}
	if w := do("bearer " + tok.AccessToken); w.Code != 204 {
		t.Fatalf("scheme is case-insensitive: %d", w.Code)
	}
	for _, tc := range []struct {
		auth   []string
		status int
		chal   string
	}{
		{nil, 401, `Bearer realm="historia"`},
		{[]string{"Basic YW5hOnB3"}, 401, `Bearer realm="historia"`},
		{[]string{"Bearer " + tok.AccessToken + "x"}, 401, `Bearer realm="historia", error="invalid_token", error_description="invalid token"`},
		{[]string{"Bearer"}, 400, `Bearer realm="historia", error="invalid_request", error_description="malformed bearer token"`},
		{[]string{"Bearer a b"}, 400, `Bearer realm="historia", error="invalid_request", error_description="malformed bearer token"`},
		{[]string{"Bearer " + tok.AccessToken, "Bearer " + tok.AccessToken}, 400, `Bearer realm="historia", error="invalid_request", error_description="more than one Authorization header"`},
	} {
		w := do(tc.auth...)
		if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.chal {
			t.Errorf("%.30q: %d %q", tc.auth, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	e.clock.Advance(time.Hour)
	if w := do("Bearer " + tok.AccessToken); w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error_description="token expired"`) {
		t.Fatalf("expired: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestMiddlewareCookieSessionRefreshesTransparently(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createUser(t, "ana", "medico")
	tok, _ := e.svc.Login(ctx, tenant, "ana", password, "")
	rec := httptest.NewRecorder()
	e.svc.SetSessionCookies(rec, tok)
	jar := rec.Result().Cookies()
	h, got := protected(e)
	do := func(cookies []*http.Cookie) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/medico", nil)
		for _, c := range cookies {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do(jar); w.Code != 204 || got.TokenID != tok.Identity.TokenID {
		t.Fatalf("cookie session: %d", w.Code)
	}
	// The access token expires; the browser still sends both cookies (or
	// has dropped the access cookie): the middleware refreshes.
	e.clock.Advance(DefaultAccessTTL + DefaultLeeway + time.Second)
	for _, cookies := range [][]*http.Cookie{jar, jar[1:]} {
		w := do(cookies)
		if w.Code != 204 || got.SessionID != tok.Identity.SessionID {
			t.Fatalf("transparent refresh: %d %s", w.Code, w.Header())
		}
		fresh := w.Result().Cookies()
		if len(fresh) == 0 || fresh[0].Name != DefaultAccessCookie {
			t.Fatalf("no new cookies: %v", fresh)
		}
		if len(fresh) == 2 {
			jar = fresh
		}
	}
	// Logout through the handler clears the cookies and ends the session.
	r := httptest.NewRequest(http.MethodPost, "/logout", nil)
	for _, c := range jar {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	w := httptest.NewRecorder()
	e.svc.LogoutHandler().ServeHTTP(w, r)
	if w.Code != 204 || len(w.Result().Cookies()) != 2 || w.Result().Cookies()[0].MaxAge >= 0 {
		t.Fatalf("logout: %d %v", w.Code, w.Result().Cookies())
	}
	e.clock.Advance(DefaultAccessTTL + DefaultLeeway + time.Second)
	w = do(jar)
	if w.Code != 401 {
		t.Fatalf("after logout: %d", w.Code)
	}
	if _, err := e.svc.Refresh(ctx, jar[1].Value, ""); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatal(err)
	}
}

func TestMiddlewareOnUnauthorizedHook(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.OnUnauthorized = func(w http.ResponseWriter, r *http.Request, err error) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		}
	})
	h, _ := protected(e)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/medico", nil))
	if w.Code != 303 || w.Header().Get("Location") != "/login" {
		t.Fatalf("%d", w.Code)
	}
}

func TestJWKSHandler(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	svc, err := NewService(nil, e.keys, Config{Issuer: testIss, Audience: testAud, Hasher: NewArgon2id(cheapParams)})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	svc.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	var doc JWKS
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || len(doc.Keys) != 1 || doc.Keys[0].Kid != e.key.ID() {
		t.Fatalf("%s %v", w.Body, err)
	}
}

func FuzzAuthForm(f *testing.F) {
	for _, s := range []string{
		"username=ana&password=secret",
		"grant_type=password&username=ana&password=secret&tenant=h1",
		"grant_type=refresh_token&refresh_token=abc",
		"grant_type=client_credentials",
		"username=ana&username=bob&password=x",
		"username=%zz",
		"username=a%00b&password=%ff%fe",
		"=&=&&&",
		";;username=ana;password=x",
		"username=" + strings.Repeat("a", 300) + "&password=x",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/auth", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req, err := ParseTokenRequest(r)
		if err != nil {
			var oe *OAuthError
			if !errors.As(err, &oe) || oe.Code == "" || oe.Status < 400 {
				t.Fatalf("bad error %#v", err)
			}
			return
		}
		switch req.GrantType {
		case GrantPassword:
			if req.Username == "" || req.Password == "" || req.RefreshToken != "" || len(req.Password) > 4*MaxPasswordLength {
				t.Fatalf("%+v", req)
			}
		case GrantRefreshToken:
			if req.RefreshToken == "" || req.Password != "" {
				t.Fatalf("%+v", req)
			}
		default:
			t.Fatalf("grant %q accepted", req.GrantType)
		}
		if len(body) > maxFormBytes {
			t.Fatal("oversized body accepted")
		}
		_ = utf8.ValidString(req.Username)
	})
}
