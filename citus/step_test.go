package citus

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// render writes actions as the golden files show them.
func render(actions []action) string {
	var b strings.Builder
	for _, a := range actions {
		fmt.Fprintf(&b, "-- %s: %s\n", a.result.Table, a.result.Outcome)
		if a.run != nil {
			b.WriteString(a.run.String())
			b.WriteString("\n")
		}
	}
	return b.String()
}

// TestApplySQL fixes the SQL Apply sends for a fresh cluster: reference
// tables, then distributed tables with their colocation.
func TestApplySQL(t *testing.T) {
	actions, err := decide(ehrPlan, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "apply.golden", render(actions))
}

// TestApplySQLAgain: a cluster where everything is in place gets no SQL.
func TestApplySQLAgain(t *testing.T) {
	state := map[string]distribution{
		"tenants":           {method: "n", repmodel: "t"},
		"roles":             {method: "n", repmodel: "t"},
		"patients":          {method: "h", repmodel: "s", column: "patient_id", colocation: 3},
		"notes":             {method: "h", repmodel: "s", column: "patient_id", colocation: 3},
		"observations":      {method: "h", repmodel: "s", column: "patient_id", colocation: 3},
		"patient_documents": {method: "h", repmodel: "s", column: "document_number", colocation: 4},
	}
	actions, err := decide(ehrPlan, nil, state)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range actions {
		if a.run != nil || a.result.Outcome != Skipped {
			t.Errorf("%s: %v with step %v, want skipped", a.result.Table, a.result.Outcome, a.run)
		}
	}
	if len(actions) != 6 {
		t.Fatalf("%d actions, want 6", len(actions))
	}
	// Half done (a failed earlier run): only the rest is sent.
	delete(state, "observations")
	delete(state, "patient_documents")
	actions, err = decide(ehrPlan, nil, state)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "apply_resume.golden", render(actions))
}

func TestApplyConflicts(t *testing.T) {
	tests := []struct {
		name  string
		state map[string]distribution
		table string
	}{
		{"reference table distributed", map[string]distribution{"tenants": {method: "h", column: "tenant_id", colocation: 1}}, "tenants"},
		{"distributed table is reference", map[string]distribution{"patients": {method: "n", repmodel: "t"}}, "patients"},
		{"other column", map[string]distribution{"patients": {method: "h", column: "tenant_id", colocation: 1}}, "patients"},
		{"other colocation group", map[string]distribution{
			"patients": {method: "h", column: "patient_id", colocation: 1},
			"notes":    {method: "h", column: "patient_id", colocation: 2}}, "notes"},
		{"colocated table distributed before its target", map[string]distribution{
			"notes": {method: "h", column: "patient_id", colocation: 2}}, "notes"},
		{"append distributed", map[string]distribution{"patients": {method: "a", column: "patient_id"}}, "patients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decide(ehrPlan, nil, tt.state)
			var ce *ConflictError
			if !errors.As(err, &ce) || !errors.Is(err, ErrConflictingDistribution) {
				t.Fatalf("decide() = %v, want a *ConflictError", err)
			}
			if ce.Table != tt.table {
				t.Errorf("conflict on %s, want %s (%v)", ce.Table, tt.table, err)
			}
		})
	}
	// A citus local table (made by Citus for a foreign key to a reference
	// table) is not distributed yet: no conflict.
	actions, err := decide(ehrPlan, nil, map[string]distribution{"patients": {method: "n", repmodel: "s"}})
	if err != nil {
		t.Fatalf("citus local table: %v", err)
	}
	if a := actions[2]; a.result.Table != "patients" || a.run == nil {
		t.Errorf("patients: %+v, want created", a.result)
	}
}

func TestOrder(t *testing.T) {
	plan := Plan{
		Reference: []string{"roles", "tenants"},
		Distributed: []Table{
			{Name: "notes", Column: "patient_id"},
			{Name: "patients", Column: "patient_id"},
			{Name: "observations", Column: "patient_id", ColocateWith: "patients"},
		},
	}
	// roles -> tenants, notes -> patients: referenced tables go first;
	// the rest keeps the plan's order.
	deps := map[string][]string{"roles": {"tenants"}, "notes": {"patients", "tenants"}}
	actions, err := decide(plan, deps, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range actions {
		got = append(got, a.result.Table)
	}
	if want := "tenants roles patients notes observations"; strings.Join(got, " ") != want {
		t.Fatalf("order %v, want %s", got, want)
	}
	_, err = decide(plan, map[string][]string{"notes": {"patients"}, "patients": {"notes"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("cycle: %v", err)
	}
}

// TestOperationsSQL fixes the SQL of the cluster operations.
func TestOperationsSQL(t *testing.T) {
	w1 := Node{Host: "worker-1", Port: 5432}
	w2 := Node{Host: "worker-2", Port: 5433}
	steps := []struct {
		name string
		s    step
	}{
		{"set coordinator host", coordinatorHostStep("coordinator", 5432)},
		{"add node", addNodeStep("worker-3", 5432)},
		{"drain node", drainNodeStep("worker-3", 5432, "")},
		{"remove node", removeNodeStep("worker-3", 5432)},
		{"start rebalance", rebalanceStartStep(TransferBlockWrites)},
		{"rebalance status", jobStatusStep(7)},
		{"stop rebalance", rebalanceStopStep()},
		{"shard for value", shardForStep("patients", "0190b6f5-6c3e-7000-8000-000000000001")},
		{"isolate tenant", isolateStep("patients", "0190b6f5-6c3e-7000-8000-000000000001", TransferAuto)},
		{"move shard", moveShardStep(102008, w1, w2, TransferLogical)},
		{"undistribute (repair)", undistributeStep("encounters")},
		{"remove local rows after distributing", truncateLocalStep("patients")},
	}
	var b strings.Builder
	for _, s := range steps {
		fmt.Fprintf(&b, "-- %s\n%s\n", s.name, s.s)
	}
	golden(t, "operations.golden", b.String())
}
