package browsertest

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/refserver/internal/server"
)

// totpAt is the code an authenticator app shows for secret at t.
func totpAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	k, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimSpace(secret))
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	return auth.TOTPCode(k, auth.TOTPStep(at), auth.TOTPDigits, auth.TOTPSHA1)
}

// TestMFAEnrolAndLogin: with a second factor required for admin, the
// first sign-in shows the enrolment page (the QR code a real image under
// the Content-Security-Policy, the key as text); the first code, computed
// here from the key as an app would, turns it on and shows the recovery
// codes once; the next sign-in asks for a code on a second page, and the
// mfa_token never appears in a URL.
func TestMFAEnrolAndLogin(t *testing.T) {
	h := newHospitalWith(t, func(c *server.Config) { c.MFARoles = []string{"admin"} })
	b := openTab(t, h.URL, "admin")

	if st := b.login("admin"); st != 200 {
		t.Fatalf("password step: %d", st)
	}
	if !b.has("#mfa-qr") {
		b.shot("no-enrolment")
		t.Fatalf("want the enrolment page at %s", b.path())
	}
	b.styled()
	if w := run(b, "QR code loaded", chromedp.Evaluate[int](`document.querySelector("#mfa-qr").naturalWidth`)); w < 100 {
		t.Fatalf("the QR code did not load (naturalWidth %d): blocked by the CSP?", w)
	}
	secret := b.mustText("#mfa-secret")
	b.shot("enrol")
	// The previous step's code (still accepted), so that the current
	// step is left for the next sign-in (a code counts once).
	b.fill("form[action='/auth']", map[string]string{"otp": totpAt(t, secret, time.Now().Add(-30*time.Second))})
	if st := b.submit("first code", "#mfa-submit"); st != 200 {
		t.Fatalf("first code: %d", st)
	}
	if n := b.count("#recovery-codes li"); n != auth.RecoveryCodeCount {
		t.Fatalf("%d recovery codes shown, want %d", n, auth.RecoveryCodeCount)
	}
	b.shot("recovery-codes")
	if st := b.follow("continue", "#mfa-continue"); st != 200 || b.path() != "/admin" {
		t.Fatalf("continue: %d at %s", st, b.path())
	}
	b.follow("account page", "nav.main a[href='/cuenta']")
	if b.attr("#mfa-status", "data-enrolled") != "true" {
		t.Fatal("the account page does not show the second factor on")
	}
	b.shot("account")
	b.logout()

	// The next sign-in: password, then the code.
	if st := b.login("admin"); st != 200 || !b.has("form[action='/auth'] [name=otp]") || b.has("#mfa-qr") {
		t.Fatalf("password step: %d, want the code page", st)
	}
	if strings.Contains(b.location(), "mfa_token") {
		t.Fatalf("mfa_token in the URL %s", b.location())
	}
	b.shot("code")
	b.fill("form[action='/auth']", map[string]string{"otp": totpAt(t, secret, time.Now())})
	if st := b.submit("code", "#mfa-submit"); st != 200 || b.path() != "/admin" {
		t.Fatalf("code: %d at %s", st, b.path())
	}
	b.shot("home")
}
