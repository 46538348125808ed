package rbac_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/rbac"
)

// scenarios are the target situations of the decision table. The principal
// always has PatientID selfPatient.
var scenarios = []struct {
	name, help string
	target     rbac.Target
}{
	{"none", "same tenant, another patient, not on the care team, no grant",
		rbac.Target{TenantID: tenant, PatientID: otherPatient}},
	{"self", "same tenant, the principal's own patient record",
		rbac.Target{TenantID: tenant, PatientID: selfPatient}},
	{"team", "same tenant, another patient, principal on the care team",
		rbac.Target{TenantID: tenant, PatientID: otherPatient, OnCareTeam: true}},
	{"glass", "same tenant, another patient, a valid break-glass grant",
		rbac.Target{TenantID: tenant, PatientID: otherPatient, Grant: validGrant(otherPatient)}},
	{"exp", "same tenant, another patient, an expired break-glass grant",
		rbac.Target{TenantID: tenant, PatientID: otherPatient, Grant: &rbac.Grant{UserID: userID, TenantID: tenant, PatientID: otherPatient, Reason: goodReason, NotAfter: t0.Add(-time.Minute)}}},
	{"xten", "another tenant, with own record, care team and grant all true",
		rbac.Target{TenantID: otherTenant, PatientID: selfPatient, OnCareTeam: true, Grant: &rbac.Grant{UserID: userID, TenantID: otherTenant, PatientID: selfPatient, Reason: goodReason, NotAfter: t0.Add(time.Hour)}}},
}

// code is the one-letter form of a decision in the table.
func code(d rbac.Decision) string {
	switch {
	case d.Allowed:
		return "A"
	case d.Rule == rbac.RuleTenant:
		return "T"
	case d.Rule == rbac.RuleDefaultDeny:
		return "."
	case d.Rule == rbac.RuleInvalid:
		return "!"
	case strings.HasPrefix(d.Reason, "requires") || strings.HasPrefix(d.Reason, "break-glass"):
		return "c"
	}
	return "D"
}

// TestDecisionsGolden decides every role × action × kind of the default
// policy in every scenario and compares the table with
// testdata/decisions.golden, which was checked by hand against design.md §3.
func TestDecisionsGolden(t *testing.T) {
	e := newEngine(t, nil)
	var b bytes.Buffer
	b.WriteString("# Decisions of the default policy for every role × action × kind (rbac/testdata/decisions.golden).\n")
	b.WriteString("# Refresh: go test ./rbac -run TestDecisionsGolden -update, then check the diff against design.md §3.\n#\n# Scenarios (columns):\n")
	for _, s := range scenarios {
		fmt.Fprintf(&b, "#   %-5s %s\n", s.name, s.help)
	}
	b.WriteString("# Codes: A allowed; c a rule matched but none of its conditions held; D explicitly denied;\n")
	b.WriteString("#        . no rule (default deny); T target in another tenant.\n")
	b.WriteString("# The last column lists the rules that decided (other than default-deny and tenant).\n")
	for _, role := range rbac.DefaultPolicy().Roles() {
		fmt.Fprintf(&b, "\n%-13s %-12s %-13s", "# "+role, "action", "kind")
		for _, s := range scenarios {
			fmt.Fprintf(&b, " %-5s", s.name)
		}
		b.WriteString(" rules\n")
		for _, a := range rbac.Actions() {
			for _, k := range rbac.Kinds() {
				line := fmt.Sprintf("%-13s %-12s %-13s", role, a, k)
				var rules []string
				for _, s := range scenarios {
					d := e.Decide(who(role), a, k, s.target)
					line += fmt.Sprintf(" %-5s", code(d))
					if d.Rule != rbac.RuleDefaultDeny && d.Rule != rbac.RuleTenant && !contains(rules, d.Rule) {
						rules = append(rules, d.Rule)
					}
				}
				b.WriteString(strings.TrimRight(line+" "+strings.Join(rules, ","), " ") + "\n")
			}
		}
	}
	checkGolden(t, "testdata/decisions.golden", b.Bytes())
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestDesignTable states design.md §3, row by row, as requests and the
// decisions it implies.
func TestDesignTable(t *testing.T) {
	e := newEngine(t, nil)
	none := scenarios[0].target
	self := scenarios[1].target
	team := scenarios[2].target
	glass := scenarios[3].target
	expired := scenarios[4].target
	noPatient := rbac.Target{TenantID: tenant}
	tests := []struct {
		statement string
		role      string
		a         rbac.Action
		k         rbac.Kind
		t         rbac.Target
		allow     bool
	}{
		// paciente
		{"paciente reads their own chart", "paciente", rbac.ActionRead, rbac.KindNote, self, true},
		{"paciente reads their own observations", "paciente", rbac.ActionRead, rbac.KindObservation, self, true},
		{"paciente reads their own appointments", "paciente", rbac.ActionRead, rbac.KindAppointment, self, true},
		{"paciente reads who viewed their record", "paciente", rbac.ActionRead, rbac.KindAccessLog, self, true},
		{"paciente updates their own contact data", "paciente", rbac.ActionUpdate, rbac.KindContact, self, true},
		{"paciente may not update their own demographics", "paciente", rbac.ActionUpdate, rbac.KindDemographics, self, false},
		{"paciente may not write their own chart", "paciente", rbac.ActionCreate, rbac.KindNote, self, false},
		{"paciente may not read another patient's chart", "paciente", rbac.ActionRead, rbac.KindNote, none, false},
		{"paciente may not read another patient's access log", "paciente", rbac.ActionRead, rbac.KindAccessLog, none, false},
		{"paciente may not update another patient's contact", "paciente", rbac.ActionUpdate, rbac.KindContact, none, false},
		{"paciente may not search patients", "paciente", rbac.ActionSearch, rbac.KindDemographics, noPatient, false},
		{"paciente on a care team gains nothing", "paciente", rbac.ActionRead, rbac.KindNote, team, false},
		// medico
		{"medico searches patients of the tenant", "medico", rbac.ActionSearch, rbac.KindDemographics, noPatient, true},
		{"medico reads demographics of any patient", "medico", rbac.ActionRead, rbac.KindDemographics, none, true},
		{"medico reads notes on their care team", "medico", rbac.ActionRead, rbac.KindNote, team, true},
		{"medico writes notes on their care team", "medico", rbac.ActionCreate, rbac.KindNote, team, true},
		{"medico amends notes on their care team", "medico", rbac.ActionAmend, rbac.KindNote, team, true},
		{"medico writes conditions on their care team", "medico", rbac.ActionCreate, rbac.KindCondition, team, true},
		{"medico writes allergies on their care team", "medico", rbac.ActionUpdate, rbac.KindAllergy, team, true},
		{"medico prescribes on their care team", "medico", rbac.ActionCreate, rbac.KindMedication, team, true},
		{"medico records observations on their care team", "medico", rbac.ActionCreate, rbac.KindObservation, team, true},
		{"medico records encounters on their care team", "medico", rbac.ActionCreate, rbac.KindEncounter, team, true},
		{"medico may not read clinical data outside the care team", "medico", rbac.ActionRead, rbac.KindNote, none, false},
		{"medico may not write clinical data outside the care team", "medico", rbac.ActionCreate, rbac.KindObservation, none, false},
		{"medico reads clinical data with break-the-glass", "medico", rbac.ActionRead, rbac.KindMedication, glass, true},
		{"medico may not use an expired break-the-glass", "medico", rbac.ActionRead, rbac.KindMedication, expired, false},
		{"medico breaks the glass for any patient of the tenant", "medico", rbac.ActionBreakGlass, rbac.KindBreakGlass, none, true},
		{"medico may not administer users", "medico", rbac.ActionManage, rbac.KindUser, noPatient, false},
		{"medico may not create users", "medico", rbac.ActionCreate, rbac.KindUser, noPatient, false},
		{"medico may not read the audit trail", "medico", rbac.ActionRead, rbac.KindAudit, noPatient, false},
		// admisionista
		{"admisionista registers patients", "admisionista", rbac.ActionCreate, rbac.KindDemographics, none, true},
		{"admisionista edits demographics", "admisionista", rbac.ActionUpdate, rbac.KindDemographics, none, true},
		{"admisionista admits", "admisionista", rbac.ActionAdmit, rbac.KindAdmission, none, true},
		{"admisionista transfers", "admisionista", rbac.ActionTransfer, rbac.KindAdmission, none, true},
		{"admisionista discharges", "admisionista", rbac.ActionDischarge, rbac.KindAdmission, none, true},
		{"admisionista assigns the attending physician", "admisionista", rbac.ActionCreate, rbac.KindCareTeam, none, true},
		{"admisionista may not read clinical notes", "admisionista", rbac.ActionRead, rbac.KindNote, team, false},
		{"admisionista may not read conditions", "admisionista", rbac.ActionRead, rbac.KindCondition, team, false},
		{"admisionista may not read medications", "admisionista", rbac.ActionRead, rbac.KindMedication, glass, false},
		{"admisionista may not read observations", "admisionista", rbac.ActionRead, rbac.KindObservation, team, false},
		// secretaria
		{"secretaria schedules appointments", "secretaria", rbac.ActionSchedule, rbac.KindAppointment, none, true},
		{"secretaria moves appointments", "secretaria", rbac.ActionUpdate, rbac.KindAppointment, none, true},
		{"secretaria cancels appointments", "secretaria", rbac.ActionCancel, rbac.KindAppointment, none, true},
		{"secretaria checks in appointments", "secretaria", rbac.ActionCheckIn, rbac.KindAppointment, none, true},
		{"secretaria reads demographics", "secretaria", rbac.ActionRead, rbac.KindDemographics, none, true},
		{"secretaria reads contact data", "secretaria", rbac.ActionRead, rbac.KindContact, none, true},
		{"secretaria may not edit demographics", "secretaria", rbac.ActionUpdate, rbac.KindDemographics, none, false},
		{"secretaria may not read clinical data", "secretaria", rbac.ActionRead, rbac.KindObservation, team, false},
		// admin
		{"admin manages users", "admin", rbac.ActionManage, rbac.KindUser, noPatient, true},
		{"admin creates users", "admin", rbac.ActionCreate, rbac.KindUser, noPatient, true},
		{"admin may not read clinical data", "admin", rbac.ActionRead, rbac.KindNote, team, false},
		{"admin may not read clinical data with a grant", "admin", rbac.ActionRead, rbac.KindObservation, glass, false},
		// auditor
		{"auditor reads audit events", "auditor", rbac.ActionRead, rbac.KindAudit, noPatient, true},
		{"auditor verifies chains", "auditor", rbac.ActionVerify, rbac.KindAudit, noPatient, true},
		{"auditor reviews break-glass use", "auditor", rbac.ActionRead, rbac.KindBreakGlass, noPatient, true},
		{"auditor reads any patient's access log", "auditor", rbac.ActionRead, rbac.KindAccessLog, none, true},
		{"auditor may not read clinical data", "auditor", rbac.ActionRead, rbac.KindNote, team, false},
		{"auditor may not break the glass", "auditor", rbac.ActionBreakGlass, rbac.KindBreakGlass, none, false},
	}
	for _, tt := range tests {
		t.Run(tt.statement, func(t *testing.T) {
			if d := e.Decide(who(tt.role), tt.a, tt.k, tt.t); d.Allowed != tt.allow {
				t.Errorf("Decide(%s, %s, %s) = %+v, want allowed %v", tt.role, tt.a, tt.k, d, tt.allow)
			}
		})
	}

	// No role reaches another tenant, whatever the facts.
	xten := scenarios[5].target
	for _, role := range rbac.DefaultPolicy().Roles() {
		for _, a := range rbac.Actions() {
			for _, k := range rbac.Kinds() {
				if d := e.Decide(who(role), a, k, xten); d.Allowed || d.Rule != rbac.RuleTenant {
					t.Fatalf("%s %s %s in another tenant: %+v", role, a, k, d)
				}
			}
		}
	}
}
