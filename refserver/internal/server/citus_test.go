package server

import (
	"testing"

	"github.com/historiaehr/historia/internal/citustest"
)

// TestWorkflowsOnCitus runs the reference server's role workflows through
// HTTP against a database distributed on the Citus test cluster (the
// coordinator registered, as real deployments have it): pages and API of
// every role, registration, admission, notes and signing, booking and the
// agenda, the patient portal, and audit verification. Each workflow is the
// plain-PostgreSQL test of the same name, unchanged.
func TestWorkflowsOnCitus(t *testing.T) {
	citustest.New(t)
	onCitus = true
	t.Cleanup(func() { onCitus = false })
	for _, w := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"RolePages", TestRolePages},
		{"MedicoScenario", TestMedicoScenario},
		{"SecretariaScenario", TestSecretariaScenario},
		{"AdmisionistaScenario", TestAdmisionistaScenario},
		{"AdminScenario", TestAdminScenario},
		{"PatientPortal", TestPatientPortal},
		{"PortalShowsSignedNotesOnly", TestPortalShowsSignedNotesOnly},
		{"APIFlows", TestAPIFlows},
		{"AuditVerifyAndPoolMetrics", TestAuditVerifyAndPoolMetrics},
		{"IDORAndOtherTenant", TestIDORAndOtherTenant},
		// The FHIR API: Locate's fan-out, transactions (InTx, savepoints
		// on the coordinator), imports, searches and refusals.
		{"FHIRInteractions", TestFHIRInteractions},
		{"FHIRTransaction", TestFHIRTransaction},
		{"FHIRRoundTripIntoAnotherTenant", TestFHIRRoundTripIntoAnotherTenant},
		{"FHIRSearchRecords", TestFHIRSearchRecords},
		{"FHIRSecurity", TestFHIRSecurity},
		// $export: the listing walks the tenant, each chart is one
		// router read on its shard.
		{"FHIRExport", TestFHIRExport},
		// The bulk import's fast path: COPY to the shards, snapshots as
		// colocated INSERT ... SELECTs, one commit on every shard.
		{"BulkImport", TestBulkImport},
	} {
		t.Run(w.name, w.run)
	}
}
