package auth

import (
	"encoding/json"
	"unicode/utf8"
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
	AuthTime  int64    `json:"auth_time"`
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

// decodeClaims decodes the claims JSON of a token, payload, into w, with
// exactly the meaning json.Unmarshal has: the same inputs accepted, the
// same values (FuzzClaimsDecode checks it).
//
// Claims as Issue writes them take a fast path, a hand-written decoder for
// the fixed claim set, whose strings are slices of payload (no further
// allocation); anything it does not handle goes to encoding/json.
func decodeClaims(payload string, w *wireClaims) error {
	if decodeClaimsFast(payload, w) {
		return nil
	}
	var err error
	*w, err = decodeClaimsJSON(payload)
	return err
}

// decodeClaimsJSON is the slow path of decodeClaims. It is a function of
// its own so that what encoding/json makes escape to the heap (the
// claims, a copy of the payload) is allocated only when it runs.
func decodeClaimsJSON(payload string) (wireClaims, error) {
	var w wireClaims
	err := json.Unmarshal([]byte(payload), &w)
	return w, err
}

// Claim bits, to detect a repeated member.
const (
	claimIss = 1 << iota
	claimSub
	claimAud
	claimExp
	claimNbf
	claimIat
	claimJti
	claimTenant
	claimRoles
	claimPatientID
	claimSessionID
	claimAuthTime
)

// decodeClaimsFast decodes s into w (which must be zero) and reports
// whether it could. It handles one JSON object whose members are the
// claims of wireClaims, each at most once, spelled exactly (no escapes, no
// other case), with strings free of escapes and valid UTF-8, integers
// without fraction or exponent that fit an int64, aud a string or an array
// of strings, roles an array of strings. For any other input, valid or
// not, it returns false and leaves the meaning to encoding/json: unknown
// or repeated members, keys matched case-insensitively, escapes, null,
// numbers in other forms, and every error. So it never accepts what
// encoding/json refuses nor gives other values; it only accepts less.
func decodeClaimsFast(s string, w *wireClaims) bool {
	d := claimsDecoder{s: s}
	d.space()
	if !d.eat('{') {
		return false
	}
	d.space()
	if d.eat('}') {
		return d.end()
	}
	var seen int
	for {
		d.space()
		key, ok := d.plainString()
		if !ok {
			return false
		}
		d.space()
		if !d.eat(':') {
			return false
		}
		d.space()
		var bit int
		switch key {
		case "iss":
			bit = claimIss
			w.Iss, ok = d.plainString()
		case "sub":
			bit = claimSub
			w.Sub, ok = d.plainString()
		case "aud":
			bit = claimAud
			if d.peek() == '"' {
				var a string
				if a, ok = d.plainString(); ok {
					w.Aud = audience{a}
				}
			} else {
				var a []string
				a, ok = d.stringArray()
				w.Aud = a
			}
		case "exp":
			bit = claimExp
			w.Exp, ok = d.integer()
		case "nbf":
			bit = claimNbf
			w.Nbf, ok = d.integer()
		case "iat":
			bit = claimIat
			w.Iat, ok = d.integer()
		case "jti":
			bit = claimJti
			w.Jti, ok = d.plainString()
		case "tenant":
			bit = claimTenant
			w.Tenant, ok = d.plainString()
		case "roles":
			bit = claimRoles
			w.Roles, ok = d.stringArray()
		case "patient_id":
			bit = claimPatientID
			w.PatientID, ok = d.plainString()
		case "sid":
			bit = claimSessionID
			w.SessionID, ok = d.plainString()
		case "auth_time":
			bit = claimAuthTime
			w.AuthTime, ok = d.integer()
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		d.space()
		if d.eat(',') {
			continue
		}
		if d.eat('}') {
			return d.end()
		}
		return false
	}
}

// claimsDecoder reads JSON from s at i.
type claimsDecoder struct {
	s string
	i int
}

func (d *claimsDecoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *claimsDecoder) peek() byte {
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

func (d *claimsDecoder) eat(c byte) bool {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (d *claimsDecoder) end() bool {
	d.space()
	return d.i == len(d.s)
}

// plainString reads a string without escapes and with valid UTF-8, whose
// value is then the text between the quotes.
func (d *claimsDecoder) plainString() (string, bool) {
	if !d.eat('"') {
		return "", false
	}
	start, ascii := d.i, true
	for ; d.i < len(d.s); d.i++ {
		switch c := d.s[d.i]; {
		case c == '"':
			v := d.s[start:d.i]
			d.i++
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// stringArray reads an array of plain strings; [] gives an empty, non-nil
// slice, as encoding/json does.
func (d *claimsDecoder) stringArray() ([]string, bool) {
	if !d.eat('[') {
		return nil, false
	}
	out := []string{}
	d.space()
	if d.eat(']') {
		return out, true
	}
	for {
		d.space()
		v, ok := d.plainString()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		d.space()
		if d.eat(',') {
			continue
		}
		if d.eat(']') {
			return out, true
		}
		return nil, false
	}
}

// integer reads -?(0|[1-9][0-9]*) that fits an int64 and is not followed by
// a fraction or an exponent.
func (d *claimsDecoder) integer() (int64, bool) {
	neg := d.eat('-')
	start := d.i
	var n uint64
	for d.i < len(d.s) && '0' <= d.s[d.i] && d.s[d.i] <= '9' {
		if d.i-start >= 19 { // 19 digits always fit a uint64
			return 0, false
		}
		n = n*10 + uint64(d.s[d.i]-'0')
		d.i++
	}
	switch digits := d.i - start; {
	case digits == 0, digits > 1 && d.s[start] == '0':
		return 0, false
	}
	if c := d.peek(); c == '.' || c == 'e' || c == 'E' {
		return 0, false
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}
