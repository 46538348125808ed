package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/internal/citustest"
	"github.com/historiaehr/historia/refserver/internal/server"
)

// TestMain closes the shared PostgreSQL server of the tests and the
// Citus cluster of citus_ops_test.go.
func TestMain(m *testing.M) { citustest.Main(m) }

func noEnv(string) string { return "" }

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"healthcheck", "--url", srv.URL + "/healthz"}, nil, &out, &errOut, noEnv); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	status = http.StatusServiceUnavailable
	err := run(ctx, []string{"healthcheck", "--url", srv.URL + "/healthz"}, nil, &out, &errOut, noEnv)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "503") {
		t.Fatalf("unhealthy server: %v (exit %d), want exit 1 naming 503", err, exitCode(err))
	}
	err = run(ctx, []string{"healthcheck", "--url", "ftp://x"}, nil, &out, &errOut, noEnv)
	if !errors.Is(err, errUsage) {
		t.Fatalf("bad url: %v, want a usage error", err)
	}
	// Nothing listening: a clean failure, not a hang.
	srv.Close()
	if err := run(ctx, []string{"healthcheck", "--url", srv.URL + "/healthz"}, nil, &out, &errOut, noEnv); err == nil {
		t.Fatal("closed server reported healthy")
	}
}

func TestTenantAddAndList(t *testing.T) {
	ctx := context.Background()
	url := ehrtest.NewURL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"tenant", "add", "--database-url", url, "Clínica", "Norte"}, nil, &out, &errOut, noEnv); err != nil {
		t.Fatalf("tenant add: %v (%s)", err, errOut.String())
	}
	id := strings.TrimSpace(out.String())
	if len(id) != 36 {
		t.Fatalf("tenant add printed %q, want a uuid", id)
	}
	out.Reset()
	env := func(k string) string {
		if k == "HISTORIA_DATABASE_URL" {
			return url
		}
		return ""
	}
	if err := run(ctx, []string{"tenant", "list"}, nil, &out, &errOut, env); err != nil {
		t.Fatalf("tenant list: %v", err)
	}
	if !strings.Contains(out.String(), id) || !strings.Contains(out.String(), "Clínica Norte") {
		t.Fatalf("tenant list:\n%s\nwant %s Clínica Norte", out.String(), id)
	}
	for _, args := range [][]string{
		{"tenant"},
		{"tenant", "remove"},
		{"tenant", "add", "--database-url", url},
		{"tenant", "list", "--database-url", url, "extra"},
		{"tenant", "add", "Sin URL"},
	} {
		if err := run(ctx, args, nil, &out, &errOut, noEnv); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

// TestDatabaseCommandsUsageErrors: every command that takes a database
// answers a flag mistake or a missing URL with a usage error (exit 2),
// before connecting.
func TestDatabaseCommandsUsageErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{
		{"migrate", "--bogus"}, {"migrate"},
		{"citus", "status", "--bogus"}, {"citus", "distribute"},
		{"tenant", "list", "--bogus"}, {"tenant", "list"},
		{"user", "disable", "--bogus"}, {"user", "disable", "--tenant", "t", "--username", "u"},
		{"audit", "verify", "--bogus"}, {"audit", "verify"},
	} {
		err := run(context.Background(), args, nil, &out, &errOut, noEnv)
		if !errors.Is(err, errUsage) || exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
}
