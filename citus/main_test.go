package citus_test

import (
	"testing"

	"github.com/historiaehr/historia/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
