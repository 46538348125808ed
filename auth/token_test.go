package auth

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIss = "https://historia.example"
	testAud = "historia"
)

var testIdentity = Identity{UserID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Tenant: "hospital-central",
	Roles: []string{"paciente"}, PatientID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a99", SessionID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"}

type tokenEnv struct {
	clock *fakeClock
	key   *Key
	keys  *KeySet
	iss   *Issuer
}

func newTokenEnv(tb testing.TB, alg Algorithm) *tokenEnv {
	tb.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		tb.Fatal(err)
	}
	ks, err := NewKeySet(alg, k)
	if err != nil {
		tb.Fatal(err)
	}
	c := newFakeClock()
	iss, err := NewIssuer(ks, IssuerConfig{Issuer: testIss, Audience: testAud, Clock: c})
	if err != nil {
		tb.Fatal(err)
	}
	return &tokenEnv{clock: c, key: k, keys: ks, iss: iss}
}

func (e *tokenEnv) issue(tb testing.TB) string {
	tb.Helper()
	tok, _, err := e.iss.Issue(testIdentity)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// craft signs arbitrary header and claims with method and key, as an
// attacker would.
func craft(tb testing.TB, method jwt.SigningMethod, header map[string]any, claims jwt.MapClaims, key any) string {
	tb.Helper()
	t := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(t.Header, k)
		} else {
			t.Header[k] = v
		}
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func (e *tokenEnv) goodClaims() jwt.MapClaims {
	now := e.clock.Now().Unix()
	return jwt.MapClaims{"iss": testIss, "aud": []string{testAud}, "sub": testIdentity.UserID, "tenant": testIdentity.Tenant,
		"roles": []string{"admin"}, "exp": now + 300, "iat": now, "nbf": now, "jti": "abc"}
}

func (e *tokenEnv) goodHeader() map[string]any {
	return map[string]any{"kid": e.key.ID(), "typ": TokenType}
}

func mustRefuse(t *testing.T, iss *Issuer, tok string) error {
	t.Helper()
	c, err := iss.Verify(tok)
	if err == nil {
		t.Fatalf("token accepted: %+v", c)
	}
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("error %v does not wrap ErrInvalidToken", err)
	}
	return err
}

func TestVerifyAcceptsOwnToken(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, ES256, RS256, HS256} {
		t.Run(string(alg), func(t *testing.T) {
			e := newTokenEnv(t, alg)
			c, err := e.iss.Verify(e.issue(t))
			if err != nil {
				t.Fatal(err)
			}
			id := c.Identity()
			if id.UserID != testIdentity.UserID || id.Tenant != testIdentity.Tenant || id.PatientID != testIdentity.PatientID ||
				id.SessionID != testIdentity.SessionID || len(id.Roles) != 1 || id.Roles[0] != "paciente" || id.TokenID == "" {
				t.Fatalf("identity %+v", id)
			}
			if !id.ExpiresAt.Equal(e.clock.Now().Add(DefaultAccessTTL)) {
				t.Fatalf("exp %v", id.ExpiresAt)
			}
		})
	}
}

// The crafted good token verifies: it proves the hostile variants below
// fail for the one thing each changes.
func TestVerifyCraftedBaseline(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	tok := craft(t, jwt.SigningMethodEdDSA, e.goodHeader(), e.goodClaims(), e.key.private)
	if _, err := e.iss.Verify(tok); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAlgNone(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	tok := craft(t, jwt.SigningMethodNone, e.goodHeader(), e.goodClaims(), jwt.UnsafeAllowNoneSignatureType)
	mustRefuse(t, e.iss, tok)
	// Also with the real signature appended, and the alg rewritten by hand.
	good := e.issue(t)
	parts := strings.Split(good, ".")
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + e.key.ID() + `","typ":"at+jwt"}`))
	mustRefuse(t, e.iss, h+"."+parts[1]+".")
	mustRefuse(t, e.iss, h+"."+parts[1]+"."+parts[2])
}

func TestVerifyKeyConfusionHS256WithPublicKey(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, ES256, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			e := newTokenEnv(t, alg)
			der, err := x509.MarshalPKIXPublicKey(e.key.public)
			if err != nil {
				t.Fatal(err)
			}
			pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			secrets := [][]byte{der, pemBytes}
			if pub, ok := e.key.public.(ed25519.PublicKey); ok {
				secrets = append(secrets, []byte(pub))
			}
			jwks, _ := e.keys.MarshalJWKS()
			secrets = append(secrets, jwks)
			for _, secret := range secrets {
				mustRefuse(t, e.iss, craft(t, jwt.SigningMethodHS256, e.goodHeader(), e.goodClaims(), secret))
			}
		})
	}
}

func TestVerifyOtherAlgorithmOfSameFamily(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	other, _ := GenerateKey(ES256)
	h := e.goodHeader()
	h["kid"] = e.key.ID()
	mustRefuse(t, e.iss, craft(t, jwt.SigningMethodES256, h, e.goodClaims(), other.private))
}

func TestVerifyUnknownKID(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	h := e.goodHeader()
	h["kid"] = "no-such-key"
	mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, h, e.goodClaims(), e.key.private))
	delete(h, "kid")
	h["kid"] = nil
	mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, h, e.goodClaims(), e.key.private))
}

func TestVerifyKIDPathTraversal(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	for _, kid := range []string{"../../../../etc/passwd", "/dev/null", "..\\..\\key.pem", e.key.ID() + "/../" + e.key.ID(),
		"file:///etc/shadow", "' OR 1=1 --", strings.Repeat("A", 10000)} {
		h := e.goodHeader()
		h["kid"] = kid
		mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, h, e.goodClaims(), e.key.private))
	}
	if len(e.keys.Keys()) != 1 {
		t.Fatal("key set changed")
	}
}

func TestVerifyHeaderInjection(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	for name, extra := range map[string]map[string]any{
		"jku":      {"jku": "https://evil.example/jwks.json"},
		"jwk":      {"jwk": map[string]string{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}},
		"x5u":      {"x5u": "https://evil.example/cert.pem"},
		"crit":     {"crit": []string{"exp"}},
		"typ JWT":  {"typ": "JWT"},
		"typ none": {"typ": nil},
	} {
		t.Run(name, func(t *testing.T) {
			h := e.goodHeader()
			for k, v := range extra {
				h[k] = v
			}
			mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, h, e.goodClaims(), e.key.private))
		})
	}
}

func TestVerifyExpired(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	tok := e.issue(t)
	e.clock.Advance(DefaultAccessTTL + DefaultLeeway - time.Second)
	if _, err := e.iss.Verify(tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	e.clock.Advance(time.Second)
	err := mustRefuse(t, e.iss, tok)
	if !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("%v is not ErrTokenExpired", err)
	}
}

func TestVerifyNotYetValid(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	c := e.goodClaims()
	now := e.clock.Now().Unix()
	c["nbf"] = now + int64(DefaultLeeway/time.Second) + 60
	mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, e.goodHeader(), c, e.key.private))
	c = e.goodClaims()
	c["iat"] = now + 3600
	mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, e.goodHeader(), c, e.key.private))
	// Issued by a clock 10 s ahead: inside the leeway, accepted.
	c = e.goodClaims()
	c["nbf"], c["iat"] = now+10, now+10
	if _, err := e.iss.Verify(craft(t, jwt.SigningMethodEdDSA, e.goodHeader(), c, e.key.private)); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyWrongIssuer(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	other, _ := NewIssuer(e.keys, IssuerConfig{Issuer: "https://evil.example", Audience: testAud, Clock: e.clock})
	tok, _, _ := other.Issue(testIdentity)
	mustRefuse(t, e.iss, tok)
	c := e.goodClaims()
	delete(c, "iss")
	mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, e.goodHeader(), c, e.key.private))
}

func TestVerifyWrongAudience(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	other, _ := NewIssuer(e.keys, IssuerConfig{Issuer: testIss, Audience: "billing", Clock: e.clock})
	tok, _, _ := other.Issue(testIdentity)
	mustRefuse(t, e.iss, tok)
	for _, aud := range []any{nil, "", []string{}, []string{"billing", "x"}, 42} {
		c := e.goodClaims()
		if aud == nil {
			delete(c, "aud")
		} else {
			c["aud"] = aud
		}
		mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, e.goodHeader(), c, e.key.private))
	}
	c := e.goodClaims()
	c["aud"] = testAud // a single string is fine
	if _, err := e.iss.Verify(craft(t, jwt.SigningMethodEdDSA, e.goodHeader(), c, e.key.private)); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyMissingExp(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	c := e.goodClaims()
	delete(c, "exp")
	mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, e.goodHeader(), c, e.key.private))
	c["exp"] = 1e300
	mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, e.goodHeader(), c, e.key.private))
	c["exp"] = "tomorrow"
	mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, e.goodHeader(), c, e.key.private))
}

func TestVerifyMissingClaims(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	for _, k := range []string{"sub", "tenant", "jti", "iat"} {
		c := e.goodClaims()
		delete(c, k)
		mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, e.goodHeader(), c, e.key.private))
	}
}

func TestVerifyTamperedPayload(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	parts := strings.Split(e.issue(t), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m["roles"] = []string{"admin"}
	m["tenant"] = "otro-hospital"
	b, _ := json.Marshal(m)
	mustRefuse(t, e.iss, parts[0]+"."+base64.RawURLEncoding.EncodeToString(b)+"."+parts[2])
	// One flipped character anywhere in the payload.
	for i := range parts[1] {
		p := []byte(parts[1])
		p[i] = flip(p[i])
		if string(p) == parts[1] {
			continue
		}
		if _, err := e.iss.Verify(parts[0] + "." + string(p) + "." + parts[2]); err == nil {
			t.Fatalf("payload with char %d changed accepted", i)
		}
	}
}

func flip(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}

func TestVerifyTamperedSignature(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, ES256, RS256, HS256} {
		t.Run(string(alg), func(t *testing.T) {
			e := newTokenEnv(t, alg)
			tok := e.issue(t)
			i := strings.LastIndexByte(tok, '.')
			for j := i + 1; j < len(tok); j++ {
				b := []byte(tok)
				b[j] = flip(b[j])
				if string(b) == tok {
					continue
				}
				if _, err := e.iss.Verify(string(b)); err == nil {
					t.Fatalf("signature with char %d changed accepted", j-i-1)
				}
			}
			mustRefuse(t, e.iss, tok[:i+1])
			mustRefuse(t, e.iss, tok+"A")
			mustRefuse(t, e.iss, tok+".")
			mustRefuse(t, e.iss, tok[:i]+"."+tok[i+1:]+"==")
		})
	}
}

func TestVerifyMegabyteOfDots(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	huge := strings.Repeat(".", 1<<20)
	mustRefuse(t, e.iss, huge)
	allocs := testing.AllocsPerRun(20, func() { _, _ = e.iss.Verify(huge) })
	if allocs != 0 {
		t.Fatalf("%v allocations refusing a 1 MiB token", allocs)
	}
	// A token just over the limit is refused without looking further, just
	// under it only after the cheap checks.
	good := e.issue(t)
	mustRefuse(t, e.iss, good+strings.Repeat("A", MaxTokenSize-len(good)+1))
	small := strings.Repeat(".", MaxTokenSize)
	if a := testing.AllocsPerRun(20, func() { _, _ = e.iss.Verify(small) }); a != 0 {
		t.Fatalf("%v allocations refusing 8 KiB of dots", a)
	}
}

func TestVerifyOtherTenantsKey(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	other := newTokenEnv(t, EdDSA) // another deployment's or tenant's key set, same iss/aud
	tok := other.issue(t)
	mustRefuse(t, e.iss, tok)
	// Even claiming our kid.
	mustRefuse(t, e.iss, craft(t, jwt.SigningMethodEdDSA, e.goodHeader(), e.goodClaims(), other.key.private))
}

func TestVerifyRotationAndRemovedKey(t *testing.T) {
	e := newTokenEnv(t, EdDSA)
	old := e.issue(t)
	newKey, err := e.keys.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	fresh := e.issue(t)
	if !strings.HasPrefix(fresh, newKey.header+".") {
		t.Fatal("newest key does not sign")
	}
	for _, tok := range []string{old, fresh} {
		if _, err := e.iss.Verify(tok); err != nil {
			t.Fatalf("before removal: %v", err)
		}
	}
	if !e.keys.Remove(e.key.ID()) {
		t.Fatal("remove")
	}
	mustRefuse(t, e.iss, old)
	if _, err := e.iss.Verify(fresh); err != nil {
		t.Fatal(err)
	}
	// A verify-only key still verifies but never signs.
	ks, _ := NewKeySet(EdDSA, newKey.Public())
	iss, _ := NewIssuer(ks, IssuerConfig{Issuer: testIss, Audience: testAud, Clock: e.clock})
	if _, err := iss.Verify(fresh); err != nil {
		t.Fatal(err)
	}
	if _, _, err := iss.Issue(testIdentity); err == nil {
		t.Fatal("verify-only key signed")
	}
}

func FuzzVerify(f *testing.F) {
	e := newTokenEnv(f, EdDSA)
	good := e.issue(f)
	f.Add(good)
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
	f.Add(strings.Repeat(".", 100))
	f.Add(good[:len(good)-3])
	parts := strings.Split(good, ".")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(craft(f, jwt.SigningMethodNone, e.goodHeader(), e.goodClaims(), jwt.UnsafeAllowNoneSignatureType))
	f.Add(craft(f, jwt.SigningMethodHS256, e.goodHeader(), e.goodClaims(), []byte(e.key.public.(ed25519.PublicKey))))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := e.iss.Verify(tok)
		if err == nil {
			// Only the genuine token may pass: the fuzzer cannot forge
			// an Ed25519 signature.
			if tok != good || c.Subject != testIdentity.UserID {
				t.Fatalf("accepted %q", tok)
			}
			return
		}
		if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("error %v does not wrap ErrInvalidToken", err)
		}
	})
}
