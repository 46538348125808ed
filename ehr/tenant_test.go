package ehr_test

import (
	"context"
	"errors"
	"testing"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
)

func TestCreateAndListTenants(t *testing.T) {
	ctx := context.Background()
	repo := ehr.NewRepository(ehrtest.NewDB(t))
	a, err := repo.CreateTenant(ctx, "Hospital Uno")
	if err != nil {
		t.Fatal(err)
	}
	b, err := repo.CreateTenant(ctx, "  Clínica Dos  ")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "Clínica Dos" {
		t.Fatalf("name not trimmed: %q", b.Name)
	}
	if _, err := repo.CreateTenant(ctx, "   "); !errors.Is(err, ehr.ErrInvalid) {
		t.Fatalf("blank name: %v, want ErrInvalid", err)
	}
	ts, err := repo.ListTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].ID != a.ID || ts[1].ID != b.ID || ts[1].Name != "Clínica Dos" {
		t.Fatalf("tenants = %+v, want [%s %s]", ts, a.ID, b.ID)
	}
}
