package server

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/protocol/fhir"
)

// Config is the configuration of `historia serve`.
type Config struct {
	Addr        string
	DatabaseURL string
	// SigningKeyFile holds the access-token signing key (PEM); empty
	// generates an ephemeral key at start (tokens die with the process).
	SigningKeyFile string
	// VerifyKeyFiles are older public keys that still verify tokens.
	VerifyKeyFiles string
	TLSCertFile    string
	TLSKeyFile     string
	Issuer         string
	IdleTimeout    time.Duration
	LogLevel       string
	// MetricsAddr is the address of a listener of its own that serves
	// only GET /metrics (e.g. 127.0.0.1:9090, or a pod address the
	// scraper reaches); empty: no such listener.
	MetricsAddr string
	// MetricsToken, read from --metrics-token-file, serves /metrics on
	// the main listener to that bearer token. With neither, the metrics
	// are not served at all: they are never public by default.
	MetricsToken string
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// PublicOrigin is the origin users' browsers reach the server at
	// (https://historia.example.org): the passkeys' relying party
	// (WebAuthnConfig). Empty: derived from Addr on the loopback
	// (http(s)://localhost:port), else passkeys are off.
	PublicOrigin string
	// MFARoles are the roles that must use a second factor (TOTP) in
	// every tenant: a user holding one enrols at their first login.
	// Empty: a second factor only for users who enrolled of their own
	// accord.
	MFARoles []string
	// TenantMFARoles overrides MFARoles for the tenants it names (an
	// empty list: no role must). Not a flag: embedders set it.
	TenantMFARoles map[string][]string
	// LoginLimiter limits login attempts per client; nil is auth's
	// default. Not a flag: tests and embedders set it.
	LoginLimiter auth.Limiter
	// Clock is the sessions' clock (token expiry, idle time-out); nil is
	// the system clock. Not a flag: tests set it.
	Clock auth.Clock
	// FHIRNarrow, when set, is asked before every FHIR interaction (the
	// SMART on FHIR seam, fhir.Options.Narrow): it may refuse, never
	// widen. Not a flag: embedders set it.
	FHIRNarrow fhir.Narrow
	// ExportDir is where FHIR $export jobs write their files (a directory
	// of the process is made in it, removed at shutdown); empty is
	// historia-export under the system's temporary directory.
	ExportDir string
}

// EnvPrefix prefixes the environment variable of every flag: --database-url
// is HISTORIA_DATABASE_URL.
const EnvPrefix = "HISTORIA_"

// EnvName returns the environment variable that sets flag name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// RegisterFlags declares the flags of Config on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (or use --database-url-file)")
	fs.Func("database-url-file", "file holding the PostgreSQL URL (a secret)", func(path string) error {
		v, err := ReadSecret(path)
		c.DatabaseURL = v
		return err
	})
	fs.StringVar(&c.SigningKeyFile, "signing-key-file", "", "PEM file with the token signing key (Ed25519 by default); empty: an ephemeral key")
	fs.StringVar(&c.VerifyKeyFiles, "verify-key-files", "", "comma-separated PEM files of older keys that still verify tokens")
	fs.StringVar(&c.TLSCertFile, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves HTTPS")
	fs.StringVar(&c.TLSKeyFile, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.Issuer, "issuer", "historia", "token issuer (iss) and audience")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 15*time.Minute, "session idle time-out")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.Func("mfa-roles", "comma-separated roles that must use a second factor (TOTP), e.g. medico,admin; empty: none must", func(v string) error {
		c.MFARoles = SplitRoles(v)
		return nil
	})
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "address of a separate listener serving only GET /metrics (e.g. 127.0.0.1:9090); default: none")
	fs.Func("metrics-token-file", "file holding a bearer token that may read GET /metrics on the main listener (a secret); default: /metrics is not on the main listener", func(path string) error {
		v, err := ReadSecret(path)
		c.MetricsToken = v
		return err
	})
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "graceful shutdown limit")
	fs.StringVar(&c.PublicOrigin, "public-origin", "", "origin the browsers reach the server at (https://historia.example.org), the passkeys' relying party; default: http(s)://localhost:port when --addr is on the loopback, else passkeys are off")
	fs.StringVar(&c.ExportDir, "export-dir", "", "directory FHIR $export jobs write their ndjson files to (default: historia-export in the system temporary directory)")
}

// ParseFlags parses args into fs, then fills every flag not given on the
// command line from its HISTORIA_* environment variable, if set.
func ParseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

// SplitRoles splits a comma-separated list of roles, dropping blanks.
func SplitRoles(v string) []string {
	var out []string
	for _, r := range strings.Split(v, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// MFAPolicies returns the auth policies of c: the default one and the
// tenants' overrides.
func (c *Config) MFAPolicies() (auth.MFAPolicy, map[string]auth.MFAPolicy) {
	policy := func(roles []string) auth.MFAPolicy {
		p := auth.MFAPolicy{Required: map[string]bool{}}
		for _, r := range roles {
			p.Required[r] = true
		}
		return p
	}
	var tenants map[string]auth.MFAPolicy
	for t, roles := range c.TenantMFARoles {
		if tenants == nil {
			tenants = map[string]auth.MFAPolicy{}
		}
		tenants[t] = policy(roles)
	}
	return policy(c.MFARoles), tenants
}

// ReadSecret reads a secret from a file, trimming surrounding whitespace.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("read secret: %s is empty", path)
	}
	return v, nil
}

// Validate checks the combination of settings.
func (c *Config) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("--database-url (or HISTORIA_DATABASE_URL, or --database-url-file) is required"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	for _, r := range c.MFARoles {
		if !knownRoles[r] {
			errs = append(errs, fmt.Errorf("--mfa-roles: unknown role %q", r))
		}
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		errs = append(errs, errors.New("--metrics-token-file: the token must be at least 16 characters"))
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.Addr {
		errs = append(errs, errors.New("--metrics-addr must differ from --addr"))
	}
	if _, err := c.WebAuthnConfig(); err != nil {
		errs = append(errs, err)
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, errors.New("--idle-timeout must be positive"))
	}
	return errors.Join(errs...)
}

// knownRoles are the roles --mfa-roles may name.
var knownRoles = map[string]bool{app.RolePaciente: true, app.RoleMedico: true, app.RoleAdmisionista: true,
	app.RoleSecretaria: true, app.RoleAdmin: true, app.RoleAuditor: true}
