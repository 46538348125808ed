package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func postFormFrom(h http.Handler, addr, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/auth", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = addr
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func (e *env) code(tb testing.TB, secret string) string {
	tb.Helper()
	k, ok := decodeTOTPSecret(secret)
	if !ok {
		tb.Fatalf("secret %q", secret)
	}
	return TOTPCode(k, TOTPStep(e.clock.Now()), TOTPDigits, TOTPSHA1)
}

// TestMFAFlowThroughTokenHandler: the whole second-factor flow of POST
// /auth: a role that must use MFA enrols at its first login
// (mfa_required, associate, first code, recovery codes), later logins ask
// for a code; wrong, replayed and expired codes and tokens, a token from
// another client, recovery codes once each, lock-out by wrong codes, and
// every step a security event.
func TestMFAFlowThroughTokenHandler(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Limiter = allowAll{}
		c.MFAPolicy = MFAPolicy{Required: map[string]bool{"medico": true}}
	})
	e.createUser(t, "ana", "medico")
	e.createUser(t, "pepe", "paciente")
	h, assoc := e.svc.TokenHandler(), e.svc.MFAAssociateHandler()
	const client = "198.51.100.7:4321"
	pw := url.Values{"username": {"ana"}, "password": {password}}.Encode()
	step1 := func(t *testing.T) map[string]any {
		t.Helper()
		w := postFormFrom(h, client, pw)
		m := decodeJSON(t, w)
		if w.Code != 400 || m["error"] != "mfa_required" || m["mfa_token"] == "" || m["access_token"] != nil ||
			w.Header().Get("Cache-Control") != "no-store" || m["expires_in"] != float64(300) {
			t.Fatalf("password step: %d %v", w.Code, m)
		}
		return m
	}
	otpGrant := func(grant, tok, field, code string) *httptest.ResponseRecorder {
		return postFormFrom(h, client, url.Values{"grant_type": {grant}, "mfa_token": {tok}, field: {code}}.Encode())
	}
	invalidGrant := func(t *testing.T, w *httptest.ResponseRecorder, what string) {
		t.Helper()
		if w.Code != 400 || decodeJSON(t, w)["error"] != "invalid_grant" {
			t.Fatalf("%s: %d %s", what, w.Code, w.Body)
		}
	}

	// A role without the requirement logs in with its password alone.
	if w := postFormFrom(h, client, url.Values{"username": {"pepe"}, "password": {password}}.Encode()); w.Code != 200 {
		t.Fatalf("paciente: %d %s", w.Code, w.Body)
	}
	// A wrong password never reveals MFA.
	invalidGrant(t, postFormFrom(h, client, url.Values{"username": {"ana"}, "password": {"wrong password!!"}}.Encode()), "wrong password")

	// Enrolment at the first login.
	m := step1(t)
	if m["mfa_enrollment_required"] != true || len(m["mfa_methods"].([]any)) != 1 || m["mfa_methods"].([]any)[0] != "totp" {
		t.Fatalf("enrolment: %v", m)
	}
	tok := m["mfa_token"].(string)
	w := postFormFrom(assoc, client, url.Values{"mfa_token": {tok}}.Encode())
	if w.Code != 200 {
		t.Fatalf("associate: %d %s", w.Code, w.Body)
	}
	a := decodeJSON(t, w)
	secret := a["secret"].(string)
	if !strings.HasPrefix(a["otpauth_uri"].(string), "otpauth://totp/") || !strings.Contains(a["otpauth_uri"].(string), ":ana?") {
		t.Fatalf("associate: %v", a)
	}
	w = otpGrant(GrantMFAOTP, tok, "otp", e.code(t, secret))
	if w.Code != 200 {
		t.Fatalf("enrolment code: %d %s", w.Code, w.Body)
	}
	got := decodeJSON(t, w)
	rcs, _ := got["recovery_codes"].([]any)
	if got["access_token"] == "" || got["refresh_token"] == "" || len(rcs) != RecoveryCodeCount {
		t.Fatalf("enrolled login: %v", got)
	}
	c, err := e.svc.Verify(got["access_token"].(string))
	if err != nil || !c.AuthTime.Time.Equal(e.clock.Now().Truncate(time.Second)) {
		t.Fatalf("auth_time %v %v", c, err)
	}
	// The enrolment's token is spent.
	invalidGrant(t, otpGrant(GrantMFAOTP, tok, "otp", e.code(t, secret)), "spent mfa_token")

	// Later logins: a code, Auth0's grant name too.
	m = step1(t)
	if m["mfa_enrollment_required"] != nil || len(m["mfa_methods"].([]any)) != 2 {
		t.Fatalf("second login: %v", m)
	}
	// The same step's code again: a replay.
	invalidGrant(t, otpGrant(GrantAuth0MFAOTP, m["mfa_token"].(string), "otp", e.code(t, secret)), "replayed code")
	e.clock.Advance(TOTPPeriod)
	m = step1(t)
	// From another client: refused (and the token spent).
	invalidGrant(t, postFormFrom(h, "203.0.113.9:1", url.Values{"grant_type": {GrantMFAOTP}, "mfa_token": {m["mfa_token"].(string)},
		"otp": {e.code(t, secret)}}.Encode()), "other client")
	m = step1(t)
	if w := otpGrant(GrantAuth0MFAOTP, m["mfa_token"].(string), "otp", e.code(t, secret)); w.Code != 200 {
		t.Fatalf("next step's code: %d %s", w.Code, w.Body)
	}
	// Expired mfa_token.
	e.clock.Advance(TOTPPeriod)
	m = step1(t)
	e.clock.Advance(DefaultMFATokenTTL + time.Second)
	invalidGrant(t, otpGrant(GrantMFAOTP, m["mfa_token"].(string), "otp", e.code(t, secret)), "expired mfa_token")
	// Recovery codes, once each.
	m = step1(t)
	if w := otpGrant(GrantAuth0MFARecoveryCode, m["mfa_token"].(string), "recovery_code", strings.ToUpper(rcs[0].(string))); w.Code != 200 {
		t.Fatalf("recovery code: %d %s", w.Code, w.Body)
	}
	m = step1(t)
	invalidGrant(t, otpGrant(GrantMFAOTP, m["mfa_token"].(string), "recovery_code", rcs[0].(string)), "recovery code reused")
	m = step1(t)
	if w := otpGrant(GrantMFAOTP, m["mfa_token"].(string), "recovery_code", rcs[1].(string)); w.Code != 200 {
		t.Fatalf("second recovery code: %d %s", w.Code, w.Body)
	}
	// Malformed second-step requests.
	for _, f := range []url.Values{
		{"grant_type": {GrantMFAOTP}, "otp": {"123456"}},
		{"grant_type": {GrantMFAOTP}, "mfa_token": {"x"}},
		{"grant_type": {GrantMFAOTP}, "mfa_token": {"x"}, "otp": {"1"}, "recovery_code": {"2"}},
	} {
		if w := postFormFrom(h, client, f.Encode()); w.Code != 400 || decodeJSON(t, w)["error"] != "invalid_request" {
			t.Fatalf("%v: %d %s", f, w.Code, w.Body)
		}
	}

	// Wrong codes count toward lock-out: the password, right, does not
	// reset the count; only a full login does.
	e.clock.Advance(TOTPPeriod)
	for i := range DefaultMaxFailures {
		m = step1(t)
		invalidGrant(t, otpGrant(GrantMFAOTP, m["mfa_token"].(string), "otp", "000000"), "wrong code")
		_ = i
	}
	invalidGrant(t, postFormFrom(h, client, pw), "locked account, right password")
	evs := kinds(e.events(t, tenant))
	for k, want := range map[EventKind]int{EventMFAChallenged: 8 + DefaultMaxFailures, EventMFAEnrolled: 1, EventMFASucceeded: 4,
		EventAccountLocked: 1} {
		if n := countKind(evs, k); n != want {
			t.Errorf("%s: %d events, want %d", k, n, want)
		}
	}
	if n := countKind(evs, EventMFAFailed); n < 5+DefaultMaxFailures {
		t.Errorf("mfa.failed: %d", n)
	}
	if _, err := VerifyEvents(context.Background(), e.pool, tenant); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.logs.String(), secret) || strings.Contains(e.logs.String(), rcs[2].(string)) {
		t.Fatal("a secret in the logs")
	}
}

// TestMFAEnrollLoggedInAndReset: a user enrols from a session (EnrollTOTP,
// ConfirmTOTP with a wrong then a right code); from then on Login asks for
// the second factor; an admin's ResetMFA removes it and ends the sessions.
func TestMFAEnrollLoggedInAndReset(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *Config) { c.Limiter = allowAll{} })
	u := e.createUser(t, "ana", "secretaria")
	tok, err := e.svc.Login(ctx, tenant, "ana", password, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	en, err := e.svc.EnrollTOTP(ctx, tok.Identity)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ConfirmTOTP(ctx, tok.Identity, "000000"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong first code: %v", err)
	}
	codes, err := e.svc.ConfirmTOTP(ctx, tok.Identity, e.code(t, en.Secret))
	if err != nil || len(codes) != RecoveryCodeCount {
		t.Fatalf("confirm: %v %v", codes, err)
	}
	if _, err := e.svc.EnrollTOTP(ctx, tok.Identity); !errors.Is(err, ErrConflict) {
		t.Fatalf("second enrolment: %v", err)
	}
	if ok, err := e.svc.MFAEnrolled(ctx, tenant, u.ID); !ok || err != nil {
		t.Fatal(ok, err)
	}
	_, err = e.svc.Login(ctx, tenant, "ana", password, "10.0.0.1")
	var mfa *MFARequiredError
	if !errors.As(err, &mfa) || !errors.Is(err, ErrMFARequired) || mfa.Enroll {
		t.Fatalf("login after enrolment: %v", err)
	}
	if err := e.svc.Users().ResetMFA(ctx, tenant, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(tok.AccessToken); !errors.Is(err, ErrSessionRevoked) {
		t.Fatalf("session after ResetMFA: %v", err)
	}
	if _, err := e.svc.LoginMFA(ctx, mfa.Token, "", codes[0], "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("recovery code after reset: %v", err)
	}
	if _, err := e.svc.Login(ctx, tenant, "ana", password, "10.0.0.1"); err != nil {
		t.Fatalf("login after reset: %v", err)
	}
}

// TestReauthentication: auth_time is the login's; RequireRecentAuth
// refuses once it is older than maxAge; Reauthenticate with the password,
// or a TOTP code, renews it in a new access token and in the session (a
// refresh carries it); a wrong secret fails, counts toward lock-out and
// is an event; an ended session cannot re-authenticate.
func TestReauthentication(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *Config) { c.Limiter = allowAll{} })
	e.createUser(t, "ana", "admin")
	tok, err := e.svc.Login(ctx, tenant, "ana", password, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	id := tok.Identity
	if err := e.svc.RequireRecentAuth(id, 5*time.Minute); err != nil {
		t.Fatalf("fresh login: %v", err)
	}
	e.clock.Advance(4 * time.Minute)
	rt, err := e.svc.Refresh(ctx, tok.RefreshToken, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	c, _ := e.svc.Verify(rt.AccessToken)
	if err := e.svc.RequireRecentAuth(c.Identity(), 5*time.Minute); !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("a refresh is no proof of possession: %v", err)
	}
	if _, err := e.svc.Reauthenticate(ctx, c.Identity(), "wrong password!!", "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	nt, err := e.svc.Reauthenticate(ctx, c.Identity(), password, "10.0.0.1")
	if err != nil || nt.RefreshToken != "" {
		t.Fatalf("reauthenticate: %v %+v", err, nt)
	}
	c2, err := e.svc.Verify(nt.AccessToken)
	if err != nil || e.svc.RequireRecentAuth(c2.Identity(), time.Minute) != nil || c2.SessionID != id.SessionID {
		t.Fatalf("new token: %v %+v", err, c2)
	}
	// The session remembers it: the next refresh carries the new auth_time.
	rt2, err := e.svc.Refresh(ctx, rt.RefreshToken, "10.0.0.1")
	if err != nil || !rt2.Identity.AuthTime.Equal(e.clock.Now().UTC().Truncate(time.Microsecond)) {
		t.Fatalf("refresh after reauth: %v %v", err, rt2.Identity.AuthTime)
	}
	// With a TOTP code.
	en, _ := e.svc.EnrollTOTP(ctx, c2.Identity())
	if _, err := e.svc.ConfirmTOTP(ctx, c2.Identity(), e.code(t, en.Secret)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(TOTPPeriod)
	if _, err := e.svc.Reauthenticate(ctx, c2.Identity(), e.code(t, en.Secret), "10.0.0.1"); err != nil {
		t.Fatalf("with a code: %v", err)
	}
	if _, err := e.svc.Reauthenticate(ctx, c2.Identity(), e.code(t, en.Secret), "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("replayed code: %v", err)
	}
	u, _ := e.svc.Users().UserByUsername(ctx, tenant, "ana")
	if u.FailedAttempts != 1 {
		t.Fatalf("failures %d", u.FailedAttempts)
	}
	evs := kinds(e.events(t, tenant))
	if countKind(evs, EventReauth) != 2 || countKind(evs, EventReauthFailed) != 2 {
		t.Fatalf("events %v", evs)
	}
	if err := e.svc.EndSession(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Reauthenticate(ctx, id, password, "10.0.0.1"); !errors.Is(err, ErrSessionRevoked) {
		t.Fatalf("ended session: %v", err)
	}
}
