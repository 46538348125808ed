package rbac_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/historiaehr/historia/rbac"
)

func ExampleEngine_Decide() {
	engine := rbac.Default()
	doctor := rbac.Principal{UserID: "u-7", TenantID: "h-1", Roles: []string{"medico"}}

	onTeam := rbac.Target{TenantID: "h-1", PatientID: "p-42", OnCareTeam: true}
	fmt.Println(engine.Decide(doctor, rbac.ActionRead, rbac.KindNote, onTeam))

	notOnTeam := rbac.Target{TenantID: "h-1", PatientID: "p-43"}
	fmt.Println(engine.Decide(doctor, rbac.ActionRead, rbac.KindNote, notOnTeam))

	clerk := rbac.Principal{UserID: "u-8", TenantID: "h-1", Roles: []string{"admisionista"}}
	fmt.Println(engine.Decide(clerk, rbac.ActionRead, rbac.KindNote, onTeam))
	// Output:
	// {true medico-clinical allowed: on the patient's care team careteam}
	// {false medico-clinical requires a place on the patient's care team or a valid break-glass grant none}
	// {false default-deny no rule allows this action on this kind for the principal's roles none}
}

func ExampleEngine_Authorize() {
	engine := rbac.Default()
	patient := rbac.Principal{UserID: "u-9", TenantID: "h-1", PatientID: "p-42", Roles: []string{"paciente"}}

	err := engine.Authorize(patient, rbac.ActionRead, rbac.KindObservation, rbac.Target{TenantID: "h-1", PatientID: "p-42"})
	fmt.Println(err)

	err = engine.Authorize(patient, rbac.ActionRead, rbac.KindObservation, rbac.Target{TenantID: "h-1", PatientID: "p-7"})
	fmt.Println(errors.Is(err, rbac.ErrDenied))
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// rbac: denied: requires the principal's own record (rule paciente-own-chart)
}

// A physician breaks the glass for a patient outside their care team. The
// grant is a value the caller stores; the engine checks it, expiry included,
// against its clock.
func ExampleEngine_IssueGrant() {
	now := time.Date(2025, 3, 1, 3, 0, 0, 0, time.UTC)
	engine, err := rbac.New(rbac.DefaultPolicy(), rbac.WithClock(func() time.Time { return now }))
	if err != nil {
		panic(err)
	}
	doctor := rbac.Principal{UserID: "u-7", TenantID: "h-1", Roles: []string{"medico"}}
	chart := rbac.Target{TenantID: "h-1", PatientID: "p-99"}

	grant, err := engine.IssueGrant(doctor, chart, "paciente inconsciente en urgencias", time.Hour)
	if err != nil {
		panic(err)
	}
	chart.Grant = &grant
	d := engine.Decide(doctor, rbac.ActionRead, rbac.KindAllergy, chart)
	fmt.Println(d.Allowed, d.Condition, grant.NotAfter.Format(time.Kitchen))

	now = now.Add(2 * time.Hour)
	fmt.Println(engine.Decide(doctor, rbac.ActionRead, rbac.KindAllergy, chart).Reason)

	_, err = engine.IssueGrant(doctor, rbac.Target{TenantID: "h-1", PatientID: "p-99"}, "urgente", time.Hour)
	fmt.Println(err)
	// Output:
	// true breakglass 4:00AM
	// break-glass grant has expired
	// rbac: invalid break-glass grant: reason shorter than 10 characters
}

func ExampleLoadPolicy() {
	const policy = `{
	  "version": 1,
	  "roles": ["medico", "enfermeria"],
	  "rules": [
	    {"id": "enfermeria-vitals", "effect": "allow", "roles": ["enfermeria"],
	     "actions": ["read", "create"], "kinds": ["observation"], "when_any": ["careteam"]},
	    {"id": "enfermeria-notes", "effect": "allow", "roles": ["enfermeria"],
	     "actions": ["raed"], "kinds": ["note"], "when_any": ["careteam"]}
	  ]
	}`
	_, err := rbac.LoadPolicy(strings.NewReader(policy))
	fmt.Println(err)

	fixed := strings.Replace(policy, `"raed"`, `"read"`, 1)
	p, err := rbac.LoadPolicy(strings.NewReader(fixed))
	fmt.Println(p.Roles(), err)
	// Output:
	// rbac: policy rule "enfermeria-notes" (rules[1]): action "raed": unknown action
	// [medico enfermeria] <nil>
}

// A user interface hides the actions a role can never take.
func ExampleMatrix_Can() {
	m := rbac.Default().Matrix()
	for _, a := range []rbac.Action{rbac.ActionSchedule, rbac.ActionCheckIn, rbac.ActionAdmit} {
		fmt.Printf("secretaria %s appointment: %v\n", a, m.Can("secretaria", a, rbac.KindAppointment))
	}
	// Roles add up; the one explicit deny of the default policy wins.
	fmt.Println("medico+admin read note:", m.CanAny([]string{"medico", "admin"}, rbac.ActionRead, rbac.KindNote))
	fmt.Println("medico+auditor break-glass:", m.CanAny([]string{"medico", "auditor"}, rbac.ActionBreakGlass, rbac.KindBreakGlass))
	// Output:
	// secretaria schedule appointment: true
	// secretaria check-in appointment: true
	// secretaria admit appointment: false
	// medico+admin read note: true
	// medico+auditor break-glass: false
}
