package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestLoadUsage: the load command's flag mistakes are usage errors,
// found before it connects to anything, and its help says what it drives.
func TestLoadUsage(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, args := range [][]string{
		{"load"}, // no password
		{"load", "--demo-password", "x", "extra"},
		{"load", "--demo-password", "x", "-c", "0"},
		{"load", "--demo-password", "x", "--mix", "cirujano=3"},
		{"load", "--demo-password", "x", "--mix", "medico=0"},
		{"load", "--demo-password", "x", "--mix", "off"}, // the comparison needs --baseline-db
		{"load", "--demo-password", "x", "--baseline-audit"},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, nil, &out, &errOut, noEnv); exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"load", "-h"}, nil, &out, &errOut, noEnv); exitCode(err) != 2 {
		t.Errorf("load -h: %v", err)
	}
	for _, want := range []string{"--baseline-db", "medico", "admisionista", "secretaria", "paciente", "--allow-remote"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, errOut.String())
		}
	}
	// A target off the loopback is refused before any request.
	err := run(context.Background(), []string{"load", "--demo-password", "x", "--url", "http://192.0.2.1:8080", "-d", "1s"}, nil, &out, &errOut, noEnv)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("remote target: %v", err)
	}
}
