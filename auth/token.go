package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenSize is the largest access token Verify looks at; anything larger
// is refused before any decoding.
const MaxTokenSize = 8 << 10

// TokenType is the JWT "typ" header of access tokens (RFC 9068). Verify
// refuses other types, so no other kind of JWT signed with the same keys can
// pass for an access token (RFC 8725 3.11).
const TokenType = "at+jwt"

// Default token settings.
const (
	DefaultAccessTTL = 5 * time.Minute
	DefaultLeeway    = 30 * time.Second
)

// Claims are the claims of an access token.
type Claims struct {
	jwt.RegisteredClaims
	// Tenant is the user's tenant.
	Tenant string `json:"tenant"`
	// Roles are the user's roles.
	Roles []string `json:"roles,omitempty"`
	// PatientID is set for patients: the id of their own chart.
	PatientID string `json:"patient_id,omitempty"`
	// SessionID names the login session the token was issued in.
	SessionID string `json:"sid,omitempty"`
}

// Validate applies Verify's rule on required claims (sub, tenant, jti,
// iat) for callers that parse Claims with golang-jwt's own Parser, which
// calls it after its standard checks.
func (c *Claims) Validate() error {
	if c.Subject == "" || c.Tenant == "" || c.ID == "" || c.IssuedAt == nil {
		return errors.New("missing sub, tenant, jti or iat")
	}
	return nil
}

// Identity returns the principal the claims describe.
func (c *Claims) Identity() Identity {
	id := Identity{UserID: c.Subject, Tenant: c.Tenant, Roles: c.Roles, PatientID: c.PatientID,
		SessionID: c.SessionID, TokenID: c.ID}
	if c.ExpiresAt != nil {
		id.ExpiresAt = c.ExpiresAt.Time
	}
	return id
}

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	// Issuer is the iss claim written and required. Required.
	Issuer string
	// Audience is the aud claim written and required. Required.
	Audience string
	// TTL is the life of an access token; default DefaultAccessTTL.
	TTL time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat; default
	// DefaultLeeway.
	Leeway time.Duration
	// Clock defaults to the system clock.
	Clock Clock
}

// Issuer issues and verifies access tokens with the keys of a KeySet. It is
// safe for concurrent use.
//
// Tokens are signed with golang-jwt's signing methods. Verification is
// strict and lean: a token's protected header must be byte for byte the
// header Issue writes for one of the set's keys — {"alg","kid","typ"} with
// the set's algorithm, that key's kid and TokenType, nothing else — so
// "alg":"none", another algorithm, an unknown or crafted kid, and crit,
// jku, jwk or x5u headers are all refused by one map lookup, before any
// JSON is parsed. The signature is checked next, with golang-jwt's
// SigningMethod.Verify, and only then are the claims decoded, into a fixed
// struct.
type Issuer struct {
	keys  *KeySet
	cfg   IssuerConfig
	clock Clock
}

// NewIssuer returns an Issuer signing with the newest key of keys. Tokens
// it verifies must use exactly the key set's algorithm.
func NewIssuer(keys *KeySet, cfg IssuerConfig) (*Issuer, error) {
	if keys == nil {
		return nil, errors.New("auth: nil key set")
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, &InvalidError{Fields: []string{"Issuer", "Audience"}, Reason: "required"}
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultAccessTTL
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = DefaultLeeway
	}
	return &Issuer{keys: keys, cfg: cfg, clock: clockOr(cfg.Clock)}, nil
}

// TTL returns the life of the access tokens issued.
func (i *Issuer) TTL() time.Duration { return i.cfg.TTL }

// KeySet returns the issuer's keys.
func (i *Issuer) KeySet() *KeySet { return i.keys }

// Issue signs an access token for id (UserID and Tenant required) and
// returns it with its claims.
func (i *Issuer) Issue(id Identity) (string, *Claims, error) {
	if id.UserID == "" || id.Tenant == "" {
		return "", nil, &InvalidError{Fields: []string{"UserID", "Tenant"}, Reason: "required"}
	}
	k := i.keys.SigningKey()
	if k == nil {
		return "", nil, errors.New("auth: key set has no signing key")
	}
	now := i.clock.Now().Truncate(time.Second)
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", nil, err
	}
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.cfg.Issuer,
			Subject:   id.UserID,
			Audience:  jwt.ClaimStrings{i.cfg.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(i.cfg.TTL)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		},
		Tenant:    id.Tenant,
		Roles:     id.Roles,
		PatientID: id.PatientID,
		SessionID: id.SessionID,
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", nil, fmt.Errorf("auth: sign token: %w", err)
	}
	input := k.header + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := i.keys.method.Sign(input, k.private)
	if err != nil {
		return "", nil, fmt.Errorf("auth: sign token: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), c, nil
}

// headerSegment is the encoded protected header Issue writes for a key:
// JSON with keys in this order, as json.Marshal of a map writes them.
func headerSegment(alg Algorithm, kid string) string {
	h, _ := json.Marshal(map[string]string{"alg": string(alg), "kid": kid, "typ": TokenType})
	return base64.RawURLEncoding.EncodeToString(h)
}

// Pre-built errors, so that refusing garbage allocates nothing.
var (
	errTooLarge  = fmt.Errorf("%w: larger than %d bytes", ErrInvalidToken, MaxTokenSize)
	errMalformed = fmt.Errorf("%w: malformed", ErrInvalidToken)
	errHeader    = fmt.Errorf("%w: header not issued by a known key (alg, kid, typ)", ErrInvalidToken)
	errSignature = fmt.Errorf("%w: bad signature", ErrInvalidToken)
	errClaims    = fmt.Errorf("%w: malformed claims", ErrInvalidToken)
	errExpired   = fmt.Errorf("%w: %w", ErrInvalidToken, ErrTokenExpired)
	errNoExp     = fmt.Errorf("%w: no exp", ErrInvalidToken)
	errNotYet    = fmt.Errorf("%w: not valid yet (nbf or iat in the future)", ErrInvalidToken)
	errIssuer    = fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
	errAudience  = fmt.Errorf("%w: wrong audience", ErrInvalidToken)
	errMissing   = fmt.Errorf("%w: missing sub, tenant, jti or iat", ErrInvalidToken)
)

// wireClaims is the fixed shape claims are decoded into. Times are integer
// seconds, as Issue writes them; aud is a string or an array of strings.
type wireClaims struct {
	Iss       string   `json:"iss"`
	Sub       string   `json:"sub"`
	Aud       audience `json:"aud"`
	Exp       int64    `json:"exp"`
	Nbf       int64    `json:"nbf"`
	Iat       int64    `json:"iat"`
	Jti       string   `json:"jti"`
	Tenant    string   `json:"tenant"`
	Roles     []string `json:"roles"`
	PatientID string   `json:"patient_id"`
	SessionID string   `json:"sid"`
}

type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// Verify checks an access token and returns its claims. Every refusal wraps
// ErrInvalidToken: a token over MaxTokenSize (refused before any decoding),
// not three base64url segments, a protected header other than the one
// Issue writes for a key of the set (so any other alg, "none", an unknown
// kid, typ other than TokenType, extra header fields), a bad signature,
// malformed claims, a missing exp, an exp past (wrapping ErrTokenExpired),
// an nbf or iat in the future (all with Leeway), a wrong iss or aud, and a
// missing sub, tenant or jti.
func (i *Issuer) Verify(token string) (*Claims, error) {
	if len(token) > MaxTokenSize {
		return nil, errTooLarge
	}
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errMalformed
	}
	p, s, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(s, '.') >= 0 {
		return nil, errMalformed
	}
	k, ok := i.keys.byHeader(h)
	if !ok {
		return nil, errHeader
	}
	var sigBuf [512]byte
	if base64.RawURLEncoding.DecodedLen(len(s)) > len(sigBuf) {
		return nil, errSignature
	}
	n, err := base64.RawURLEncoding.Strict().Decode(sigBuf[:], []byte(s))
	if err != nil {
		return nil, errSignature
	}
	if err := i.keys.method.Verify(token[:len(h)+1+len(p)], sigBuf[:n], k.public); err != nil {
		return nil, errSignature
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(p)
	if err != nil {
		return nil, errClaims
	}
	var w wireClaims
	if err := json.Unmarshal(payload, &w); err != nil {
		return nil, errClaims
	}
	now := i.clock.Now()
	lw := int64(i.cfg.Leeway / time.Second)
	switch {
	case w.Exp == 0:
		return nil, errNoExp
	case now.Unix() >= w.Exp+lw:
		return nil, errExpired
	case w.Nbf > now.Unix()+lw || w.Iat > now.Unix()+lw:
		return nil, errNotYet
	case w.Iss != i.cfg.Issuer:
		return nil, errIssuer
	case !slices.Contains(w.Aud, i.cfg.Audience):
		return nil, errAudience
	case w.Sub == "" || w.Tenant == "" || w.Jti == "" || w.Iat == 0:
		return nil, errMissing
	}
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: w.Iss, Subject: w.Sub, Audience: jwt.ClaimStrings(w.Aud),
			ExpiresAt: jwt.NewNumericDate(time.Unix(w.Exp, 0)), IssuedAt: jwt.NewNumericDate(time.Unix(w.Iat, 0)), ID: w.Jti},
		Tenant: w.Tenant, Roles: w.Roles, PatientID: w.PatientID, SessionID: w.SessionID,
	}
	if w.Nbf != 0 {
		c.NotBefore = jwt.NewNumericDate(time.Unix(w.Nbf, 0))
	}
	return c, nil
}
