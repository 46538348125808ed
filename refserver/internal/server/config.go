package server

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/historiaehr/historia/auth"
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
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// LoginLimiter limits login attempts per client; nil is auth's
	// default. Not a flag: tests and embedders set it.
	LoginLimiter auth.Limiter
	// Clock is the sessions' clock (token expiry, idle time-out); nil is
	// the system clock. Not a flag: tests set it.
	Clock auth.Clock
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
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "graceful shutdown limit")
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
	if c.IdleTimeout <= 0 {
		errs = append(errs, errors.New("--idle-timeout must be positive"))
	}
	return errors.Join(errs...)
}
