package server

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/historiaehr/historia/auth"
)

// WebAuthnConfig returns the passkeys' relying party: the host of
// PublicOrigin as RP ID and PublicOrigin itself as the one origin
// allowed. Without PublicOrigin, a server listening on the loopback
// (127.0.0.1, ::1, localhost) is its own relying party as
// http(s)://localhost:port (browsers treat localhost as a secure context;
// an IP address is never an RP ID, so open the server as localhost);
// otherwise passkeys are off. The origin is never taken from a request's
// Host header.
func (c *Config) WebAuthnConfig() (auth.WebAuthnConfig, error) {
	scheme := "http"
	if c.TLSCertFile != "" {
		scheme = "https"
	}
	origin := strings.TrimSuffix(c.PublicOrigin, "/")
	if origin == "" {
		host, port, err := net.SplitHostPort(c.Addr)
		if err != nil || port == "" || port == "0" {
			return auth.WebAuthnConfig{}, nil
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return auth.WebAuthnConfig{}, nil
		}
		origin = scheme + "://localhost:" + port
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil ||
		(u.Scheme != "https" && !(u.Scheme == "http" && u.Hostname() == "localhost")) {
		return auth.WebAuthnConfig{}, fmt.Errorf("--public-origin: want https://host[:port] (http only for localhost), got %q", c.PublicOrigin)
	}
	if net.ParseIP(u.Hostname()) != nil {
		return auth.WebAuthnConfig{}, fmt.Errorf("--public-origin: a passkey's relying party is a host name, not an IP address (%q)", c.PublicOrigin)
	}
	return auth.WebAuthnConfig{RPID: u.Hostname(), Origins: []string{u.Scheme + "://" + u.Host}}, nil
}
