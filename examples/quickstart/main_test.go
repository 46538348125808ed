package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/historiaehr/historia/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestQuickstart(t *testing.T) {
	// An empty database: the program migrates it itself.
	url := pgtest.NewDB(t, "empty", nil)
	for range 2 { // a second run finds the schema current
		var out bytes.Buffer
		if err := run(context.Background(), url, &out); err != nil {
			t.Fatal(err)
		}
		want := `schema at version 9
registered patient version 1
chart of María José Núñez Pérez: 3 observations
  Heart rate = 78 /min
  Systolic blood pressure = 118 mm[Hg]
  Body temperature = 36.8 Cel
audit chain verified: 6 events
`
		if out.String() != want {
			t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
		}
	}
}
