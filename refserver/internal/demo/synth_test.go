package demo

import (
	"reflect"
	"testing"
)

func TestPeople(t *testing.T) {
	a, b := People(7, 50), People(7, 50)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("People is not reproducible for one seed")
	}
	docs := map[string]bool{}
	for _, p := range a {
		if p.GivenName == "" || p.FamilyName == "" || p.BirthDate.IsZero() || len(p.Vitals) < 3 {
			t.Fatalf("incomplete person %+v", p)
		}
		if docs[p.DocumentNumber] {
			t.Fatalf("duplicate document %s", p.DocumentNumber)
		}
		docs[p.DocumentNumber] = true
		for _, v := range p.Vitals {
			if v.HeartRate < 30 || v.HeartRate > 200 || v.SpO2 > 100 || v.Temperature < 34 || v.Temperature > 42 {
				t.Fatalf("implausible vitals %+v", v)
			}
		}
	}
}
