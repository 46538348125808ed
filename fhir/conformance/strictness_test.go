package conformance

import (
	"encoding/json"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	samply "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/historiaehr/historia/fhir"
)

// TestStrictness measures which of the three models rejects which kind of
// bad Patient (the table in docs/fhir.md): google/fhir and fhir reject all,
// samply's plain structs let unknown elements and malformed dates through.
func TestStrictness(t *testing.T) {
	gu, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	var base map[string]any
	if err := json.Unmarshal(readGolden(t, "patient"), &base); err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) []byte {
		m := map[string]any{}
		for kk, vv := range base {
			m[kk] = vv
		}
		m[k] = v
		data, _ := json.Marshal(m)
		return data
	}
	for _, tc := range []struct {
		name                         string
		data                         []byte
		historia, samply, googlefhir bool // rejected
	}{
		{"unknown element", with("colour", "blue"), true, false, true},
		{"wrong type", with("active", "yes"), true, true, true},
		{"malformed date", with("birthDate", "1984-02-30"), true, false, true},
		{"code outside required binding", with("gender", "dragon"), true, true, true},
	} {
		_, errH := fhir.DecodePatient(tc.data)
		_, errS := samply.UnmarshalPatient(tc.data)
		_, errG := gu.Unmarshal(tc.data)
		got := [3]bool{errH != nil, errS != nil, errG != nil}
		t.Logf("%-30s rejected: historia %v, samply %v, google/fhir %v", tc.name, got[0], got[1], got[2])
		if want := [3]bool{tc.historia, tc.samply, tc.googlefhir}; got != want {
			t.Errorf("%s: rejected %v, want %v", tc.name, got, want)
		}
	}
}
