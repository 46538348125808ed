package server

import (
	"flag"
	"io"
	"testing"
)

// TestMFARolesFlag: --mfa-roles (or HISTORIA_MFA_ROLES) becomes auth's
// policy; an unknown role is refused.
func TestMFARolesFlag(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	env := map[string]string{"HISTORIA_DATABASE_URL": "postgres://x", "HISTORIA_MFA_ROLES": " medico, admin ,"}
	if err := ParseFlags(fs, nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	p, _ := c.MFAPolicies()
	if !p.RequiredFor([]string{"admin"}) || !p.RequiredFor([]string{"medico"}) || p.RequiredFor([]string{"secretaria"}) {
		t.Fatalf("policy %v", p.Required)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.MFARoles = []string{"doctor"}
	if err := c.Validate(); err == nil {
		t.Fatal("an unknown role in --mfa-roles was accepted")
	}
}
