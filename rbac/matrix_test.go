package rbac_test

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/historiaehr/historia/rbac"
)

func TestMatrixLookup(t *testing.T) {
	m := rbac.Default().Matrix()
	tests := []struct {
		role string
		a    rbac.Action
		k    rbac.Kind
		want rbac.Permission
	}{
		{"medico", rbac.ActionRead, rbac.KindNote, rbac.Permission{Role: "medico", Action: rbac.ActionRead, Kind: rbac.KindNote,
			Allow: "medico-clinical", When: []rbac.Condition{rbac.ConditionCareTeam, rbac.ConditionBreakGlass}}},
		{"paciente", rbac.ActionUpdate, rbac.KindContact, rbac.Permission{Role: "paciente", Action: rbac.ActionUpdate, Kind: rbac.KindContact,
			Allow: "paciente-own-contact", When: []rbac.Condition{rbac.ConditionSelf}}},
		{"admin", rbac.ActionManage, rbac.KindUser, rbac.Permission{Role: "admin", Action: rbac.ActionManage, Kind: rbac.KindUser, Allow: "admin-users"}},
		{"auditor", rbac.ActionBreakGlass, rbac.KindBreakGlass, rbac.Permission{Role: "auditor", Action: rbac.ActionBreakGlass, Kind: rbac.KindBreakGlass, Deny: "auditor-no-break-glass"}},
		{"auditor", rbac.ActionAmend, rbac.KindNote, rbac.Permission{Role: "auditor", Action: rbac.ActionAmend, Kind: rbac.KindNote}},
		{"medico", rbac.ActionManage, rbac.KindUser, rbac.Permission{Role: "medico", Action: rbac.ActionManage, Kind: rbac.KindUser}},
		{"enfermera", rbac.ActionRead, rbac.KindNote, rbac.Permission{Role: "enfermera", Action: rbac.ActionRead, Kind: rbac.KindNote}},
	}
	for _, tt := range tests {
		t.Run(tt.role+"/"+tt.a.String()+"/"+tt.k.String(), func(t *testing.T) {
			if got := m.Lookup(tt.role, tt.a, tt.k); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Lookup = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestMatrixMatchesDecide checks Matrix against Decide for every cell: a cell
// is Possible exactly when some scenario is allowed, and the rules agree.
func TestMatrixMatchesDecide(t *testing.T) {
	e := newEngine(t, nil)
	m := e.Matrix()
	for _, role := range m.Roles {
		for _, a := range rbac.Actions() {
			for _, k := range rbac.Kinds() {
				perm := m.Lookup(role, a, k)
				allowed := false
				for _, s := range scenarios {
					d := e.Decide(who(role), a, k, s.target)
					allowed = allowed || d.Allowed
					if d.Allowed && d.Rule != perm.Allow {
						t.Errorf("%s %s %s: Decide rule %q, Matrix allow %q", role, a, k, d.Rule, perm.Allow)
					}
				}
				if allowed != perm.Possible() || allowed != m.Can(role, a, k) {
					t.Errorf("%s %s %s: some scenario allowed = %v, Matrix %+v", role, a, k, allowed, perm)
				}
			}
		}
	}
}

func TestMatrixCanAny(t *testing.T) {
	m := rbac.Default().Matrix()
	tests := []struct {
		roles []string
		a     rbac.Action
		k     rbac.Kind
		want  bool
	}{
		{[]string{"medico"}, rbac.ActionRead, rbac.KindNote, true},
		{[]string{"medico", "admin"}, rbac.ActionRead, rbac.KindNote, true},
		{[]string{"medico", "admin"}, rbac.ActionManage, rbac.KindUser, true},
		{[]string{"admin", "auditor"}, rbac.ActionRead, rbac.KindNote, false},
		{[]string{"medico"}, rbac.ActionBreakGlass, rbac.KindBreakGlass, true},
		{[]string{"medico", "auditor"}, rbac.ActionBreakGlass, rbac.KindBreakGlass, false},
		{[]string{"auditor", "medico"}, rbac.ActionBreakGlass, rbac.KindBreakGlass, false},
		{[]string{"enfermera", "secretaria"}, rbac.ActionSchedule, rbac.KindAppointment, true},
		{[]string{"enfermera"}, rbac.ActionRead, rbac.KindDemographics, false},
		{nil, rbac.ActionRead, rbac.KindDemographics, false},
		{[]string{"medico"}, 0, rbac.KindDemographics, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.roles, "+")+"/"+tt.a.String()+"/"+tt.k.String(), func(t *testing.T) {
			if got := m.CanAny(tt.roles, tt.a, tt.k); got != tt.want {
				t.Errorf("CanAny = %v, want %v", got, tt.want)
			}
		})
	}

	// A deny of one role hides what another role allows.
	p, err := rbac.LoadPolicy(strings.NewReader(denyPolicy))
	if err != nil {
		t.Fatal(err)
	}
	dm := p.Matrix()
	if !dm.CanAny([]string{"medico"}, rbac.ActionAmend, rbac.KindNote) ||
		dm.CanAny([]string{"medico", "residente"}, rbac.ActionAmend, rbac.KindNote) ||
		dm.CanAny([]string{"residente", "jefe"}, rbac.ActionAmend, rbac.KindNote) ||
		!dm.CanAny([]string{"medico", "residente"}, rbac.ActionRead, rbac.KindNote) {
		t.Error("CanAny does not let a deny of one role override another role's allow")
	}
}

func TestMatrixMarkdownEmptyRole(t *testing.T) {
	p, err := rbac.LoadPolicy(strings.NewReader(`{"version": 1, "roles": ["visitante"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.Matrix().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "### `visitante`\n\nNo permissions") {
		t.Errorf("markdown for a role without rules:\n%s", b.String())
	}
	if err := p.Matrix().WriteMarkdown(failWriter{}); err == nil {
		t.Error("WriteMarkdown hid a write error")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("full") }

// Markers around the generated part of docs/rbac.md.
const (
	docsPath    = "../docs/rbac.md"
	beginMarker = "<!-- BEGIN GENERATED MATRIX: do not edit; refresh with `go test ./rbac -update` -->\n"
	endMarker   = "<!-- END GENERATED MATRIX -->\n"
)

// TestDocsMatrix keeps the matrix in docs/rbac.md equal to the default
// policy's Matrix. Only the text between the markers is generated; the rest
// of the file is written by hand.
func TestDocsMatrix(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	begin := bytes.Index(doc, []byte(beginMarker))
	end := bytes.Index(doc, []byte(endMarker))
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the markers %q and %q", docsPath, beginMarker, endMarker)
	}
	var gen bytes.Buffer
	if err := rbac.DefaultPolicy().Matrix().WriteMarkdown(&gen); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	want.Write(doc[:begin+len(beginMarker)])
	want.WriteString("\n")
	want.Write(gen.Bytes())
	want.WriteString("\n")
	want.Write(doc[end:])
	checkGolden(t, docsPath, want.Bytes())
}
