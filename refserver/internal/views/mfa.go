package views

import "github.com/a-h/templ"

// MFAEnrollData is a TOTP enrolment as the enrolment pages show it: the
// secret as text and as a QR code (a PNG data: URL rendered by the
// server from the otpauth:// URI), and the form that takes the first
// code.
type MFAEnrollData struct {
	// Token is the login's mfa_token (enrolment at login), carried in a
	// hidden field; empty for an enrolment from the account page.
	Token string
	// Secret is the base32 secret, for typing into an app by hand.
	Secret string
	// QR is the otpauth:// URI as a data:image/png;base64 URL.
	QR templ.SafeURL
	// Action is where the form posts.
	Action string
	// ErrorKey is a catalog key shown above the form, or "".
	ErrorKey string
}

// MFACodeData is the second step of a login: the mfa_token (a hidden
// field, never in the URL) and the factors the user may answer with.
type MFACodeData struct {
	Token    string
	ErrorKey string
	// TOTP offers the code field (and the recovery code).
	TOTP bool
	// Passkey offers "use a passkey" (static/scripts.js runs the
	// WebAuthn ceremony; the button stays hidden without it).
	Passkey bool
}

// ReauthData is the re-authentication form in front of a sensitive
// action: it posts back to Action with the action's own fields (Hidden,
// never a password) and the password or a code in ReauthField.
type ReauthData struct {
	Action   string
	Hidden   []Field
	ErrorKey string
}

// Field is a hidden form field.
type Field struct{ Name, Value string }

// ReauthField is the form field of the re-authentication secret.
const ReauthField = "reauth_secret"

// AccountData is the account page: whether the second factor is on and
// whether the tenant's policy requires it.
type AccountData struct {
	Username    string
	MFAEnrolled bool
	MFARequired bool
	// PasskeysEnabled shows the passkeys section; Passkeys are the
	// user's passkeys in force.
	PasskeysEnabled bool
	Passkeys        []PasskeyItem
}

// PasskeyItem is a registered passkey as the account page lists it.
type PasskeyItem struct {
	Created  string // date and time, UTC
	LastUsed string // "" when never used
}
