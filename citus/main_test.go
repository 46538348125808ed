package citus_test

import (
	"testing"

	"github.com/historiaehr/historia/internal/citustest"
)

func TestMain(m *testing.M) { citustest.Main(m) }
