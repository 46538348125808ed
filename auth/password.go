package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password length limits, in Unicode code points (OWASP ASVS 4.0 2.1.1,
// 2.1.2): at least 12, at most 128. There are no composition rules (2.1.9).
const (
	MinPasswordLength = 12
	MaxPasswordLength = 128
)

// Params are the argon2id cost parameters.
type Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
	// SaltLen is the salt length in bytes.
	SaltLen uint32
	// KeyLen is the derived key length in bytes.
	KeyLen uint32
}

// DefaultParams are the OWASP Password Storage Cheat Sheet's recommended
// minimum for argon2id (m=19 MiB, t=2, p=1), with a 128-bit salt and a
// 256-bit key. On one core of a 2020s server a hash takes a few tens of
// milliseconds (see docs/performance.md). Raise Memory, or Time, to grow the
// cost; stored hashes are upgraded at the next successful login.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Hasher hashes and checks passwords. Argon2id is the implementation; tests
// wrap it to count calls.
type Hasher interface {
	// Hash returns the encoded hash of password.
	Hash(password string) (string, error)
	// Verify reports whether password matches encoded, and whether encoded
	// should be replaced by a hash with the current parameters.
	Verify(password, encoded string) (ok, rehash bool, err error)
}

// Argon2id is a Hasher producing PHC strings:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// with unpadded standard base64, as the reference implementation writes.
type Argon2id struct {
	Params Params
}

// NewArgon2id returns a hasher with the given parameters; the zero Params
// mean DefaultParams.
func NewArgon2id(p Params) *Argon2id {
	if p == (Params{}) {
		p = DefaultParams
	}
	if p.SaltLen == 0 {
		p.SaltLen = 16
	}
	if p.KeyLen == 0 {
		p.KeyLen = 32
	}
	if p.Threads == 0 {
		p.Threads = 1
	}
	return &Argon2id{Params: p}
}

var b64 = base64.RawStdEncoding

// Hash returns the PHC encoding of an argon2id hash of password with a
// fresh random salt.
func (a *Argon2id) Hash(password string) (string, error) {
	p := a.Params
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: hash: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify checks password against a PHC-encoded argon2id hash in constant
// time. rehash is true when the hash's parameters differ from a.Params.
func (a *Argon2id) Verify(password, encoded string) (ok, rehash bool, err error) {
	p, salt, key, err := decodePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	rehash = p.Memory != a.Params.Memory || p.Time != a.Params.Time || p.Threads != a.Params.Threads ||
		uint32(len(salt)) != a.Params.SaltLen || uint32(len(key)) != a.Params.KeyLen
	return ok, rehash, nil
}

var errBadHash = errors.New("auth: malformed password hash")

// decodePHC parses $argon2id$v=19$m=..,t=..,p=..$salt$hash.
func decodePHC(s string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errBadHash
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, errBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, errBadHash
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, errBadHash
			}
			p.Threads = uint8(n)
		default:
			return p, nil, nil, errBadHash
		}
	}
	// Refuse absurd parameters that would let a planted hash exhaust memory.
	if p.Memory < 8 || p.Memory > 4<<20 || p.Time < 1 || p.Time > 100 || p.Threads < 1 {
		return p, nil, nil, errBadHash
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errBadHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, errBadHash
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

//go:embed common_passwords.txt
var commonPasswordsText string

var commonPasswords = func() map[string]struct{} {
	m := map[string]struct{}{}
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			m[strings.ToLower(l)] = struct{}{}
		}
	}
	return m
}()

// PasswordError says why a new password was refused: Code is the stable
// code of the rule (CodeInvalid, CodeTooShort, CodeTooLong, CodeCommon or
// CodeContainsName), Reason the same in English. It matches
// ErrWeakPassword with errors.Is.
type PasswordError struct {
	Code   string
	Reason string
}

// Error says why the password was refused.
func (e *PasswordError) Error() string { return "auth: password refused: " + e.Reason }

// Is reports whether target is ErrWeakPassword.
func (e *PasswordError) Is(target error) bool { return target == ErrWeakPassword }

// CheckPassword applies the password policy to a new password: valid UTF-8,
// 12 to 128 code points, not in the embedded list of common passwords, and
// not equal to any of the context words given (username, tenant). It makes
// no composition rules. It returns a *PasswordError.
func CheckPassword(password string, context ...string) error {
	if !utf8.ValidString(password) {
		return &PasswordError{Code: CodeInvalid, Reason: "not valid UTF-8"}
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLength {
		return &PasswordError{Code: CodeTooShort, Reason: fmt.Sprintf("shorter than %d characters", MinPasswordLength)}
	}
	if n > MaxPasswordLength {
		return &PasswordError{Code: CodeTooLong, Reason: fmt.Sprintf("longer than %d characters", MaxPasswordLength)}
	}
	lower := strings.ToLower(password)
	if _, ok := commonPasswords[lower]; ok {
		return &PasswordError{Code: CodeCommon, Reason: "too common"}
	}
	for _, c := range context {
		if c != "" && strings.Contains(lower, strings.ToLower(c)) && utf8.RuneCountInString(c) >= 4 {
			return &PasswordError{Code: CodeContainsName, Reason: "contains the username or the organisation"}
		}
	}
	return nil
}
