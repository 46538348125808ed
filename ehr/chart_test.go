package ehr

import (
	"slices"
	"strings"
	"testing"

	"github.com/historiaehr/historia/rbac"
)

// TestChartSectionsTable: the chart reads every kind of patient record
// (each versioned table's kind is decided for the chart), each section
// once, and every section's statements read one patient of one tenant
// ($1, $2), so the batch stays on the patient's shard on Citus (the
// routing test checks the statements the workflow sends).
func TestChartSectionsTable(t *testing.T) {
	for _, tb := range []table{tPatients, tEncounters, tAppointments, tCareTeam, tNotes, tConditions, tAllergies,
		tMedications, tObservations} {
		if !slices.Contains(chartKinds, tb.kind) {
			t.Errorf("the chart does not read %s (table %s): add a row to chartSections", tb.kind, tb.name)
		}
	}
	seen := map[rbac.Kind]bool{}
	for _, s := range chartSections {
		if seen[s.kind] {
			t.Errorf("kind %s has two sections", s.kind)
		}
		seen[s.kind] = true
		for _, sql := range []string{s.sql, s.ownSQL} {
			if sql != "" && !strings.Contains(sql, "WHERE patient_id = $1 AND tenant_id = $2") {
				t.Errorf("section %s does not read one patient of the tenant: %s", s.kind, sql)
			}
		}
		if s.add == nil {
			t.Errorf("section %s has no add", s.kind)
		}
	}
	if want := 2 + len(chartSections) + 1; len(chartKinds) != want { // one section is read in part (admissions)
		t.Errorf("chart decides %d kinds, want %d", len(chartKinds), want)
	}
}
