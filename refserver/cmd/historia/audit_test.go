package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestAuditCommandUsage(t *testing.T) {
	noEnv := func(string) string { return "" }
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"audit"}, {"audit", "check"}, {"audit", "verify"}} {
		err := run(context.Background(), args, nil, &out, &errOut, noEnv)
		if !errors.Is(err, errUsage) || exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
	errOut.Reset()
	err := run(context.Background(), []string{"audit", "verify", "-h"}, nil, &out, &errOut, noEnv)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"--patient", "auditor principal", "status 1"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, errOut.String())
		}
	}
}
