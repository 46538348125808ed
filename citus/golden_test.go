package citus

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name. With -update it rewrites the
// file; on a mismatch it writes testdata/name.actual for diffing.
func golden(tb testing.TB, name, got string) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		actual := path + ".actual"
		_ = os.WriteFile(actual, []byte(got), 0o644)
		tb.Errorf("%s differs from the golden file; actual output written to %s (diff them, or run go test -update)", path, actual)
		return
	}
	_ = os.Remove(path + ".actual")
}
