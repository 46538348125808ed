package auth

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// issuedPayload is the claims JSON Issue writes for id.
func issuedPayload(tb testing.TB, id Identity) []byte {
	tb.Helper()
	now := time.Unix(1_790_000_000, 0)
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: testIss, Subject: id.UserID, Audience: jwt.ClaimStrings{testAud},
			ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)), NotBefore: jwt.NewNumericDate(now),
			IssuedAt: jwt.NewNumericDate(now), ID: "qGx0b2tlbi1pZC0xMjM0NQ"},
		Tenant: id.Tenant, Roles: id.Roles, PatientID: id.PatientID, SessionID: id.SessionID,
	}
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestClaimsFastPathTakesIssuedClaims makes sure the hand-written decoder
// handles what Issue writes (else Verify would quietly fall back to
// encoding/json on every request) and agrees with encoding/json on it.
func TestClaimsFastPathTakesIssuedClaims(t *testing.T) {
	for _, id := range []Identity{
		testIdentity,
		{UserID: "u1", Tenant: "t1"},
		{UserID: "u1", Tenant: "t1", Roles: []string{}},
		{UserID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Tenant: "hospital-central", Roles: []string{"paciente"},
			PatientID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d", SessionID: "s"},
		{UserID: "josé", Tenant: "clínica san josé", Roles: []string{"medico", "auditor", "admin"}},
	} {
		payload := issuedPayload(t, id)
		var fast, ref wireClaims
		if !decodeClaimsFast(string(payload), &fast) {
			t.Errorf("fast path refused %s", payload)
			continue
		}
		if err := json.Unmarshal(payload, &ref); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Errorf("%s:\nfast %#v\njson %#v", payload, fast, ref)
		}
	}
}

// claimsSeeds are inputs at the edges of what the fast path takes: each
// either decodes there exactly as encoding/json does, or goes to
// encoding/json.
var claimsSeeds = []string{
	`{}`, ` { } `, `null`, `[]`, `"x"`, `1`, ``, `{`, `}`, `{}x`, `{},`, `{"iss":"a"}{}`,
	`{"iss":"a","sub":"b","aud":"c","exp":1,"nbf":2,"iat":3,"jti":"d","tenant":"e","roles":["f","g"],"patient_id":"h","sid":"i"}`,
	"{\t\"iss\" :\r\n\"a\" , \"aud\" : [ \"x\" , \"y\" ] }",
	`{"aud":[]}`, `{"aud":["a"]}`, `{"aud":""}`, `{"aud":null}`, `{"aud":1}`, `{"aud":[1]}`, `{"aud":["a",]}`, `{"aud":[,"a"]}`,
	`{"roles":[]}`, `{"roles":null}`, `{"roles":"medico"}`, `{"roles":["a",null]}`, `{"roles":[["a"]]}`,
	// Repeated members: encoding/json keeps the last, and null leaves a
	// string as it was.
	`{"iss":"a","iss":"b"}`, `{"iss":"a","iss":null}`, `{"roles":["a"],"roles":["b"]}`, `{"roles":["a"],"roles":null}`,
	`{"exp":1,"exp":2}`, `{"aud":"a","aud":["b","c"]}`,
	// Keys: encoding/json matches case-insensitively, with Unicode folding,
	// after unescaping, and ignores unknown members.
	`{"ISS":"a"}`, `{"Iss":"a","iss":"b"}`, `{"iss":"b","ISS":"a"}`, `{"\u0069ss":"a"}`, `{"ſub":"a"}`, `{"tenanT":"a"}`,
	`{"patient_id":"a","PATIENT_ID":"b"}`, `{"unknown":{"deep":[1,2,{"x":null}]}}`, `{"":1}`, `{"iss":"a","x":1}`,
	// Strings.
	`{"sub":"\u00e9"}`, `{"sub":"\n"}`, `{"sub":"a\"b"}`, `{"sub":"\ud800"}`, `{"sub":"\ud83d\ude00"}`, "{\"sub\":\"a\x01\"}",
	"{\"sub\":\"\xff\"}", "{\"sub\":\"\xc3\xa9\"}", "{\"sub\":\"\xed\xa0\x80\"}", "{\"sub\":\"\x7f\"}", `{"sub":"a}`, `{"sub":1}`,
	`{"sub":true}`, `{"sub":null}`, `{"sub":["a"]}`, "{\"s\xffb\":\"a\"}",
	// Numbers.
	`{"exp":0}`, `{"exp":-0}`, `{"exp":-1}`, `{"exp":01}`, `{"exp":1.0}`, `{"exp":1e3}`, `{"exp":1E3}`, `{"exp":-}`,
	`{"exp":9223372036854775807}`, `{"exp":9223372036854775808}`, `{"exp":-9223372036854775808}`,
	`{"exp":-9223372036854775809}`, `{"exp":18446744073709551615}`, `{"exp":99999999999999999999}`, `{"exp":"1"}`,
	`{"exp":null}`, `{"exp":true}`, `{"exp":+1}`, `{"exp":.5}`, `{"exp":1.}`, `{"exp":0x10}`, `{"iat":1,"nbf":-5}`,
	// Structure.
	`{"iss":"a",}`, `{,"iss":"a"}`, `{"iss" "a"}`, `{"iss":}`, `{iss:"a"}`, `{'iss':'a'}`, `{"iss":"a"` + "\x00" + `}`,
	"\ufeff{}", "{}\u00a0", `{"iss":"a"}   `, `  {"iss":"a"}`,
}

func FuzzClaimsDecode(f *testing.F) {
	for _, s := range claimsSeeds {
		f.Add([]byte(s))
	}
	f.Add(issuedPayload(f, testIdentity))
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkClaimsDecode(t, payload)
	})
}

// checkClaimsDecode fails unless decodeClaims and json.Unmarshal accept
// and refuse alike and give the same values, and unless the fast path,
// whenever it takes an input, agrees with encoding/json.
func checkClaimsDecode(t *testing.T, payload []byte) {
	t.Helper()
	var ref wireClaims
	refErr := json.Unmarshal(payload, &ref)
	var fast wireClaims
	if decodeClaimsFast(string(payload), &fast) {
		if refErr != nil {
			t.Fatalf("fast path accepted %q, encoding/json refused it: %v", payload, refErr)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q:\nfast %#v\njson %#v", payload, fast, ref)
		}
	}
	var got wireClaims
	err := decodeClaims(string(payload), &got)
	if (err == nil) != (refErr == nil) {
		t.Fatalf("%q: decodeClaims error %v, encoding/json error %v", payload, err, refErr)
	}
	if err == nil && !reflect.DeepEqual(got, ref) {
		t.Fatalf("%q:\ndecodeClaims %#v\njson %#v", payload, got, ref)
	}
}

func TestClaimsDecodeSeeds(t *testing.T) {
	fastTaken := 0
	for _, s := range claimsSeeds {
		checkClaimsDecode(t, []byte(s))
		var w wireClaims
		if decodeClaimsFast(s, &w) {
			fastTaken++
		}
	}
	// The seeds must exercise both paths, or the test proves little.
	if fastTaken < 15 || fastTaken > len(claimsSeeds)-15 {
		t.Fatalf("fast path took %d of %d seeds", fastTaken, len(claimsSeeds))
	}
	// A payload with a repeated claim verifies with encoding/json's
	// meaning (the last one wins), exactly as before the fast path.
	var w wireClaims
	if err := decodeClaims(`{"sub":"a","sub":"b"}`, &w); err != nil || w.Sub != "b" {
		t.Fatalf("repeated sub: %q, %v", w.Sub, err)
	}
	if !strings.Contains(string(issuedPayload(t, testIdentity)), `"aud":["`) {
		t.Fatal("Issue no longer writes aud as an array: check the seeds")
	}
}
