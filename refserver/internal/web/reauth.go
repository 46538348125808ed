package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// ReauthWindow is how recent the proof of a factor must be for a
// sensitive action: a password change or reset, a role change, an MFA
// enrolment, break-the-glass (ASVS 3.7.1).
const ReauthWindow = 5 * time.Minute

// problemReauth is the API's answer to a sensitive action without a
// recent proof: 401 reauth_required (then POST /api/v1/reauth).
var problemReauth = Problem{Status: http.StatusUnauthorized, Code: "reauth_required", Key: "reauth.required"}

// RecentAuth guards a sensitive action. It reports true when the caller
// of r proved possession of a factor within ReauthWindow, and the
// handler goes on. Otherwise it has answered r and the handler returns
// (with the error, when there is one):
//
//   - an API client gets 401 with {"error":"reauth_required"} and the
//     step-up challenge (RFC 9470), and calls POST /api/v1/reauth;
//   - a browser gets the re-authentication form, which posts the action
//     again with its fields (never a password field) and the password
//     or a code. When that secret is right, RecentAuth renews the
//     session's cookies and reports true: the action completes in one
//     step (a password the action itself needs is typed again).
//
// Call it first in the handler, before reading the form.
func (rt *Router) RecentAuth(w http.ResponseWriter, r *http.Request) (bool, error) {
	a := rt.app.Auth
	id, ok := auth.FromContext(r.Context())
	if !ok {
		return false, auth.ErrReauthRequired
	}
	if a.RequireRecentAuth(id, ReauthWindow) == nil {
		return true, nil
	}
	if wantsJSON(r) || r.Header.Get("Authorization") != "" || !isForm(r) {
		auth.WriteBearerChallenge(&discardWriter{header: w.Header()}, http.StatusUnauthorized, "insufficient_user_authentication",
			"a more recent authentication is required")
		w.Header().Set("WWW-Authenticate", w.Header().Get("WWW-Authenticate")+`, max_age=`+strconv.Itoa(int(ReauthWindow/time.Second)))
		rt.writeProblem(w, r, problemReauth)
		return false, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil || !cleanValues(r.PostForm) {
		return false, BadRequest("error.badrequest")
	}
	errKey := ""
	if secret := r.PostForm.Get(views.ReauthField); secret != "" {
		r.PostForm.Del(views.ReauthField)
		r.Form.Del(views.ReauthField)
		t, err := a.Reauthenticate(r.Context(), id, secret, a.ClientIP(r))
		switch {
		case err == nil:
			a.SetSessionCookies(w, t)
			rt.log.InfoContext(r.Context(), "re-authenticated", "user_id", id.UserID, "tenant_id", id.Tenant)
			return true, nil
		case errors.Is(err, auth.ErrInvalidCredentials):
			errKey = "reauth.failed"
		case errors.Is(err, auth.ErrRateLimited):
			errKey = "login.locked"
		default:
			return false, err
		}
	}
	d := views.ReauthData{Action: r.URL.Path, ErrorKey: errKey}
	for name, vs := range r.PostForm {
		if len(vs) == 0 || strings.Contains(strings.ToLower(name), "password") {
			continue
		}
		d.Hidden = append(d.Hidden, views.Field{Name: name, Value: vs[0]})
	}
	c, _ := app.FromContext(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	rt.Render(w, r, http.StatusUnauthorized, views.Reauth(rt.Layout(r, c, "reauth.title"), d))
	return false, nil
}

// isForm reports whether r posts a form (a browser's), not JSON.
func isForm(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return r.Method == http.MethodPost && (strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data"))
}

// reauthAPI is POST /api/v1/reauth: {"password": "..."} or {"otp":
// "123456"} renews the proof of the caller's session and answers a new
// access token carrying it (the refresh token is unchanged).
func (rt *Router) reauthAPI(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in struct {
		Password string `json:"password"`
		OTP      string `json:"otp"`
	}
	if err := Decode(w, r, &in); err != nil {
		return err
	}
	secret := in.Password
	if secret == "" {
		secret = in.OTP
	}
	id, ok := auth.FromContext(r.Context())
	if !ok || secret == "" {
		return rt.invalidCredentials(w, r)
	}
	a := rt.app.Auth
	t, err := a.Reauthenticate(r.Context(), id, secret, a.ClientIP(r))
	if errors.Is(err, auth.ErrInvalidCredentials) {
		return rt.invalidCredentials(w, r)
	}
	if err != nil {
		return err
	}
	JSON(w, http.StatusOK, map[string]any{"access_token": t.AccessToken, "token_type": "bearer",
		"expires_in": int(time.Until(t.AccessExpiresAt) / time.Second)})
	return nil
}

// invalidCredentials answers a wrong re-authentication secret: 401
// invalid_credentials, without a bearer challenge (the token is fine).
func (rt *Router) invalidCredentials(w http.ResponseWriter, r *http.Request) error {
	rt.writeProblem(w, r, Problem{Status: http.StatusUnauthorized, Code: "invalid_credentials", Key: "reauth.failed"})
	return nil
}
