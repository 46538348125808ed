package auth

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestTOTPRFC6238Vectors: the test vectors of RFC 6238 Appendix B, 8
// digits, for SHA1, SHA256 and SHA512 (their seeds are the ASCII digits
// "1234567890" repeated to the hash's size).
func TestTOTPRFC6238Vectors(t *testing.T) {
	seed := func(n int) []byte { return []byte(strings.Repeat("1234567890", 7)[:n]) }
	keys := map[TOTPAlgorithm][]byte{TOTPSHA1: seed(20), TOTPSHA256: seed(32), TOTPSHA512: seed(64)}
	for _, tc := range []struct {
		unix int64
		alg  TOTPAlgorithm
		want string
	}{
		{59, TOTPSHA1, "94287082"}, {59, TOTPSHA256, "46119246"}, {59, TOTPSHA512, "90693936"},
		{1111111109, TOTPSHA1, "07081804"}, {1111111109, TOTPSHA256, "68084774"}, {1111111109, TOTPSHA512, "25091201"},
		{1111111111, TOTPSHA1, "14050471"}, {1111111111, TOTPSHA256, "67062674"}, {1111111111, TOTPSHA512, "99943326"},
		{1234567890, TOTPSHA1, "89005924"}, {1234567890, TOTPSHA256, "91819424"}, {1234567890, TOTPSHA512, "93441116"},
		{2000000000, TOTPSHA1, "69279037"}, {2000000000, TOTPSHA256, "90698825"}, {2000000000, TOTPSHA512, "38618901"},
		{20000000000, TOTPSHA1, "65353130"}, {20000000000, TOTPSHA256, "77737706"}, {20000000000, TOTPSHA512, "47863826"},
	} {
		got := TOTPCode(keys[tc.alg], TOTPStep(time.Unix(tc.unix, 0)), 8, tc.alg)
		if got != tc.want {
			t.Errorf("T=%d %s: %s, want %s", tc.unix, tc.alg, got, tc.want)
		}
	}
}

// TestTOTPMatchSkewAndReplay: ±1 step accepted, ±2 not; a step at or
// before the last accepted one is refused.
func TestTOTPMatchSkewAndReplay(t *testing.T) {
	key := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	cur := TOTPStep(now)
	for d, want := range map[int64]bool{-2: false, -1: true, 0: true, 1: true, 2: false} {
		code := TOTPCode(key, cur+d, 6, TOTPSHA1)
		if got := matchTOTP(key, code, now, 0) != 0; got != want {
			t.Errorf("step %+d: accepted %v", d, got)
		}
	}
	code := TOTPCode(key, cur, 6, TOTPSHA1)
	if matchTOTP(key, code, now, cur) != 0 || matchTOTP(key, TOTPCode(key, cur-1, 6, TOTPSHA1), now, cur) != 0 {
		t.Error("replayed or older step accepted")
	}
	if matchTOTP(key, "12345", now, 0) != 0 || matchTOTP(key, "", now, 0) != 0 {
		t.Error("malformed code accepted")
	}
}

func TestTOTPSecretAndURI(t *testing.T) {
	s, err := NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	k, ok := decodeTOTPSecret(s)
	if !ok || len(k) != 20 || len(s) != 32 {
		t.Fatalf("secret %q (%d bytes)", s, len(k))
	}
	if s2, _ := NewTOTPSecret(); s2 == s {
		t.Fatal("secrets repeat")
	}
	u, err := url.Parse(TOTPURI("Hospital Central", "ana.garcia", s))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Hospital Central:ana.garcia" || q.Get("secret") != s ||
		q.Get("issuer") != "Hospital Central" || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Fatalf("%s", u)
	}
}
