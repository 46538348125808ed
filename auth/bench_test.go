package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkVerify compares a full access-token verification (size check,
// split, base64, header and claims JSON, kid lookup, claim checks,
// signature) with the bare signature check on the same signing input.
// "service" adds the session check, without the verified-token cache;
// "service-cached" is the same with the cache (Config.TokenCacheSize), the
// middleware's path for a token it has seen: every check but the
// signature's.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name string
		alg  Algorithm
	}{{"eddsa", EdDSA}, {"hs256", HS256}, {"es256", ES256}, {"rs256", RS256}} {
		b.Run(tc.name, func(b *testing.B) {
			clock := newFakeClock()
			k, err := GenerateKey(tc.alg)
			if err != nil {
				b.Fatal(err)
			}
			ks, _ := NewKeySet(tc.alg, k)
			iss, err := NewIssuer(ks, IssuerConfig{Issuer: "https://historia.example", Audience: "historia", Clock: clock})
			if err != nil {
				b.Fatal(err)
			}
			tok, _, err := iss.Issue(Identity{UserID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Tenant: "hospital-central",
				Roles: []string{"medico"}, SessionID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"})
			if err != nil {
				b.Fatal(err)
			}
			i := strings.LastIndexByte(tok, '.')
			input := tok[:i]
			sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
			b.Run("historia", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := iss.Verify(tok); err != nil {
						b.Fatal(err)
					}
				}
			})
			// service: Verify plus the revocation check of every request
			// (Service.VerifyContext: a map lookup, no allocation), the
			// verified-token cache off.
			newSvc := func(cacheSize int) *Service {
				svc, err := NewService(nil, ks, Config{Issuer: "https://historia.example", Audience: "historia", Clock: clock,
					Hasher: newCountingHasher(cheapParams), TokenCacheSize: cacheSize})
				if err != nil {
					b.Fatal(err)
				}
				svc.revoked([]string{"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d"})
				return svc
			}
			ctx := context.Background()
			for _, sc := range []struct {
				name string
				svc  *Service
			}{{"service", newSvc(-1)}, {"service-cached", newSvc(0)}} {
				b.Run(sc.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := sc.svc.VerifyContext(ctx, tok); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			b.Run("raw", func(b *testing.B) {
				b.ReportAllocs()
				switch tc.alg {
				case EdDSA:
					pub := k.public.(ed25519.PublicKey)
					for b.Loop() {
						if !ed25519.Verify(pub, []byte(input), sig) {
							b.Fatal("bad signature")
						}
					}
				case HS256:
					secret := k.public.([]byte)
					for b.Loop() {
						m := hmac.New(sha256.New, secret)
						m.Write([]byte(input))
						if !hmac.Equal(m.Sum(nil), sig) {
							b.Fatal("bad signature")
						}
					}
				case ES256:
					pub := k.public.(*ecdsa.PublicKey)
					for b.Loop() {
						h := sha256.Sum256([]byte(input))
						// JWS carries r||s; convert to ASN.1-free verify.
						if !verifyES256Raw(pub, h[:], sig) {
							b.Fatal("bad signature")
						}
					}
				case RS256:
					for b.Loop() {
						if err := verifyRS256Raw(k, input, sig); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		})
	}
}

// BenchmarkVerifyCachedParallel is BenchmarkVerify/eddsa/service-cached
// on every core at once (b.RunParallel), as a server's handlers verify:
// one token per goroutine, each in the cache before the timer starts; the
// cache is read under a shared lock.
func BenchmarkVerifyCachedParallel(b *testing.B) {
	e := newTokenEnv(b, EdDSA)
	svc, err := NewService(nil, e.keys, Config{Issuer: testIss, Audience: testAud, Clock: e.clock, Hasher: newCountingHasher(cheapParams)})
	if err != nil {
		b.Fatal(err)
	}
	// One cached token per goroutine (RunParallel starts GOMAXPROCS).
	toks := make([]string, runtime.GOMAXPROCS(0))
	for i := range toks {
		if toks[i], _, err = svc.Issuer().Issue(testIdentity); err == nil {
			_, err = svc.Verify(toks[i])
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		tok := toks[int(next.Add(1)-1)%len(toks)]
		for pb.Next() {
			if _, err := svc.Verify(tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHashPassword is one argon2id hash at DefaultParams: the cost of
// a login, known user or not.
func BenchmarkHashPassword(b *testing.B) {
	h := NewArgon2id(DefaultParams)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple 42"); err != nil {
			b.Fatal(err)
		}
	}
}

var _ = time.Second
