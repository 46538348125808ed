package pgtest_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var setups atomic.Int32

func setup(ctx context.Context, url string) error {
	setups.Add(1)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE marker (v int); INSERT INTO marker VALUES (42)`)
	return err
}

// TestNewDB checks that each test gets its own database cloned from the
// template, which is prepared once.
func TestNewDB(t *testing.T) {
	ctx := context.Background()
	var names [2]string
	for i := range names {
		url := pgtest.NewDB(t, "marker", setup)
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		var v int
		if err := conn.QueryRow(ctx, `SELECT v FROM marker`).Scan(&v); err != nil || v != 42 {
			t.Fatalf("template content: v=%d err=%v", v, err)
		}
		// A write in one database is not seen in the other.
		if _, err := conn.Exec(ctx, `INSERT INTO marker VALUES ($1)`, i); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM marker`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("rows = %d, %v; want 2 (databases must not share rows)", n, err)
		}
		if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&names[i]); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
	}
	if names[0] == names[1] {
		t.Fatalf("both tests got database %s", names[0])
	}
	if got := setups.Load(); got != 1 {
		t.Fatalf("template set up %d times, want 1", got)
	}
	s, err := pgtest.Shared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server source: %s", s.Source())
}

// TestDropDatabase checks that a test's database is gone after cleanup.
func TestDropDatabase(t *testing.T) {
	ctx := context.Background()
	s, err := pgtest.Shared(ctx)
	if err != nil {
		pgtest.Unavailable(t, err)
	}
	name, err := s.CreateDatabase(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DropDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, s.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil || exists {
		t.Fatalf("database %s exists=%v after drop (err %v)", name, exists, err)
	}
}

// TestSettings: durability is off unless HISTORIA_TEST_PG_DURABLE says
// otherwise, and a value that is no boolean is an error.
func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		env, want string
		bad       bool
	}{{"", "off", false}, {"0", "off", false}, {"false", "off", false}, {"1", "on", false}, {"true", "on", false}, {"yes", "", true}} {
		t.Setenv(pgtest.EnvDurable, tc.env)
		got, err := pgtest.Settings()
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), pgtest.EnvDurable) {
				t.Errorf("%s=%q: %v, %v; want an error naming the variable", pgtest.EnvDurable, tc.env, got, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s=%q: %v", pgtest.EnvDurable, tc.env, err)
		}
		for _, k := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
			if got[k] != tc.want {
				t.Errorf("%s=%q: %s=%q, want %q", pgtest.EnvDurable, tc.env, k, got[k], tc.want)
			}
		}
	}
}

// TestServerSettings: a server this package started runs with Settings.
func TestServerSettings(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDB(t, "marker", setup)
	s, err := pgtest.Shared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Source() == "url" {
		t.Skip("a server given by URL keeps its own settings")
	}
	want, err := pgtest.Settings()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, k := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", k).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != want[k] {
			t.Errorf("%s = %s, want %s (%s)", k, v, want[k], s.Source())
		}
	}
}
