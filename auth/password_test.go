package auth

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

// cheapParams keep -race runs fast where a test is not about hashing cost.
var cheapParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// countingHasher counts the hashing work done, and which parameters each
// verification ran with.
type countingHasher struct {
	Hasher
	hashes, verifies atomic.Int64
	lastParams       atomic.Value // Params of the last Verify
}

func newCountingHasher(p Params) *countingHasher { return &countingHasher{Hasher: NewArgon2id(p)} }

func (c *countingHasher) Hash(pw string) (string, error) {
	c.hashes.Add(1)
	return c.Hasher.Hash(pw)
}

func (c *countingHasher) Verify(pw, enc string) (bool, bool, error) {
	c.verifies.Add(1)
	if p, _, _, err := decodePHC(enc); err == nil {
		c.lastParams.Store(p)
	}
	return c.Hasher.Verify(pw, enc)
}

func TestDefaultParamsMeetOWASP(t *testing.T) {
	// OWASP Password Storage Cheat Sheet minimum for argon2id.
	if DefaultParams.Memory < 19*1024 || DefaultParams.Time < 2 || DefaultParams.Threads < 1 || DefaultParams.SaltLen < 16 || DefaultParams.KeyLen < 32 {
		t.Fatalf("DefaultParams %+v below m=19 MiB, t=2, p=1", DefaultParams)
	}
}

func TestArgon2idPHC(t *testing.T) {
	h := NewArgon2id(cheapParams)
	enc, err := h.Hash("una contraseña larga")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("PHC %q", enc)
	}
	enc2, _ := h.Hash("una contraseña larga")
	if enc == enc2 {
		t.Fatal("salt not random")
	}
	ok, rehash, err := h.Verify("una contraseña larga", enc)
	if !ok || rehash || err != nil {
		t.Fatalf("verify: %v %v %v", ok, rehash, err)
	}
	if ok, _, _ := h.Verify("una contraseña largA", enc); ok {
		t.Fatal("wrong password accepted")
	}
	stronger := NewArgon2id(Params{Memory: 128, Time: 2, Threads: 1})
	if ok, rehash, _ := stronger.Verify("una contraseña larga", enc); !ok || !rehash {
		t.Fatalf("parameter change: ok=%v rehash=%v", ok, rehash)
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA", "$2a$10$abcdefghijklmnopqrstuv"} {
		if ok, _, err := h.Verify("x", bad); ok || err == nil {
			t.Errorf("malformed hash %q: ok=%v err=%v", bad, ok, err)
		}
	}
}

// TestCheckPassword: the policy's rules, each refusal with its stable
// code.
func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		ctx  []string
		code string // "" when the password is good
	}{
		{"short", nil, CodeTooShort},
		{"elevenchars", nil, CodeTooShort},
		{"twelve chars", nil, ""},
		{"ñandúñandúña", nil, ""}, // 12 code points, more bytes
		{"ñandú", nil, CodeTooShort},
		{strings.Repeat("a", 64) + "b", nil, ""},
		{strings.Repeat("x", 128), nil, ""},
		{strings.Repeat("x", 129), nil, CodeTooLong},
		{"Password1234", nil, CodeCommon}, // common, case-insensitive
		{"contraseña123", nil, CodeCommon},
		{"correct horse battery staple", nil, CodeCommon},
		{"no rules at all here", nil, ""}, // no composition rules
		{"mariagarcia2024!", []string{"mariagarcia"}, CodeContainsName},
		{"\xff\xfe invalid utf8 bytes", nil, CodeInvalid},
	} {
		err := CheckPassword(tc.pw, tc.ctx...)
		if (err == nil) != (tc.code == "") {
			t.Errorf("CheckPassword(%q) = %v, want good=%v", tc.pw, err, tc.code == "")
		}
		if err == nil {
			continue
		}
		var pe *PasswordError
		if !errors.Is(err, ErrWeakPassword) || !errors.As(err, &pe) {
			t.Errorf("error %v is not a *PasswordError matching ErrWeakPassword", err)
		} else if pe.Code != tc.code {
			t.Errorf("CheckPassword(%q): code %q, want %q", tc.pw, pe.Code, tc.code)
		}
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	h := NewArgon2id(DefaultParams)
	enc, _ := h.Hash("correct horse battery staple 42")
	for b.Loop() {
		_, _, _ = h.Verify("correct horse battery staple 42", enc)
	}
}
