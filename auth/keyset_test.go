package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyPEMRoundTripAndLoadKeySet(t *testing.T) {
	dir := t.TempDir()
	for _, alg := range []Algorithm{EdDSA, ES256, RS256, HS256} {
		t.Run(string(alg), func(t *testing.T) {
			var paths []string
			var keys []*Key
			for i := 0; i < 2; i++ {
				k, err := GenerateKey(alg)
				if err != nil {
					t.Fatal(err)
				}
				b, err := k.MarshalPEM()
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, string(alg)+string(rune('0'+i))+".pem")
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				paths, keys = append(paths, p), append(keys, k)
			}
			ks, err := LoadKeySet(alg, paths...)
			if err != nil {
				t.Fatal(err)
			}
			if ks.SigningKey().ID() != keys[1].ID() {
				t.Fatal("newest file does not sign")
			}
			if ks.Algorithm() != alg || len(ks.Keys()) != 2 || ks.Keys()[0].ID() != keys[0].ID() {
				t.Fatal("keys")
			}
			if _, err := LoadKeySet(otherAlg(alg), paths...); err == nil {
				t.Fatal("key of another algorithm accepted")
			}
			if alg != HS256 {
				pub, _ := keys[0].Public().MarshalPEM()
				k, err := ParseKeyPEM(pub)
				if err != nil || k.CanSign() || k.ID() != keys[0].ID() {
					t.Fatalf("public PEM: %v", err)
				}
			}
		})
	}
	if _, err := ParseKeyPEM([]byte("not pem")); err == nil {
		t.Fatal("garbage accepted")
	}
	if _, err := NewHMACKey(make([]byte, 31)); err == nil {
		t.Fatal("short HMAC secret accepted")
	}
}

func otherAlg(a Algorithm) Algorithm {
	if a == EdDSA {
		return ES256
	}
	return EdDSA
}

// RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
func TestKIDIsRFC7638Thumbprint(t *testing.T) {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	k, err := NewKey(ed25519.PublicKey(x))
	if err != nil {
		t.Fatal(err)
	}
	if k.ID() != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("kid %s", k.ID())
	}
}

func TestJWKS(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, ES256, RS256} {
		k1, _ := GenerateKey(alg)
		k2, _ := GenerateKey(alg)
		ks, _ := NewKeySet(alg, k1, k2)
		b, err := ks.MarshalJWKS()
		if err != nil {
			t.Fatal(err)
		}
		var doc JWKS
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Keys) != 2 || doc.Keys[1].Kid != k2.ID() || doc.Keys[0].Alg != string(alg) || doc.Keys[0].Use != "sig" {
			t.Fatalf("%s: %s", alg, b)
		}
		if strings.Contains(string(b), `"d"`) {
			t.Fatalf("private part published: %s", b)
		}
		if doc.Keys[0].thumbprint() != k1.ID() {
			t.Fatal("kid is not the thumbprint of the published key")
		}
	}
	h, _ := GenerateKey(HS256)
	ks, _ := NewKeySet(HS256, h)
	b, _ := ks.MarshalJWKS()
	if string(b) != `{"keys":[]}` {
		t.Fatalf("HMAC secret published: %s", b)
	}
}
