package ehr_test

import (
	"context"
	"testing"

	"github.com/historiaehr/historia/citus"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
)

// TestDistributionPlanPassesCitusCheck runs citus.Check, the same check
// `historia citus distribute` runs before distributing, against the
// migrated schema on plain PostgreSQL: every migration must keep the
// schema distributable.
func TestDistributionPlanPassesCitusCheck(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, ehrtest.NewURL(t))
	plan := ehr.DistributionPlan()
	if err := plan.Validate(); err != nil {
		t.Fatalf("plan: %v", err)
	}
	violations, err := citus.Check(ctx, conn, plan)
	for _, v := range violations {
		t.Errorf("violation: %v", v)
	}
	if err != nil {
		t.Fatal(err)
	}
	// On plain PostgreSQL Apply distributes nothing and says so.
	rep, err := citus.Apply(ctx, conn, plan)
	if err != nil {
		t.Fatalf("Apply on plain PostgreSQL: %v", err)
	}
	if rep.Citus || rep.Changed() {
		t.Fatalf("Apply on plain PostgreSQL reported changes: %s", rep)
	}
}
