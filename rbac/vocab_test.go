package rbac_test

import (
	"encoding/json"
	"testing"

	"github.com/historiaehr/historia/rbac"
)

func TestActionNames(t *testing.T) {
	want := []string{"read", "search", "create", "update", "amend", "admit", "transfer", "discharge",
		"schedule", "cancel", "check-in", "break-glass", "verify", "manage"}
	all := rbac.Actions()
	if len(all) != len(want) {
		t.Fatalf("Actions() has %d entries, want %d", len(all), len(want))
	}
	for i, a := range all {
		t.Run(want[i], func(t *testing.T) {
			if got := a.String(); got != want[i] {
				t.Errorf("String() = %q, want %q", got, want[i])
			}
			back, err := rbac.ParseAction(want[i])
			if err != nil || back != a {
				t.Errorf("ParseAction(%q) = %v, %v; want %v", want[i], back, err, a)
			}
			if !a.Valid() {
				t.Error("Valid() = false")
			}
		})
	}
}

func TestKindNames(t *testing.T) {
	want := []string{"demographics", "contact", "encounter", "admission", "appointment", "careteam", "note",
		"condition", "allergy", "medication", "observation", "audit", "user", "accesslog", "breakglass"}
	all := rbac.Kinds()
	if len(all) != len(want) {
		t.Fatalf("Kinds() has %d entries, want %d", len(all), len(want))
	}
	for i, k := range all {
		t.Run(want[i], func(t *testing.T) {
			if got := k.String(); got != want[i] {
				t.Errorf("String() = %q, want %q", got, want[i])
			}
			back, err := rbac.ParseKind(want[i])
			if err != nil || back != k {
				t.Errorf("ParseKind(%q) = %v, %v; want %v", want[i], back, err, k)
			}
		})
	}
}

func TestConditionNames(t *testing.T) {
	for _, c := range rbac.Conditions() {
		back, err := rbac.ParseCondition(c.String())
		if err != nil || back != c || !c.Valid() {
			t.Errorf("%v: ParseCondition = %v, %v; Valid = %v", c, back, err, c.Valid())
		}
	}
	if got := rbac.Condition(0).String(); got != "none" {
		t.Errorf("Condition(0).String() = %q, want none", got)
	}
}

func TestInvalidNames(t *testing.T) {
	tests := []struct {
		name string
		fn   func() error
	}{
		{"action empty", func() error { _, err := rbac.ParseAction(""); return err }},
		{"action case", func() error { _, err := rbac.ParseAction("Read"); return err }},
		{"action underscore", func() error { _, err := rbac.ParseAction("check_in"); return err }},
		{"kind plural", func() error { _, err := rbac.ParseKind("notes"); return err }},
		{"kind empty", func() error { _, err := rbac.ParseKind(""); return err }},
		{"condition", func() error { _, err := rbac.ParseCondition("owner"); return err }},
		{"condition none", func() error { _, err := rbac.ParseCondition("none"); return err }},
		{"marshal zero action", func() error { _, err := rbac.Action(0).MarshalText(); return err }},
		{"marshal big kind", func() error { _, err := rbac.Kind(200).MarshalText(); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fn() == nil {
				t.Error("no error")
			}
		})
	}
	if s := rbac.Action(0).String(); s != "Action(0)" {
		t.Errorf("Action(0).String() = %q", s)
	}
	if s := rbac.Kind(99).String(); s != "Kind(99)" {
		t.Errorf("Kind(99).String() = %q", s)
	}
	if rbac.Action(0).Valid() || rbac.Kind(0).Valid() || rbac.Condition(3).Valid() {
		t.Error("zero or combined values report Valid")
	}
}

func TestTextMarshaling(t *testing.T) {
	type msg struct {
		A rbac.Action `json:"a"`
		K rbac.Kind   `json:"k"`
	}
	b, err := json.Marshal(msg{rbac.ActionCheckIn, rbac.KindAccessLog})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"a":"check-in","k":"accesslog"}` {
		t.Fatalf("Marshal = %s", b)
	}
	var back msg
	if err := json.Unmarshal(b, &back); err != nil || back.A != rbac.ActionCheckIn || back.K != rbac.KindAccessLog {
		t.Fatalf("Unmarshal = %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"a":"fly"}`), &back); err == nil {
		t.Error("Unmarshal of an unknown action succeeded")
	}
	if err := json.Unmarshal([]byte(`{"k":"pet"}`), &back); err == nil {
		t.Error("Unmarshal of an unknown kind succeeded")
	}
}
