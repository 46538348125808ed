package auth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Default cookie names. The __Host- prefix makes browsers insist on
// Secure, Path=/ and no Domain, so no sibling host can plant or read them.
const (
	DefaultAccessCookie  = "__Host-historia_session"
	DefaultRefreshCookie = "__Host-historia_refresh"
)

// CookieConfig names the session cookies. Both are HttpOnly, Secure,
// SameSite=Strict and Path=/: the access cookie carries the access token
// and lives as long as it; the refresh cookie carries the refresh token and
// lives until the session's absolute limit.
type CookieConfig struct {
	// Access names the access-token cookie (DefaultAccessCookie).
	Access string
	// Refresh names the refresh-token cookie (DefaultRefreshCookie).
	Refresh string
}

func (c CookieConfig) withDefaults() CookieConfig {
	if c.Access == "" {
		c.Access = DefaultAccessCookie
	}
	if c.Refresh == "" {
		c.Refresh = DefaultRefreshCookie
	}
	return c
}

func sessionCookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}
}

// SetSessionCookies writes the cookies of a browser session for t, as
// after a login. A refresh inside the grace period (no refresh token) only
// renews the access cookie.
func (s *Service) SetSessionCookies(w http.ResponseWriter, t Tokens) {
	now := s.clock.Now()
	http.SetCookie(w, sessionCookie(s.cfg.Cookies.Access, t.AccessToken, max(1, int(t.AccessExpiresAt.Sub(now)/time.Second))))
	if t.RefreshToken != "" {
		http.SetCookie(w, sessionCookie(s.cfg.Cookies.Refresh, t.RefreshToken, max(1, int(t.SessionExpiresAt.Sub(now)/time.Second))))
	}
}

// ClearSessionCookies tells the browser to drop both session cookies.
func (s *Service) ClearSessionCookies(w http.ResponseWriter) {
	http.SetCookie(w, sessionCookie(s.cfg.Cookies.Access, "", -1))
	http.SetCookie(w, sessionCookie(s.cfg.Cookies.Refresh, "", -1))
}

// ClientIP returns the client address of r as configured (Config.ClientIP).
func (s *Service) ClientIP(r *http.Request) string { return s.cfg.ClientIP(r) }

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// bearerError is an RFC 6750 §3 error.
type bearerError struct {
	status int
	code   string // "", "invalid_request", "invalid_token"
	desc   string
	err    error
}

func (e *bearerError) Error() string { return "auth: " + e.code + ": " + e.desc }
func (e *bearerError) Unwrap() error { return e.err }

// Middleware authenticates every request: an "Authorization: Bearer"
// access token, or else the session cookies. A browser whose access
// cookie is missing or expired but whose refresh cookie is valid is
// refreshed transparently (new cookies are set on the response). The
// Identity goes into the request context (FromContext). A request without
// valid credentials is answered 401 with "WWW-Authenticate: Bearer" and an
// RFC 6750 error code (400 for a malformed Authorization header), or by
// Config.OnUnauthorized.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.Authenticate(w, r)
		if err != nil {
			s.unauthorized(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}

// Authenticate finds the identity of r as Middleware does, refreshing a
// browser session through w when needed. Its errors wrap ErrInvalidToken
// or ErrInvalidRefreshToken when credentials were given but refused.
func (s *Service) Authenticate(w http.ResponseWriter, r *http.Request) (Identity, error) {
	if h := r.Header.Values("Authorization"); len(h) > 0 {
		if len(h) > 1 {
			return Identity{}, &bearerError{status: http.StatusBadRequest, code: "invalid_request", desc: "more than one Authorization header"}
		}
		scheme, tok, _ := strings.Cut(h[0], " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return Identity{}, &bearerError{status: http.StatusUnauthorized, desc: "bearer token required"}
		}
		tok = strings.TrimLeft(tok, " ")
		if tok == "" || strings.ContainsAny(tok, " \t") {
			return Identity{}, &bearerError{status: http.StatusBadRequest, code: "invalid_request", desc: "malformed bearer token"}
		}
		c, err := s.issuer.verify(tok, s.sigs)
		if err != nil {
			return Identity{}, &bearerError{status: http.StatusUnauthorized, code: "invalid_token", desc: tokenErrorDesc(err), err: err}
		}
		id := c.Identity()
		if err := s.CheckSession(r.Context(), id); err != nil {
			if errors.Is(err, ErrUnavailable) {
				return Identity{}, unavailable(err)
			}
			return Identity{}, &bearerError{status: http.StatusUnauthorized, code: "invalid_token", desc: tokenErrorDesc(err), err: err}
		}
		return id, nil
	}
	var verr error
	if ck, err := r.Cookie(s.cfg.Cookies.Access); err == nil && ck.Value != "" {
		c, err := s.issuer.verify(ck.Value, s.sigs)
		if err == nil {
			id := c.Identity()
			if err = s.CheckSession(r.Context(), id); err == nil {
				return id, nil
			}
			if errors.Is(err, ErrUnavailable) {
				// Neither refresh nor log out a browser for an outage:
				// its cookies stay, and it retries.
				return Identity{}, unavailable(err)
			}
		}
		verr = err
	}
	if ck, err := r.Cookie(s.cfg.Cookies.Refresh); err == nil && ck.Value != "" {
		t, err := s.Refresh(r.Context(), ck.Value, s.cfg.ClientIP(r))
		if err == nil {
			s.SetSessionCookies(w, t)
			return t.Identity, nil
		}
		s.ClearSessionCookies(w)
		return Identity{}, &bearerError{status: http.StatusUnauthorized, code: "invalid_token", desc: "session ended", err: err}
	}
	if verr != nil {
		return Identity{}, &bearerError{status: http.StatusUnauthorized, code: "invalid_token", desc: tokenErrorDesc(verr), err: verr}
	}
	return Identity{}, &bearerError{status: http.StatusUnauthorized, desc: "authentication required"}
}

// unavailable is the refusal of a request whose session could not be
// checked (ErrUnavailable): 503, without a challenge to sign in again.
func unavailable(err error) *bearerError {
	return &bearerError{status: http.StatusServiceUnavailable, desc: "session check unavailable", err: err}
}

func tokenErrorDesc(err error) string {
	if errors.Is(err, ErrTokenExpired) {
		return "token expired"
	}
	if errors.Is(err, ErrSessionRevoked) {
		return "session ended"
	}
	return "invalid token"
}

func (s *Service) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	if s.cfg.OnUnauthorized != nil {
		s.cfg.OnUnauthorized(w, r, err)
		return
	}
	var be *bearerError
	if !errors.As(err, &be) {
		be = &bearerError{status: http.StatusUnauthorized, code: "invalid_token", desc: "invalid token"}
	}
	if be.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
		http.Error(w, http.StatusText(be.status), be.status)
		return
	}
	WriteBearerChallenge(w, be.status, be.code, be.desc)
}

// WriteBearerChallenge answers with status and an RFC 6750
// "WWW-Authenticate: Bearer" challenge; code (invalid_request,
// invalid_token, insufficient_scope) may be empty when no credentials were
// sent.
func WriteBearerChallenge(w http.ResponseWriter, status int, code, description string) {
	v := `Bearer realm="historia"`
	if code != "" {
		v += `, error="` + code + `"`
		if description != "" {
			v += `, error_description="` + description + `"`
		}
	}
	w.Header().Set("WWW-Authenticate", v)
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(status), status)
}

// Grant types of the token endpoint.
const (
	GrantPassword     = "password"
	GrantRefreshToken = "refresh_token"
	// GrantMFAOTP is the second step of a login answered mfa_required:
	// mfa_token with otp, or with recovery_code.
	GrantMFAOTP = "urn:historia:params:oauth:grant-type:mfa-otp"
	// GrantAuth0MFAOTP and GrantAuth0MFARecoveryCode are Auth0's names of
	// the same step, accepted so that clients written for Auth0 work.
	GrantAuth0MFAOTP          = "http://auth0.com/oauth/grant-type/mfa-otp"
	GrantAuth0MFARecoveryCode = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
)

// TokenRequest is a parsed request to the token endpoint.
type TokenRequest struct {
	GrantType    string // GrantPassword, GrantRefreshToken or GrantMFAOTP (Auth0's names become GrantMFAOTP)
	Username     string // password grant
	Password     string // password grant
	Tenant       string // password grant; empty for the default tenant
	RefreshToken string // refresh_token grant
	MFAToken     string // mfa-otp grant
	OTP          string // mfa-otp grant: a TOTP code, or
	RecoveryCode string // mfa-otp grant: a recovery code
}

// OAuthError is an RFC 6749 §5.2 error answer.
type OAuthError struct {
	Status      int    `json:"-"`                           // HTTP status
	Code        string `json:"error"`                       // e.g. invalid_grant
	Description string `json:"error_description,omitempty"` // for developers, never user-specific
}

// Error returns the error code and description.
func (e *OAuthError) Error() string { return "auth: " + e.Code + ": " + e.Description }

// maxFormBytes bounds the token endpoint's body.
const maxFormBytes = 8 << 10

func invalidRequest(desc string) *OAuthError {
	return &OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}

// ParseTokenRequest reads an OAuth 2 token request: POST, form-encoded
// body of at most 8 KiB, each parameter at most once (RFC 6749 §3.2),
// credentials only in the body. grant_type defaults to "password", as
// FastAPI's OAuth2PasswordRequestForm allows. It returns an *OAuthError.
func ParseTokenRequest(r *http.Request) (TokenRequest, error) {
	if r.Method != http.MethodPost {
		return TokenRequest{}, &OAuthError{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "POST required"}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return TokenRequest{}, invalidRequest("form-encoded body required")
	}
	if r.URL.RawQuery != "" {
		return TokenRequest{}, invalidRequest("parameters belong in the body")
	}
	body := make([]byte, maxFormBytes+1)
	n := 0
	for n < len(body) {
		m, err := r.Body.Read(body[n:])
		n += m
		if err != nil {
			break
		}
	}
	if n > maxFormBytes {
		return TokenRequest{}, &OAuthError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "body too large"}
	}
	return parseTokenForm(string(body[:n]))
}

func parseTokenForm(body string) (TokenRequest, error) {
	form, err := url.ParseQuery(body)
	if err != nil {
		return TokenRequest{}, invalidRequest("malformed form")
	}
	get := func(k string) (string, error) {
		v := form[k]
		if len(v) > 1 {
			return "", invalidRequest("parameter " + k + " repeated")
		}
		if len(v) == 0 {
			return "", nil
		}
		return v[0], nil
	}
	var t TokenRequest
	for _, f := range []struct {
		name string
		dst  *string
	}{{"grant_type", &t.GrantType}, {"username", &t.Username}, {"password", &t.Password}, {"tenant", &t.Tenant}, {"refresh_token", &t.RefreshToken},
		{"mfa_token", &t.MFAToken}, {"otp", &t.OTP}, {"recovery_code", &t.RecoveryCode}} {
		if *f.dst, err = get(f.name); err != nil {
			return TokenRequest{}, err
		}
	}
	if t.GrantType == "" {
		t.GrantType = GrantPassword
	}
	switch t.GrantType {
	case GrantPassword:
		if t.Username == "" || t.Password == "" {
			return TokenRequest{}, invalidRequest("username and password required")
		}
		if len(t.Password) > 4*MaxPasswordLength || len(t.Username) > 4*maxUsernameLen || len(t.Tenant) > 4*maxTenantLen {
			return TokenRequest{}, invalidRequest("parameter too long")
		}
		t.RefreshToken, t.MFAToken, t.OTP, t.RecoveryCode = "", "", "", ""
	case GrantRefreshToken:
		if t.RefreshToken == "" {
			return TokenRequest{}, invalidRequest("refresh_token required")
		}
		t.Username, t.Password, t.Tenant, t.MFAToken, t.OTP, t.RecoveryCode = "", "", "", "", "", ""
	case GrantMFAOTP, GrantAuth0MFAOTP, GrantAuth0MFARecoveryCode:
		switch {
		case t.GrantType == GrantAuth0MFAOTP && t.RecoveryCode != "", t.GrantType == GrantAuth0MFARecoveryCode && t.OTP != "":
			return TokenRequest{}, invalidRequest("wrong code parameter for grant_type")
		case t.MFAToken == "" || (t.OTP == "") == (t.RecoveryCode == ""):
			return TokenRequest{}, invalidRequest("mfa_token and one of otp, recovery_code required")
		case len(t.MFAToken) > 128 || len(t.OTP) > 16 || len(t.RecoveryCode) > 32:
			return TokenRequest{}, invalidRequest("parameter too long")
		}
		t.GrantType = GrantMFAOTP
		t.Username, t.Password, t.Tenant, t.RefreshToken = "", "", "", ""
	default:
		return TokenRequest{}, &OAuthError{Status: http.StatusBadRequest, Code: "unsupported_grant_type"}
	}
	return t, nil
}

// WriteOAuthError writes e as RFC 6749 error JSON, not cacheable.
func WriteOAuthError(w http.ResponseWriter, e *OAuthError) {
	noStore(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e)
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// TokenHandler serves the token endpoint, the original system's
// "POST /auth": form fields username, password and tenant (or the
// configured default tenant), grant_type "password" (the default),
// "refresh_token" with refresh_token, or GrantMFAOTP (or Auth0's mfa-otp
// and mfa-recovery-code names) with mfa_token and otp or recovery_code.
// When the password is right but a second factor is due, it answers 400
// with an MFARequiredAnswer ({"error":"mfa_required","mfa_token",
// "mfa_methods",...}); see the package documentation for the flow. It answers
// {"access_token", "token_type": "bearer", "expires_in", "refresh_token"}
// — or, when Config.OnLogin is set, lets it answer (set cookies and
// redirect a browser). Errors are RFC 6749 JSON: invalid_request,
// invalid_grant (any credential failure, one message),
// unsupported_grant_type; a rate-limited client gets 429 with Retry-After.
// Every answer has Cache-Control: no-store.
func (s *Service) TokenHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := ParseTokenRequest(r)
		if err != nil {
			var oe *OAuthError
			errors.As(err, &oe)
			if oe.Status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", http.MethodPost)
			}
			WriteOAuthError(w, oe)
			return
		}
		ip := s.cfg.ClientIP(r)
		var t Tokens
		switch req.GrantType {
		case GrantPassword:
			t, err = s.Login(r.Context(), req.Tenant, req.Username, req.Password, ip)
		case GrantRefreshToken:
			t, err = s.Refresh(r.Context(), req.RefreshToken, ip)
		case GrantMFAOTP:
			t, err = s.LoginMFA(r.Context(), req.MFAToken, req.OTP, req.RecoveryCode, ip)
		}
		var mfa *MFARequiredError
		switch {
		case err == nil:
		case errors.As(err, &mfa):
			writeMFARequired(w, mfa)
			return
		case errors.Is(err, ErrInvalidMFAToken):
			WriteOAuthError(w, &OAuthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "invalid or expired mfa_token"})
			return
		case errors.Is(err, ErrRateLimited):
			w.Header().Set("Retry-After", strconv.Itoa(int(DefaultRatePeriod/time.Second)))
			WriteOAuthError(w, &OAuthError{Status: http.StatusTooManyRequests, Code: "temporarily_unavailable", Description: "too many attempts"})
			return
		case errors.Is(err, ErrInvalidCredentials):
			WriteOAuthError(w, &OAuthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "invalid username or password"})
			return
		case errors.Is(err, ErrInvalidRefreshToken):
			WriteOAuthError(w, &OAuthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "invalid refresh token"})
			return
		default:
			s.log.LogAttrs(r.Context(), slog.LevelError, "auth: token endpoint", slog.String("error", err.Error()))
			WriteOAuthError(w, &OAuthError{Status: http.StatusInternalServerError, Code: "server_error"})
			return
		}
		noStore(w)
		if s.cfg.OnLogin != nil {
			s.cfg.OnLogin(w, r, t)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(t)
	})
}

// MFARequiredAnswer is the token endpoint's answer when a second factor
// is due (status 400, like every RFC 6749 §5.2 error): the client sends
// MFAToken back with grant_type GrantMFAOTP and otp or recovery_code.
type MFARequiredAnswer struct {
	Error       string   `json:"error"` // "mfa_required"
	Description string   `json:"error_description"`
	MFAToken    string   `json:"mfa_token"`
	Methods     []string `json:"mfa_methods"`
	// Enroll: the user has no second factor yet and must enrol: POST
	// mfa_token to MFAAssociateHandler for the secret, then the mfa-otp
	// grant with the first code.
	Enroll    bool `json:"mfa_enrollment_required,omitempty"`
	ExpiresIn int  `json:"expires_in"` // seconds
}

func writeMFARequired(w http.ResponseWriter, e *MFARequiredError) {
	noStore(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(MFARequiredAnswer{Error: "mfa_required", Description: "second factor required",
		MFAToken: e.Token, Methods: e.Methods, Enroll: e.Enroll, ExpiresIn: int(e.ExpiresIn / time.Second)})
}

// MFAAssociateHandler serves the enrolment step of a login answered
// mfa_required with mfa_enrollment_required: POST, form field mfa_token;
// it answers {"secret", "otpauth_uri"} (show the URI as a QR code) with
// Cache-Control: no-store, or RFC 6749 errors (invalid_grant for a bad
// mfa_token). The mfa_token stays valid for the mfa-otp grant.
func (s *Service) MFAAssociateHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			WriteOAuthError(w, &OAuthError{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "POST required"})
			return
		}
		if r.URL.RawQuery != "" {
			WriteOAuthError(w, invalidRequest("parameters belong in the body"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil || len(r.PostForm["mfa_token"]) != 1 {
			WriteOAuthError(w, invalidRequest("one mfa_token required"))
			return
		}
		en, err := s.MFAAssociate(r.Context(), r.PostForm.Get("mfa_token"), s.cfg.ClientIP(r))
		switch {
		case err == nil:
		case errors.Is(err, ErrInvalidMFAToken), errors.Is(err, ErrConflict):
			WriteOAuthError(w, &OAuthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "invalid or expired mfa_token"})
			return
		default:
			s.log.LogAttrs(r.Context(), slog.LevelError, "auth: mfa associate", slog.String("error", err.Error()))
			WriteOAuthError(w, &OAuthError{Status: http.StatusInternalServerError, Code: "server_error"})
			return
		}
		noStore(w)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"secret": en.Secret, "otpauth_uri": en.URI})
	})
}

// LogoutHandler ends the session named by the refresh cookie, or by a
// form field refresh_token, clears the cookies and answers 204. Protect it
// against cross-site requests as any state-changing browser request.
func (s *Service) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		tok := ""
		if ck, err := r.Cookie(s.cfg.Cookies.Refresh); err == nil {
			tok = ck.Value
		} else {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			tok = r.PostFormValue("refresh_token")
		}
		if tok != "" {
			if err := s.Logout(r.Context(), tok, s.cfg.ClientIP(r)); err != nil && !errors.Is(err, ErrInvalidRefreshToken) {
				s.log.LogAttrs(r.Context(), slog.LevelError, "auth: logout", slog.String("error", err.Error()))
			}
		}
		s.ClearSessionCookies(w)
		noStore(w)
		w.WriteHeader(http.StatusNoContent)
	})
}

// JWKSHandler serves the key set's public keys as a JWKS document.
func (s *Service) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := s.issuer.keys.MarshalJWKS()
		if err != nil {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(b)
	})
}
