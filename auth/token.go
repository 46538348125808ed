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
	// AuthTime is when the user last proved possession of a factor in
	// the session (RFC 9068 §2.2.1 auth_time).
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
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
	if c.AuthTime != nil {
		id.AuthTime = c.AuthTime.Time
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
		return nil, &InvalidError{Fields: []string{"Issuer", "Audience"}, Code: CodeRequired, Reason: "required"}
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
		return "", nil, &InvalidError{Fields: []string{"UserID", "Tenant"}, Code: CodeRequired, Reason: "required"}
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
	if !id.AuthTime.IsZero() {
		c.AuthTime = jwt.NewNumericDate(id.AuthTime.Truncate(time.Second))
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

// verified holds the Claims Verify returns together with the values its
// pointers refer to, so that they take one allocation.
type verified struct {
	c                       Claims
	exp, iat, nbf, authTime jwt.NumericDate
}

// Verify checks an access token and returns its claims. Every refusal wraps
// ErrInvalidToken: a token over MaxTokenSize (refused before any decoding),
// not three base64url segments, a protected header other than the one
// Issue writes for a key of the set (so any other alg, "none", an unknown
// kid, typ other than TokenType, extra header fields), a bad signature,
// malformed claims, a missing exp, an exp past (wrapping ErrTokenExpired),
// an nbf or iat in the future (all with Leeway), a wrong iss or aud, and a
// missing sub, tenant or jti.
func (i *Issuer) Verify(token string) (*Claims, error) { return i.verify(token, nil) }

// verify is Verify with an optional cache of tokens whose signature
// verified (Service's paths pass theirs; Issuer.Verify passes nil). When
// cache holds token for k, the key the token's header names in the
// current key set, the signature check is skipped, and only that: the
// size, split and header checks run before the cache is asked, and the
// claims are decoded and checked against the clock after it, as for any
// token. A token that passes every check after its signature was
// computed is added to the cache; a cached token refused as expired is
// dropped from it.
func (i *Issuer) verify(token string, cache *sigCache) (*Claims, error) {
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
	// base64 wants []byte: decode from a copy of each segment on the stack
	// rather than a conversion to the heap. Every supported signature fits
	// (RS256 with a 4096-bit key: 683 characters); a payload over 1 KiB
	// takes the heap.
	var src [1024]byte
	if len(s) > 704 {
		return nil, errSignature
	}
	// A signature is a pure function of the signing input and the key: the
	// same bytes checked with the same key give the same answer again.
	cached := cache != nil && cache.verified(token, k)
	if !cached {
		// The signature goes to an interface method, so it lives on the
		// heap anyway: allocate just its size.
		sig := make([]byte, base64.RawURLEncoding.DecodedLen(len(s)))
		n, err := base64.RawURLEncoding.Strict().Decode(sig, src[:copy(src[:], s)])
		if err != nil {
			return nil, errSignature
		}
		if err := i.keys.method.Verify(token[:len(h)+1+len(p)], sig[:n], k.public); err != nil {
			return nil, errSignature
		}
	}
	var payloadBuf [768]byte
	var payload []byte
	var n int
	var err error
	if len(p) <= len(src) {
		n, err = base64.RawURLEncoding.Strict().Decode(payloadBuf[:], src[:copy(src[:], p)])
		payload = payloadBuf[:n]
	} else {
		payload, err = base64.RawURLEncoding.Strict().DecodeString(p)
	}
	if err != nil {
		return nil, errClaims
	}
	// The claims' strings are slices of this one copy of the payload.
	var w wireClaims
	if err := decodeClaims(string(payload), &w); err != nil {
		return nil, errClaims
	}
	now := i.clock.Now()
	lw := int64(i.cfg.Leeway / time.Second)
	switch {
	case w.Exp == 0:
		return nil, errNoExp
	case now.Unix() >= w.Exp+lw:
		if cached {
			cache.remove(token)
		}
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
	if cache != nil && !cached {
		cache.add(token, k, w.Exp+lw, now.Unix())
	}
	v := &verified{exp: jwt.NumericDate{Time: time.Unix(w.Exp, 0)}, iat: jwt.NumericDate{Time: time.Unix(w.Iat, 0)}}
	v.c = Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: w.Iss, Subject: w.Sub, Audience: jwt.ClaimStrings(w.Aud),
			ExpiresAt: &v.exp, IssuedAt: &v.iat, ID: w.Jti},
		Tenant: w.Tenant, Roles: w.Roles, PatientID: w.PatientID, SessionID: w.SessionID,
	}
	if w.Nbf != 0 {
		v.nbf = jwt.NumericDate{Time: time.Unix(w.Nbf, 0)}
		v.c.NotBefore = &v.nbf
	}
	if w.AuthTime != 0 {
		v.authTime = jwt.NumericDate{Time: time.Unix(w.AuthTime, 0)}
		v.c.AuthTime = &v.authTime
	}
	return &v.c, nil
}
