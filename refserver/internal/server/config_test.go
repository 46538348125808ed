package server

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseFlagsEnv(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "db")
	if err := os.WriteFile(secret, []byte("postgres://from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"HISTORIA_ADDR":         ":9999",
		"HISTORIA_IDLE_TIMEOUT": "5m",
		"HISTORIA_DATABASE_URL": "postgres://from-env",
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantDB  string
		wantAdr string
	}{
		{"env", nil, env, "postgres://from-env", ":9999"},
		{"flag beats env", []string{"--addr", ":1", "--database-url", "postgres://flag"}, env, "postgres://flag", ":1"},
		{"secret file", []string{"--database-url-file", secret}, nil, "postgres://from-file", "127.0.0.1:8080"},
		{"secret file from env", nil, map[string]string{"HISTORIA_DATABASE_URL_FILE": secret}, "postgres://from-file", "127.0.0.1:8080"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.RegisterFlags(fs)
			if err := ParseFlags(fs, tc.args, func(k string) string { return tc.env[k] }); err != nil {
				t.Fatal(err)
			}
			if c.DatabaseURL != tc.wantDB || c.Addr != tc.wantAdr {
				t.Errorf("got db %q addr %q, want %q %q", c.DatabaseURL, c.Addr, tc.wantDB, tc.wantAdr)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := ParseFlags(fs, nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.IdleTimeout != 5*time.Minute {
		t.Errorf("idle timeout %v", c.IdleTimeout)
	}
	bad := Config{IdleTimeout: time.Minute, TLSCertFile: "x"}
	if err := bad.Validate(); err == nil {
		t.Error("Validate accepted no database URL and a cert without key")
	}
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := ParseFlags(fs, nil, func(k string) string { return map[string]string{"HISTORIA_IDLE_TIMEOUT": "soon"}[k] }); err == nil {
		t.Error("a bad HISTORIA_IDLE_TIMEOUT was accepted")
	}
}
