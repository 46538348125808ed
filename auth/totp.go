package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"hash"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters (RFC 6238): HMAC-SHA1, 6 digits, 30-second steps — what
// every authenticator app supports.
const (
	TOTPDigits     = 6
	TOTPPeriod     = 30 * time.Second
	totpSecretSize = 20 // 160 bits, RFC 4226 §4's recommendation
	// totpSkew is the number of steps accepted either side of the
	// current one, for clock drift and typing time.
	totpSkew = 1
)

// TOTPAlgorithm is the HMAC of a TOTP: SHA1 (the default of
// authenticator apps), SHA256 or SHA512.
type TOTPAlgorithm string

// TOTP algorithms of RFC 6238.
const (
	TOTPSHA1   TOTPAlgorithm = "SHA1"
	TOTPSHA256 TOTPAlgorithm = "SHA256"
	TOTPSHA512 TOTPAlgorithm = "SHA512"
)

func (a TOTPAlgorithm) hash() func() hash.Hash {
	switch a {
	case TOTPSHA256:
		return sha256.New
	case TOTPSHA512:
		return sha512.New
	default:
		return sha1.New
	}
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a random 160-bit TOTP secret, base32 without
// padding as otpauth URIs and authenticator apps write it.
func NewTOTPSecret() (string, error) {
	var k [totpSecretSize]byte
	if _, err := rand.Read(k[:]); err != nil {
		return "", err
	}
	return b32.EncodeToString(k[:]), nil
}

// decodeTOTPSecret accepts base32 with or without padding, any case and
// spaces, as people copy it.
func decodeTOTPSecret(s string) ([]byte, bool) {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimRight(s, "=")))
	k, err := b32.DecodeString(s)
	return k, err == nil && len(k) > 0
}

// TOTPStep is the RFC 6238 time step of t: floor(unix seconds / 30).
func TOTPStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// TOTPCode computes the code of key at step (RFC 4226 HOTP with the RFC
// 6238 counter), with digits digits (6 to 8).
func TOTPCode(key []byte, step int64, digits int, alg TOTPAlgorithm) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(alg.hash(), key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	code := []byte(strings.Repeat("0", digits))
	for i, v := digits-1, bin%mod; i >= 0; i, v = i-1, v/10 {
		code[i] = byte('0' + v%10)
	}
	return string(code)
}

// matchTOTP returns the step, within ±totpSkew of now's, whose code is
// code and which is later than lastStep (a code is accepted once, and
// never one older than the last accepted: RFC 6238 §5.2), or 0.
func matchTOTP(key []byte, code string, now time.Time, lastStep int64) int64 {
	if len(code) != TOTPDigits {
		return 0
	}
	cur := TOTPStep(now)
	var found int64
	for st := cur - totpSkew; st <= cur+totpSkew; st++ {
		// Compare every candidate, in constant time.
		if subtle.ConstantTimeCompare([]byte(TOTPCode(key, st, TOTPDigits, TOTPSHA1)), []byte(code)) == 1 && st > lastStep && found == 0 {
			found = st
		}
	}
	return found
}

// TOTPURI returns the otpauth:// URI of a TOTP enrolment (the Key URI
// Format of Google Authenticator, read by every authenticator app), to
// show as a QR code: label "issuer:account", and the secret, issuer,
// algorithm, digits and period parameters. account should be the username
// only — nothing about the person (no PHI).
func TOTPURI(issuer, account, secret string) string {
	label := url.PathEscape(issuer) + ":" + url.PathEscape(account)
	q := url.Values{"secret": {secret}, "issuer": {issuer}, "algorithm": {string(TOTPSHA1)},
		"digits": {"6"}, "period": {"30"}}
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// normalizeOTP drops spaces people type in codes.
func normalizeOTP(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), " ", "") }

// isOTP reports whether s is a TOTP code: exactly TOTPDigits digits.
func isOTP(s string) bool {
	if len(s) != TOTPDigits {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
