package ehr_test

import (
	"testing"

	"github.com/historiaehr/historia/ehr/ehrtest"
)

func TestMain(m *testing.M) { ehrtest.Main(m) }
