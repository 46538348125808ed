package rbac_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files (testdata/*.golden and docs/rbac.md)")

// checkGolden compares got with the golden file at path. With -update it
// rewrites the file instead. On mismatch it writes got to
// testdata/<name>.actual (ignored by git) for inspection and fails with the
// command that refreshes the file.
func checkGolden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v; create it with: go test ./rbac -update", err)
	}
	actual := filepath.Join("testdata", filepath.Base(path)+".actual")
	if bytes.Equal(got, want) {
		os.Remove(actual)
		return
	}
	if err := os.WriteFile(actual, got, 0o644); err != nil {
		tb.Error(err)
	}
	tb.Fatalf("%s is out of date (the current output is in rbac/%s: diff them).\n"+
		"If the change is intended, refresh it with: go test ./rbac -update", path, actual)
}
