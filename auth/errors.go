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

// InvalidError names the fields that failed validation. It matches
// ErrInvalid with errors.Is.
type InvalidError struct {
	Fields []string
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
