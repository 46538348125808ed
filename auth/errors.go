package auth

import "errors"

// Sentinel errors returned by this package. Test them with errors.Is; the
// wrapped text may say more, but is never shown to the person logging in.
var (
	// ErrInvalidCredentials is the one error of a failed login, whatever
	// failed: unknown user, wrong password, disabled or locked account.
	ErrInvalidCredentials = errors.New("auth: invalid username or password")
	// ErrRateLimited means the client made too many attempts; retry later.
	ErrRateLimited = errors.New("auth: too many attempts")
	// ErrInvalidToken is wrapped by every access-token verification error.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrTokenExpired is wrapped (together with ErrInvalidToken) when an
	// otherwise valid access token has expired.
	ErrTokenExpired = errors.New("auth: token expired")
	// ErrSessionRevoked is wrapped (together with ErrInvalidToken) when an
	// access token's session has ended: logout, disable, password change
	// or reset, "log out everywhere", refresh-token reuse.
	ErrSessionRevoked = errors.New("auth: session revoked")
	// ErrUnavailable means a token's session could not be checked: the
	// revocation listener has been down too long and the database did
	// not answer. The request is refused (fail closed), but the token is
	// not known to be bad: a server answers 503, and the client keeps its
	// token and retries.
	ErrUnavailable = errors.New("auth: session store unavailable")
	// ErrMFARequired is matched by MFARequiredError: the password was
	// right, a second factor is due.
	ErrMFARequired = errors.New("auth: second factor required")
	// ErrInvalidMFAToken is returned for an mfa_token that is malformed,
	// unknown, spent, expired, or presented by another client.
	ErrInvalidMFAToken = errors.New("auth: invalid mfa_token")
	// ErrReauthRequired means the user must prove possession of a factor
	// again (Reauthenticate) before a sensitive action.
	ErrReauthRequired = errors.New("auth: re-authentication required")
	// ErrInvalidRefreshToken is returned for a refresh token that is
	// malformed, unknown, reused, revoked or past its session's limits.
	ErrInvalidRefreshToken = errors.New("auth: invalid refresh token")
	// ErrWeakPassword is wrapped by PasswordError when a new password is
	// refused by the policy.
	ErrWeakPassword = errors.New("auth: password refused")
	// ErrNotFound means no user matched.
	ErrNotFound = errors.New("auth: not found")
	// ErrConflict means the username is already taken in the tenant.
	ErrConflict = errors.New("auth: conflict")
	// ErrInvalid means an argument failed validation (see InvalidError).
	ErrInvalid = errors.New("auth: invalid")
	// ErrSchemaTooNew means the database was migrated by a newer release.
	ErrSchemaTooNew = errors.New("auth: database schema is newer than this code")
	// ErrChainBroken is wrapped by ChainError when the security log fails
	// verification.
	ErrChainBroken = errors.New("auth: security log chain broken")
)

// Codes of InvalidError and PasswordError. A code names the rule an input
// broke; it is stable across releases, so a front end can translate it
// (one message per code) and a client can act on it. Reason is English
// prose for logs and developers, and may change. The codes that ehr uses
// too (required, invalid, too_short, too_long, too_many) mean the same
// there.
const (
	// CodeRequired: a required argument is empty.
	CodeRequired = "required"
	// CodeInvalid: a value is malformed: a username, tenant or role name
	// outside its alphabet or length, a password that is not valid UTF-8.
	CodeInvalid = "invalid"
	// CodeTooShort: the password is shorter than MinPasswordLength.
	CodeTooShort = "too_short"
	// CodeTooLong: the password is longer than MaxPasswordLength.
	CodeTooLong = "too_long"
	// CodeTooMany: more roles than a user may have.
	CodeTooMany = "too_many"
	// CodeCommon: the password is in the list of common passwords.
	CodeCommon = "common"
	// CodeContainsName: the password contains the username or the tenant.
	CodeContainsName = "contains_name"
)

// codes are the codes of InvalidError and PasswordError.
var codes = [...]string{CodeRequired, CodeInvalid, CodeTooShort, CodeTooLong, CodeTooMany, CodeCommon, CodeContainsName}

// Codes returns every code an InvalidError or a PasswordError may carry,
// so that a front end can check it has a message for each.
func Codes() []string { return append([]string(nil), codes[:]...) }

// InvalidError names the fields that failed validation, with the stable
// Code of the rule (one of Codes). It matches ErrInvalid with errors.Is.
type InvalidError struct {
	Fields []string
	Code   string
	Reason string
}

// Error describes the invalid fields.
func (e *InvalidError) Error() string {
	return "auth: invalid " + joinFields(e.Fields) + ": " + e.Reason
}

// Is reports whether target is ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func joinFields(f []string) string {
	s := ""
	for i, x := range f {
		if i > 0 {
			s += ", "
		}
		s += x
	}
	return s
}
