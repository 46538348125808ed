package citus

import (
	"errors"
	"reflect"
	"testing"
)

// ehrPlan mirrors the shape of Historia's own plan.
var ehrPlan = Plan{
	Reference: []string{"tenants", "roles"},
	Distributed: []Table{
		{Name: "patients", Column: "patient_id"},
		{Name: "notes", Column: "patient_id", ColocateWith: "patients"},
		{Name: "observations", Column: "patient_id", ColocateWith: "notes"},
		{Name: "patient_documents", Column: "document_number"},
	},
}

func TestValidate(t *testing.T) {
	if err := ehrPlan.Validate(); err != nil {
		t.Fatalf("valid plan: %v", err)
	}
	tests := []struct {
		name  string
		plan  Plan
		want  []Rule
		table string
	}{
		{"empty reference name", Plan{Reference: []string{" "}}, []Rule{RulePlan}, "Reference[0]"},
		{"empty distributed name", Plan{Distributed: []Table{{Column: "a"}}}, []Rule{RulePlan}, "Distributed[0]"},
		{"empty column", Plan{Distributed: []Table{{Name: "a"}}}, []Rule{RulePlan}, "a"},
		{"duplicate reference", Plan{Reference: []string{"t", "public.T"}}, []Rule{RulePlan}, "public.T"},
		{"duplicate distributed", Plan{Distributed: []Table{{Name: "a", Column: "x"}, {Name: "a", Column: "x"}}}, []Rule{RulePlan}, "a"},
		{"reference and distributed", Plan{Reference: []string{"a"}, Distributed: []Table{{Name: "a", Column: "x"}}}, []Rule{RulePlan}, "a"},
		{"colocated with itself", Plan{Distributed: []Table{{Name: "a", Column: "x", ColocateWith: "a"}}}, []Rule{RulePlan}, "a"},
		{"colocated with later table", Plan{Distributed: []Table{
			{Name: "notes", Column: "patient_id", ColocateWith: "patients"},
			{Name: "patients", Column: "patient_id"}}}, []Rule{RuleColocationOrder}, "notes"},
		{"colocated with unknown table", Plan{Distributed: []Table{{Name: "a", Column: "x", ColocateWith: "b"}}}, []Rule{RuleColocationOrder}, "a"},
		{"colocated with reference table", Plan{Reference: []string{"r"}, Distributed: []Table{{Name: "a", Column: "x", ColocateWith: "r"}}}, []Rule{RuleColocationOrder}, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.plan.Validate()
			var ce *CheckError
			if !errors.As(err, &ce) || !errors.Is(err, ErrViolations) {
				t.Fatalf("Validate() = %v, want a *CheckError matching ErrViolations", err)
			}
			var rules []Rule
			for _, v := range ce.Violations {
				rules = append(rules, v.Rule)
			}
			if !reflect.DeepEqual(rules, tt.want) {
				t.Fatalf("rules = %v, want %v (%v)", rules, tt.want, err)
			}
			if ce.Violations[0].Table != tt.table {
				t.Errorf("table = %q, want %q", ce.Violations[0].Table, tt.table)
			}
		})
	}
}

func TestGroups(t *testing.T) {
	g := ehrPlan.groups()
	want := map[string]string{"patients": "patients", "notes": "patients", "observations": "patients", "patient_documents": "patient_documents"}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("groups = %v, want %v", g, want)
	}
	// A cycle (an invalid plan) does not hang.
	cyc := Plan{Distributed: []Table{{Name: "a", Column: "x", ColocateWith: "b"}, {Name: "b", Column: "x", ColocateWith: "a"}}}
	if g := cyc.groups(); len(g) != 2 {
		t.Fatalf("groups of a cycle = %v", g)
	}
}

func TestDistributionColumn(t *testing.T) {
	if c, ok := ehrPlan.DistributionColumn("public.Notes"); !ok || c != "patient_id" {
		t.Errorf("notes: %q, %v", c, ok)
	}
	if _, ok := ehrPlan.DistributionColumn("tenants"); ok {
		t.Error("a reference table has no distribution column")
	}
	if _, ok := ehrPlan.DistributionColumn("nope"); ok {
		t.Error("a table outside the plan has no distribution column")
	}
}

func TestViolationString(t *testing.T) {
	v := Violation{Rule: RulePrimaryKey, Table: "bad_pk", Constraint: "bad_pk_pkey", Detail: "primary key (id) does not contain distribution column patient_id"}
	want := "bad_pk: constraint bad_pk_pkey: primary key (id) does not contain distribution column patient_id [primary-key]"
	if v.String() != want {
		t.Errorf("String() = %q, want %q", v.String(), want)
	}
	err := error(&ConflictError{Table: "notes", Want: "distributed by patient_id", Have: "a reference table"})
	if !errors.Is(err, ErrConflictingDistribution) || errors.Is(err, ErrViolations) {
		t.Errorf("ConflictError matches wrongly: %v", err)
	}
}
