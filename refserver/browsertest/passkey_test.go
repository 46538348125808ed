package browsertest

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// virtualAuthenticator gives the tab a platform authenticator (CTAP2,
// internal transport, resident keys, user verification that succeeds,
// presence simulated), as a device's screen lock would be.
func (b *tab) virtualAuthenticator() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.fail("enable WebAuthn", err)
	}
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2,
			Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}}); err != nil {
		b.fail("add virtual authenticator", err)
	}
}

// TestPasskeyRegisterAndLogin: with a virtual authenticator, a signed-in
// user registers a passkey from /cuenta (the ceremony in scripts.js,
// under the Content-Security-Policy); after signing out, the password
// step leads to the second step, which offers the passkey (and no code
// field: the user has no authenticator app), and the passkey signs in.
// The server is opened as https://localhost:port, its configured origin.
func TestPasskeyRegisterAndLogin(t *testing.T) {
	h := newHospital(t)
	b := openTab(t, h.LocalURL, "medico")
	b.virtualAuthenticator()
	b.loginAs("medico", "/medico")

	if st := b.open("/cuenta"); st != 200 || !b.has("#passkeys-none") {
		t.Fatalf("account page: %d, want no passkeys", st)
	}
	b.styled()
	b.shot("account-no-passkey")
	if st := b.submit("register a passkey", "#passkey-register"); st != 200 || b.path() != "/cuenta" {
		t.Fatalf("register: %d at %s", st, b.path())
	}
	if n := b.count("#passkeys li"); n != 1 {
		b.shot("failed-register")
		t.Fatalf("%d passkeys listed after registering, want 1 (error: %q)", n, b.text("#passkey-error"))
	}
	b.shot("account-passkey")
	b.logout()

	if st := b.login("medico"); st != 200 || !b.has("#passkey-login") {
		t.Fatalf("password step: %d, want the second step at %s", st, b.path())
	}
	if b.has("#otp") {
		t.Error("a code field for a user without an authenticator app")
	}
	if hidden := run(b, "passkey button shown", chromedp.Evaluate[bool](`document.querySelector("#passkey-login").hidden`)); hidden {
		t.Fatal("the passkey button stayed hidden")
	}
	b.shot("second-step")
	if st := b.submit("use the passkey", "#passkey-login"); st != 200 || b.path() != "/medico" {
		t.Fatalf("passkey: %d at %s (error: %q)", st, b.path(), b.text("#passkey-error"))
	}
	b.shot("home")

	var n int
	if err := h.Pool.QueryRow(context.Background(), `SELECT count(*) FROM security_events
		WHERE tenant_id = $1 AND kind = 'mfa.succeeded' AND detail = 'webauthn'`, h.Tenant).Scan(&n); err != nil || n != 1 {
		t.Errorf("mfa.succeeded webauthn events: %d %v", n, err)
	}
}
