package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithm is a JWS signing algorithm name.
type Algorithm string

// The signing algorithms a KeySet may use. EdDSA (Ed25519) is the default.
const (
	EdDSA Algorithm = "EdDSA"
	ES256 Algorithm = "ES256"
	RS256 Algorithm = "RS256"
	HS256 Algorithm = "HS256"
)

func (a Algorithm) method() (jwt.SigningMethod, error) {
	switch a {
	case EdDSA:
		return jwt.SigningMethodEdDSA, nil
	case ES256:
		return jwt.SigningMethodES256, nil
	case RS256:
		return jwt.SigningMethodRS256, nil
	case HS256:
		return jwt.SigningMethodHS256, nil
	}
	return nil, fmt.Errorf("auth: unsupported algorithm %q", string(a))
}

// Minimum key sizes.
const (
	minRSABits    = 2048
	minHMACSecret = 32
	maxKIDLen     = 128
)

// Key is one signing key: a private key (or HMAC secret) that signs, or a
// public key that only verifies.
type Key struct {
	id      string
	alg     Algorithm
	header  string // encoded protected header of tokens it signs
	private any    // ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey, []byte (HMAC)
	public  any    // ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey, []byte (HMAC)
}

// ID returns the key's kid: the RFC 7638 JWK thumbprint of its public key,
// or for an HMAC secret a SHA-256 based fingerprint that does not reveal it.
func (k *Key) ID() string { return k.id }

// Algorithm returns the algorithm the key is used with.
func (k *Key) Algorithm() Algorithm { return k.alg }

// CanSign reports whether the key holds private material.
func (k *Key) CanSign() bool { return k.private != nil }

// GenerateKey makes a new random key for alg: an Ed25519 key, a P-256 key,
// a 3072-bit RSA key or a 256-bit HMAC secret.
func GenerateKey(alg Algorithm) (*Key, error) {
	switch alg {
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return newKey(priv)
	case ES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		return newKey(priv)
	case RS256:
		priv, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			return nil, err
		}
		return newKey(priv)
	case HS256:
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		return NewHMACKey(secret)
	}
	return nil, fmt.Errorf("auth: unsupported algorithm %q", string(alg))
}

// NewHMACKey returns an HS256 key for secret, which must be at least 32
// bytes (RFC 7518 3.2). The secret is copied.
func NewHMACKey(secret []byte) (*Key, error) {
	if len(secret) < minHMACSecret {
		return nil, fmt.Errorf("auth: HMAC secret of %d bytes, want at least %d", len(secret), minHMACSecret)
	}
	s := slices.Clone(secret)
	h := sha256.Sum256(append([]byte("historia kid\x00"), s...))
	return &Key{id: base64.RawURLEncoding.EncodeToString(h[:16]), alg: HS256, private: s, public: s}, nil
}

// NewKey wraps a private key (ed25519.PrivateKey, *ecdsa.PrivateKey on
// P-256, *rsa.PrivateKey of 2048 bits or more) or a public key of those
// types (verification only).
func NewKey(k any) (*Key, error) { return newKey(k) }

func newKey(k any) (*Key, error) {
	key := &Key{}
	switch k := k.(type) {
	case ed25519.PrivateKey:
		key.alg, key.private, key.public = EdDSA, k, k.Public()
	case ed25519.PublicKey:
		key.alg, key.public = EdDSA, k
	case *ecdsa.PrivateKey:
		key.alg, key.private, key.public = ES256, k, &k.PublicKey
	case *ecdsa.PublicKey:
		key.alg, key.public = ES256, k
	case *rsa.PrivateKey:
		key.alg, key.private, key.public = RS256, k, &k.PublicKey
	case *rsa.PublicKey:
		key.alg, key.public = RS256, k
	default:
		return nil, fmt.Errorf("auth: unsupported key type %T", k)
	}
	jwk, err := publicJWK(key.alg, key.public)
	if err != nil {
		return nil, err
	}
	key.id = jwk.thumbprint()
	jwk.Kid = key.id
	return key, nil
}

// Block types of the PEM files this package reads and writes. Private and
// public keys use the standard PKCS #8 and PKIX forms; an HMAC secret, which
// has no standard PEM form, is stored raw in a block of type PEMTypeHMAC.
const (
	PEMTypePrivate = "PRIVATE KEY"
	PEMTypePublic  = "PUBLIC KEY"
	PEMTypeHMAC    = "HMAC SECRET"
)

// ParseKeyPEM reads the first PEM block of data: "PRIVATE KEY" (PKCS #8),
// "EC PRIVATE KEY" (SEC 1), "RSA PRIVATE KEY" (PKCS #1), "PUBLIC KEY"
// (PKIX, verify only) or PEMTypeHMAC. The algorithm follows from the key type.
func ParseKeyPEM(data []byte) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("auth: no PEM block in key data")
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case PEMTypePrivate:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case PEMTypePublic:
		k, err = x509.ParsePKIXPublicKey(block.Bytes)
	case PEMTypeHMAC:
		return NewHMACKey(block.Bytes)
	default:
		return nil, fmt.Errorf("auth: unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: parse %s: %w", block.Type, err)
	}
	return newKey(k)
}

// LoadKeyFile reads a key from a PEM file (see ParseKeyPEM).
func LoadKeyFile(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read key: %w", err)
	}
	k, err := ParseKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return k, nil
}

// MarshalPEM encodes the key's private part (or its public part, for a
// verify-only key) as PEM, in the forms ParseKeyPEM reads. Write it to a
// file readable only by the server (mode 0600).
func (k *Key) MarshalPEM() ([]byte, error) {
	if k.alg == HS256 {
		return pem.EncodeToMemory(&pem.Block{Type: PEMTypeHMAC, Bytes: k.private.([]byte)}), nil
	}
	if k.private == nil {
		der, err := x509.MarshalPKIXPublicKey(k.public)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: PEMTypePublic, Bytes: der}), nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.private)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: PEMTypePrivate, Bytes: der}), nil
}

// Public returns a verify-only copy of the key. For HMAC, which has no
// public part, it returns the key itself.
func (k *Key) Public() *Key {
	if k.alg == HS256 {
		return k
	}
	return &Key{id: k.id, alg: k.alg, public: k.public, header: k.header}
}

// KeySet holds the keys of one algorithm: the newest key that can sign
// signs; every key in the set verifies, until removed. It is safe for
// concurrent use.
type KeySet struct {
	alg    Algorithm
	method jwt.SigningMethod

	mu    sync.RWMutex
	keys  []*Key // oldest first
	byID  map[string]*Key
	byHdr map[string]*Key // by encoded protected header
}

// NewKeySet returns a set for alg holding keys, oldest first. The last
// key able to sign becomes the signing key.
func NewKeySet(alg Algorithm, keys ...*Key) (*KeySet, error) {
	m, err := alg.method()
	if err != nil {
		return nil, err
	}
	ks := &KeySet{alg: alg, method: m, byID: map[string]*Key{}, byHdr: map[string]*Key{}}
	for _, k := range keys {
		if err := ks.Add(k); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

// LoadKeySet reads PEM key files, oldest first (see LoadKeyFile); the
// newest private key signs, the others only verify. All keys must be of
// algorithm alg.
func LoadKeySet(alg Algorithm, paths ...string) (*KeySet, error) {
	keys := make([]*Key, 0, len(paths))
	for _, p := range paths {
		k, err := LoadKeyFile(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return NewKeySet(alg, keys...)
}

// Algorithm returns the set's algorithm, the only one its tokens may use.
func (ks *KeySet) Algorithm() Algorithm { return ks.alg }

// Add puts k into the set as its newest key; if k can sign, it signs from
// now on (rotation). Adding a key that is already present moves it to the
// newest position.
func (ks *KeySet) Add(k *Key) error {
	if k == nil {
		return errors.New("auth: nil key")
	}
	if k.alg != ks.alg {
		return fmt.Errorf("auth: key %s is %s, key set is %s", k.id, k.alg, ks.alg)
	}
	if rk, ok := k.public.(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
		return fmt.Errorf("auth: RSA key of %d bits, want at least %d", rk.N.BitLen(), minRSABits)
	}
	if len(k.id) > maxKIDLen {
		return errors.New("auth: kid too long")
	}
	k.header = headerSegment(k.alg, k.id)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.keys = slices.DeleteFunc(ks.keys, func(x *Key) bool { return x.id == k.id })
	ks.keys = append(ks.keys, k)
	ks.byID[k.id] = k
	ks.byHdr[k.header] = k
	return nil
}

// Remove drops the key with id kid: tokens it signed no longer verify.
// It reports whether the key was present.
func (ks *KeySet) Remove(kid string) bool {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	k, ok := ks.byID[kid]
	if !ok {
		return false
	}
	delete(ks.byID, kid)
	delete(ks.byHdr, k.header)
	ks.keys = slices.DeleteFunc(ks.keys, func(x *Key) bool { return x.id == kid })
	return true
}

// Rotate generates a new key, adds it as the signing key and returns it.
func (ks *KeySet) Rotate() (*Key, error) {
	k, err := GenerateKey(ks.alg)
	if err != nil {
		return nil, err
	}
	return k, ks.Add(k)
}

// SigningKey returns the newest key that can sign, or nil.
func (ks *KeySet) SigningKey() *Key {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	for i := len(ks.keys) - 1; i >= 0; i-- {
		if ks.keys[i].private != nil {
			return ks.keys[i]
		}
	}
	return nil
}

// Keys returns the keys in the set, oldest first.
func (ks *KeySet) Keys() []*Key {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return slices.Clone(ks.keys)
}

// byHeader returns the key whose tokens carry the encoded protected
// header h.
func (ks *KeySet) byHeader(h string) (*Key, bool) {
	ks.mu.RLock()
	k, ok := ks.byHdr[h]
	ks.mu.RUnlock()
	return k, ok
}

// JWK is a public JSON Web Key (RFC 7517) as published in a JWKS.
type JWK struct {
	Kty string `json:"kty"`           // key type: OKP, EC or RSA
	Kid string `json:"kid"`           // key id, as in the tokens' header
	Use string `json:"use"`           // always "sig"
	Alg string `json:"alg"`           // EdDSA, ES256 or RS256
	Crv string `json:"crv,omitempty"` // Ed25519 or P-256
	X   string `json:"x,omitempty"`   // OKP public key, or EC x coordinate
	Y   string `json:"y,omitempty"`   // EC y coordinate
	N   string `json:"n,omitempty"`   // RSA modulus
	E   string `json:"e,omitempty"`   // RSA exponent
}

// JWKS is a JSON Web Key Set document.
type JWKS struct {
	// Keys are the public keys, oldest first.
	Keys []JWK `json:"keys"`
}

// JWKS returns the public keys of the set as a JSON Web Key Set, to publish
// at e.g. /.well-known/jwks.json. HMAC secrets are never published: an
// HS256 set yields an empty list.
func (ks *KeySet) JWKS() JWKS {
	out := JWKS{Keys: []JWK{}}
	for _, k := range ks.Keys() {
		if k.alg == HS256 {
			continue
		}
		j, err := publicJWK(k.alg, k.public)
		if err != nil {
			continue
		}
		j.Kid = k.id
		out.Keys = append(out.Keys, j)
	}
	return out
}

// MarshalJWKS returns ks.JWKS() as JSON.
func (ks *KeySet) MarshalJWKS() ([]byte, error) { return json.Marshal(ks.JWKS()) }

func publicJWK(alg Algorithm, pub any) (JWK, error) {
	enc := base64.RawURLEncoding.EncodeToString
	j := JWK{Use: "sig", Alg: string(alg)}
	switch p := pub.(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", enc(p)
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return j, errors.New("auth: ECDSA key not on P-256")
		}
		e, err := p.ECDH()
		if err != nil {
			return j, err
		}
		b := e.Bytes() // 0x04 || X || Y
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", enc(b[1:33]), enc(b[33:65])
	case *rsa.PublicKey:
		j.Kty, j.N, j.E = "RSA", enc(p.N.Bytes()), enc(big.NewInt(int64(p.E)).Bytes())
	default:
		return j, fmt.Errorf("auth: unsupported public key %T", pub)
	}
	return j, nil
}

// thumbprint is the RFC 7638 JWK thumbprint (SHA-256, base64url).
func (j JWK) thumbprint() string {
	var s string
	switch j.Kty {
	case "OKP":
		s = `{"crv":"` + j.Crv + `","kty":"OKP","x":"` + j.X + `"}`
	case "EC":
		s = `{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	case "RSA":
		s = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	}
	h := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
