package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/a-h/templ"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/refserver/internal/app"
)

// QRDataURL renders uri (an otpauth:// URI) as a QR code, a PNG in a
// data: URL for an <img> (the Content-Security-Policy allows data:
// images; no outside service sees the secret).
func QRDataURL(uri string) (templ.SafeURL, error) {
	png, err := qrcode.Encode(uri, qrcode.Medium, 240)
	if err != nil {
		return "", fmt.Errorf("web: qr code: %w", err)
	}
	return templ.SafeURL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), nil
}

// Passkeys (WebAuthn). The ceremony runs in static/scripts.js, which
// posts JSON to these routes (same-origin only: the router's
// cross-origin protection refuses any other POST). The rules are auth's:
// registration is for a signed-in user with a recent proof of a factor
// (ReauthWindow); the login ceremony answers the second step of a login,
// bound to its mfa_token, exactly where a code would.

func (rt *Router) routesPasskeys() {
	rt.Handle("POST /auth/webauthn/register/begin", rt.passkeyRegisterBegin)
	rt.Handle("POST /auth/webauthn/register/finish", rt.passkeyRegisterFinish)
	rt.HandleFunc("POST /auth/webauthn/login/begin", rt.passkeyLoginBegin)
	rt.HandleFunc("POST /auth/webauthn/login/finish", rt.passkeyLoginFinish)
}

var (
	problemPasskeyOff    = Problem{Status: http.StatusNotFound, Code: "not_found", Key: "passkey.off"}
	problemPasskeyFailed = Problem{Status: http.StatusUnauthorized, Code: "invalid_credentials", Key: "passkey.failed"}
	problemPasskeyExists = Problem{Status: http.StatusConflict, Code: "conflict", Key: "passkey.exists"}
	problemPasskeyLocked = Problem{Status: http.StatusTooManyRequests, Code: "rate_limited", Key: "login.locked"}
)

// jsonBody reads a JSON body of at most MaxBody bytes; any other content
// type is refused (a form cannot be posted here).
func jsonBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, BadRequest("error.body_json")
	}
	return Body(w, r, MaxBody)
}

// passkeyRecent answers false (and 401 reauth_required) when the caller's
// last proof of a factor is older than ReauthWindow.
func (rt *Router) passkeyRecent(w http.ResponseWriter, r *http.Request) (auth.Identity, bool) {
	id, ok := auth.FromContext(r.Context())
	if !ok || rt.app.Auth.RequireRecentAuth(id, ReauthWindow) != nil {
		rt.writeProblem(w, r, problemReauth)
		return id, false
	}
	return id, true
}

// passkeyRegisterBegin answers the options of navigator.credentials.create.
func (rt *Router) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	id, ok := rt.passkeyRecent(w, r)
	if !ok {
		return nil
	}
	// No body is needed; one that is there must be JSON.
	if r.ContentLength != 0 {
		if _, err := jsonBody(w, r); err != nil {
			return err
		}
	}
	opts, err := rt.app.Auth.BeginPasskeyRegistration(r.Context(), id)
	switch {
	case errors.Is(err, auth.ErrPasskeysDisabled):
		rt.writeProblem(w, r, problemPasskeyOff)
		return nil
	case err != nil:
		return err
	}
	JSON(w, http.StatusOK, json.RawMessage(opts))
	return nil
}

// passkeyRegisterFinish takes the new credential (JSON) and answers where
// the browser goes next: the account page.
func (rt *Router) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	id, ok := rt.passkeyRecent(w, r)
	if !ok {
		return nil
	}
	body, err := jsonBody(w, r)
	if err != nil {
		return err
	}
	a := rt.app.Auth
	err = a.FinishPasskeyRegistration(r.Context(), id, body, a.ClientIP(r))
	switch {
	case errors.Is(err, auth.ErrPasskeysDisabled):
		rt.writeProblem(w, r, problemPasskeyOff)
		return nil
	case errors.Is(err, auth.ErrInvalidCredentials):
		rt.writeProblem(w, r, problemPasskeyFailed)
		return nil
	case errors.Is(err, auth.ErrConflict):
		rt.writeProblem(w, r, problemPasskeyExists)
		return nil
	case err != nil:
		return err
	}
	rt.log.InfoContext(r.Context(), "passkey registered", "user_id", c.UserID)
	JSON(w, http.StatusOK, map[string]string{"location": "/cuenta"})
	return nil
}

// passkeyLoginRequest is the body of the login routes: the mfa_token of
// the second step (from the page's hidden field) and, to finish, the
// assertion.
type passkeyLoginRequest struct {
	MFAToken   string          `json:"mfa_token"`
	Credential json.RawMessage `json:"credential,omitempty"`
}

func (rt *Router) readPasskeyLogin(w http.ResponseWriter, r *http.Request) (passkeyLoginRequest, error) {
	var in passkeyLoginRequest
	body, err := jsonBody(w, r)
	if err != nil {
		return in, err
	}
	if err := json.Unmarshal(body, &in); err != nil || in.MFAToken == "" {
		return in, BadRequest("error.body_json")
	}
	return in, nil
}

// passkeyLoginBegin answers the options of navigator.credentials.get for
// the mfa_token's user (the token is not spent).
func (rt *Router) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	in, err := rt.readPasskeyLogin(w, r)
	if err != nil {
		rt.Fail(w, r, err)
		return
	}
	a := rt.app.Auth
	opts, err := a.BeginPasskeyLogin(r.Context(), in.MFAToken, a.ClientIP(r))
	switch {
	case errors.Is(err, auth.ErrPasskeysDisabled):
		rt.writeProblem(w, r, problemPasskeyOff)
	case errors.Is(err, auth.ErrInvalidMFAToken):
		rt.writeProblem(w, r, Problem{Status: http.StatusUnauthorized, Code: "invalid_grant", Key: "mfa.expired"})
	case err != nil:
		rt.Fail(w, r, err)
	default:
		JSON(w, http.StatusOK, json.RawMessage(opts))
	}
}

// passkeyLoginFinish checks the assertion (spending the mfa_token, right
// or wrong): the session cookies and {"location": home}, or an error
// after which the browser starts again from the password.
func (rt *Router) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	in, err := rt.readPasskeyLogin(w, r)
	if err != nil {
		rt.metrics.LoginFailed()
		rt.Fail(w, r, err)
		return
	}
	a := rt.app.Auth
	t, err := a.LoginPasskey(r.Context(), in.MFAToken, in.Credential, a.ClientIP(r))
	switch {
	case err == nil:
	case errors.Is(err, auth.ErrPasskeysDisabled):
		rt.writeProblem(w, r, problemPasskeyOff)
		return
	case errors.Is(err, auth.ErrRateLimited):
		rt.metrics.LoginFailed()
		rt.writeProblem(w, r, problemPasskeyLocked)
		return
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrInvalidMFAToken):
		rt.metrics.LoginFailed()
		rt.writeProblem(w, r, problemPasskeyFailed)
		return
	default:
		rt.Fail(w, r, err)
		return
	}
	a.SetSessionCookies(w, t)
	c := app.CallerOf(t.Identity, RequestID(r.Context()), a.ClientIP(r))
	rt.log.InfoContext(r.Context(), "login", "user_id", c.UserID, "tenant_id", c.TenantID, "mfa", auth.MFAMethodWebAuthn)
	JSON(w, http.StatusOK, map[string]string{"location": Home(c)})
}
