package server

import (
	"slices"
	"testing"
)

// TestWebAuthnConfig: the passkeys' relying party comes from
// --public-origin, or from a loopback --addr as localhost; anything else
// turns passkeys off, and a malformed origin is refused.
func TestWebAuthnConfig(t *testing.T) {
	for _, tc := range []struct {
		c       Config
		rpID    string
		origins []string
		bad     bool
	}{
		{c: Config{PublicOrigin: "https://historia.example.org"}, rpID: "historia.example.org", origins: []string{"https://historia.example.org"}},
		{c: Config{PublicOrigin: "https://historia.example.org:8443/"}, rpID: "historia.example.org", origins: []string{"https://historia.example.org:8443"}},
		{c: Config{Addr: "127.0.0.1:8080"}, rpID: "localhost", origins: []string{"http://localhost:8080"}},
		{c: Config{Addr: "[::1]:8443", TLSCertFile: "c", TLSKeyFile: "k"}, rpID: "localhost", origins: []string{"https://localhost:8443"}},
		{c: Config{Addr: ":8080"}},
		{c: Config{Addr: "10.0.0.5:8080"}},
		{c: Config{PublicOrigin: "http://historia.example.org"}, bad: true},
		{c: Config{PublicOrigin: "https://10.0.0.5"}, bad: true},
		{c: Config{PublicOrigin: "https://historia.example.org/app"}, bad: true},
		{c: Config{PublicOrigin: "historia.example.org"}, bad: true},
	} {
		got, err := tc.c.WebAuthnConfig()
		if (err != nil) != tc.bad || got.RPID != tc.rpID || !slices.Equal(got.Origins, tc.origins) {
			t.Errorf("%+v: %+v, %v", tc.c, got, err)
		}
	}
}
