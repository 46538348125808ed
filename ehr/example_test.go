package ehr_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
)

// Migrate runs on a connection of its own, before the pool serves.
func ExampleMigrate() {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, "postgres://historia@localhost/historia")
	if err != nil {
		panic(err)
	}
	defer conn.Close(ctx)
	if err := ehr.Migrate(ctx, conn); err != nil {
		panic(err)
	}
}

// A physician reads a chart; the principal comes from the request's
// token.
func ExampleRepository_Chart() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://historia_app@localhost/historia")
	if err != nil {
		panic(err)
	}
	repo := ehr.NewRepository(pool)
	ctx = ehr.NewContext(ctx, ehr.Actor{
		Principal: rbac.Principal{UserID: "0190b7a2-…", TenantID: "0190b7a0-…", Roles: []string{"medico"}},
		RequestID: "req-42", IP: "192.0.2.1",
	})
	chart, err := repo.Chart(ctx, "0190b7a3-…")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(chart.Observations), chart.Withheld)
}

// An update names the version it read; a stale one fails with
// ErrConflict.
func ExampleRepository_UpdateAllergy() {
	var repo *ehr.Repository
	var ctx context.Context
	al := ehr.Allergy{PatientID: "…", ID: "…", Version: 3, Substance: "Penicilina", Severity: "severe"}
	v, err := repo.UpdateAllergy(ctx, al)
	switch {
	case err == nil:
		fmt.Println("now at version", v)
	case errors.Is(err, ehr.ErrConflict):
		fmt.Println("someone else changed it: reload")
	}
}

// A physician outside the care team breaks the glass in an emergency.
func ExampleRepository_BreakGlass() {
	var repo *ehr.Repository
	var ctx context.Context
	g, err := repo.BreakGlass(ctx, "0190b7a3-…", "paciente inconsciente en urgencias", time.Hour)
	if err != nil {
		panic(err)
	}
	fmt.Println("access until", g.NotAfter)
}
