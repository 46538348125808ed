package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/google/uuid"
)

const (
	testRPID   = "localhost"
	testOrigin = "https://localhost:8443"
)

// softKey is a software authenticator: one ES256 credential, attestation
// "none", and a signature counter it raises at every assertion.
type softKey struct {
	id     []byte
	key    *ecdsa.PrivateKey
	count  uint32
	origin string
	rpID   string
}

func newSoftKey(t *testing.T) *softKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &softKey{id: id, key: k, origin: testOrigin, rpID: testRPID}
}

var b64u = base64.RawURLEncoding

// challengeOf reads publicKey.challenge from options.
func challengeOf(t *testing.T, options []byte) string {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("options %s: %v", options, err)
	}
	return o.PublicKey.Challenge
}

func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

func (k *softKey) authData(flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	return append(out, attested...)
}

// create answers navigator.credentials.create with options.
func (k *softKey) create(t *testing.T, options []byte) []byte {
	t.Helper()
	raw, err := k.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	x, y := raw[1:33], raw[33:65]
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: x, YCoord: y})
	if err != nil {
		t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID: zeros
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(append(attested, k.id...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(0x45, attested)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64u.EncodeToString(k.clientData("webauthn.create", challengeOf(t, options))),
			"attestationObject": b64u.EncodeToString(att), "transports": []string{"internal"}},
		"clientExtensionResults": map[string]any{}})
	return b
}

// get answers navigator.credentials.get with options.
func (k *softKey) get(t *testing.T, options []byte, userHandle []byte) []byte {
	t.Helper()
	k.count++
	ad := k.authData(0x05, nil)
	cd := k.clientData("webauthn.get", challengeOf(t, options))
	h := sha256.Sum256(cd)
	d := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64u.EncodeToString(cd), "authenticatorData": b64u.EncodeToString(ad),
			"signature": b64u.EncodeToString(sig), "userHandle": b64u.EncodeToString(userHandle)},
		"clientExtensionResults": map[string]any{}})
	return b
}

func passkeyConfig(c *Config) {
	c.Limiter = allowAll{}
	c.WebAuthn = WebAuthnConfig{RPID: testRPID, Origins: []string{testOrigin}}
}

// TestPasskeyRegisterAndLogin: a logged-in user registers a passkey
// (attestation "none", checked against the challenge kept for the
// session, RP ID and origin); from then on the login asks for a second
// factor whose methods include webauthn, and an assertion bound to the
// mfa_token opens the session. Refused: an assertion from another origin,
// a replayed or spent mfa_token, a signature counter that does not grow
// (clone), a second registration answer for one challenge. ResetMFA
// revokes the passkey. Every step is a security event.
func TestPasskeyRegisterAndLogin(t *testing.T) {
	e := newEnv(t, passkeyConfig)
	ctx := context.Background()
	u := e.createUser(t, "ana", "medico")
	const ip = "198.51.100.7"
	t0, err := e.svc.Login(ctx, tenant, "ana", password, ip)
	if err != nil {
		t.Fatal(err)
	}
	k := newSoftKey(t)
	uid, err := uuid.Parse(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	handle := uid[:]

	// Registration; the finish step is refused without a begin, and a
	// challenge answers once.
	if err := e.svc.FinishPasskeyRegistration(ctx, t0.Identity, k.create(t, []byte(`{"publicKey":{"challenge":"AAAA"}}`)), ip); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("finish without begin: %v", err)
	}
	opts, err := e.svc.BeginPasskeyRegistration(ctx, t0.Identity)
	if err != nil {
		t.Fatal(err)
	}
	bad := *k
	bad.origin = "https://evil.example"
	if err := e.svc.FinishPasskeyRegistration(ctx, t0.Identity, bad.create(t, opts), ip); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("registration from another origin: %v", err)
	}
	if err := e.svc.FinishPasskeyRegistration(ctx, t0.Identity, k.create(t, opts), ip); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("registration with a spent challenge: %v", err)
	}
	opts, err = e.svc.BeginPasskeyRegistration(ctx, t0.Identity)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.FinishPasskeyRegistration(ctx, t0.Identity, k.create(t, opts), ip); err != nil {
		t.Fatalf("registration: %v", err)
	}
	pks, err := e.svc.Passkeys(ctx, tenant, u.ID)
	if err != nil || len(pks) != 1 || !slices.Equal(pks[0].ID, k.id) || !slices.Equal(pks[0].Transports, []string{"internal"}) {
		t.Fatalf("passkeys: %v %+v", err, pks)
	}
	// The credential is excluded from the next registration.
	opts, _ = e.svc.BeginPasskeyRegistration(ctx, t0.Identity)
	var creation struct {
		PublicKey struct {
			Exclude []struct{ ID string } `json:"excludeCredentials"`
		} `json:"publicKey"`
	}
	if json.Unmarshal(opts, &creation); len(creation.PublicKey.Exclude) != 1 {
		t.Fatalf("excludeCredentials: %s", opts)
	}

	// Login: the password step asks for the second factor.
	mfaStep := func(t *testing.T) string {
		t.Helper()
		_, err := e.svc.Login(ctx, tenant, "ana", password, ip)
		var m *MFARequiredError
		if !errors.As(err, &m) || m.Enroll || !slices.Equal(m.Methods, []string{MFAMethodWebAuthn}) {
			t.Fatalf("password step: %v %+v", err, m)
		}
		return m.Token
	}
	tok := mfaStep(t)
	if _, err := e.svc.LoginPasskey(ctx, tok, []byte(`{}`), ip); !errors.Is(err, ErrInvalidMFAToken) {
		t.Fatalf("finish without begin: %v", err)
	}
	tok = mfaStep(t)
	if _, err := e.svc.BeginPasskeyLogin(ctx, tok, "203.0.113.9"); !errors.Is(err, ErrInvalidMFAToken) {
		t.Fatalf("begin from another client: %v", err)
	}
	opts, err = e.svc.BeginPasskeyLogin(ctx, tok, ip)
	if err != nil {
		t.Fatal(err)
	}
	t1, err := e.svc.LoginPasskey(ctx, tok, k.get(t, opts, handle), ip)
	if err != nil || t1.AccessToken == "" {
		t.Fatalf("passkey login: %v", err)
	}
	if _, err := e.svc.LoginPasskey(ctx, tok, k.get(t, opts, handle), ip); !errors.Is(err, ErrInvalidMFAToken) {
		t.Fatalf("spent mfa_token: %v", err)
	}
	// Another origin (a phishing site relaying the challenge).
	tok = mfaStep(t)
	opts, _ = e.svc.BeginPasskeyLogin(ctx, tok, ip)
	bad = *k
	bad.origin = "https://evil.example"
	if _, err := e.svc.LoginPasskey(ctx, tok, bad.get(t, opts, handle), ip); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("other origin: %v", err)
	}
	// A counter that does not grow: a cloned authenticator.
	tok = mfaStep(t)
	opts, _ = e.svc.BeginPasskeyLogin(ctx, tok, ip)
	clone := *k
	clone.count -= 2
	if _, err := e.svc.LoginPasskey(ctx, tok, clone.get(t, opts, handle), ip); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("cloned authenticator: %v", err)
	}

	// The events, in order of the steps.
	var kinds []string
	for _, ev := range e.events(t, tenant) {
		if ev.Kind == EventPasskeyChallenged || ev.Kind == EventMFAEnrolled || ev.Kind == EventMFASucceeded || ev.Kind == EventMFAFailed {
			kinds = append(kinds, string(ev.Kind)+":"+ev.Detail)
		}
	}
	want := []string{"webauthn.challenged:register", "mfa.failed:webauthn_register_invalid", "mfa.failed:webauthn_register_reused",
		"webauthn.challenged:register", "mfa.enrolled:webauthn", "webauthn.challenged:register",
		"mfa.failed:webauthn_no_challenge", "webauthn.challenged:login", "mfa.succeeded:webauthn", "mfa.failed:mfa_token_reused",
		"webauthn.challenged:login", "mfa.failed:webauthn_invalid", "webauthn.challenged:login", "mfa.failed:webauthn_clone"}
	if !slices.Equal(kinds, want) {
		t.Errorf("events:\n got %v\nwant %v", kinds, want)
	}

	// ResetMFA revokes the passkey: the next login asks nothing more.
	if err := e.svc.Users().ResetMFA(ctx, tenant, u.ID); err != nil {
		t.Fatal(err)
	}
	if pks, _ := e.svc.Passkeys(ctx, tenant, u.ID); len(pks) != 0 {
		t.Fatalf("passkeys after ResetMFA: %+v", pks)
	}
	if _, err := e.svc.Login(ctx, tenant, "ana", password, ip); err != nil {
		t.Fatalf("login after ResetMFA: %v", err)
	}
}

// TestPasskeysDisabled: without a relying party every passkey call says
// so, and logins are as before.
func TestPasskeysDisabled(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limiter = allowAll{} })
	ctx := context.Background()
	e.createUser(t, "ana", "medico")
	t0, err := e.svc.Login(ctx, tenant, "ana", password, "198.51.100.7")
	if err != nil {
		t.Fatal(err)
	}
	if e.svc.PasskeysEnabled() {
		t.Fatal("enabled without an RP ID")
	}
	if _, err := e.svc.BeginPasskeyRegistration(ctx, t0.Identity); !errors.Is(err, ErrPasskeysDisabled) {
		t.Fatalf("begin: %v", err)
	}
	if _, err := e.svc.BeginPasskeyLogin(ctx, "x", ""); !errors.Is(err, ErrPasskeysDisabled) {
		t.Fatalf("begin login: %v", err)
	}
}
