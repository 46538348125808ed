package conformance

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	samply "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/historiaehr/historia/fhir"
)

func readGolden(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile("../testdata/" + name + ".json")
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// BenchmarkCodec compares, side by side, one unmarshal and one marshal of
// a Patient and of a vital-sign Observation (fhir's golden files) with
// fhir's hand-written model (strict decode and mapping to ehr, and back),
// samply's plain structs (encoding/json), and google/fhir's protos
// (jsonformat, validating).
func BenchmarkCodec(b *testing.B) {
	gu, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		b.Fatal(err)
	}
	gm, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		b.Fatal(err)
	}
	for _, res := range []struct {
		name     string
		historia func([]byte) ([]byte, error)
		samply   func([]byte) ([]byte, error)
	}{
		{"Patient",
			func(d []byte) ([]byte, error) {
				p, err := fhir.DecodePatient(d)
				if err != nil {
					return nil, err
				}
				return fhir.EncodePatient(p)
			},
			func(d []byte) ([]byte, error) {
				p, err := samply.UnmarshalPatient(d)
				if err != nil {
					return nil, err
				}
				return json.Marshal(p)
			}},
		{"Observation",
			func(d []byte) ([]byte, error) {
				o, err := fhir.DecodeObservation(d)
				if err != nil {
					return nil, err
				}
				return fhir.EncodeObservation(o)
			},
			func(d []byte) ([]byte, error) {
				o, err := samply.UnmarshalObservation(d)
				if err != nil {
					return nil, err
				}
				return json.Marshal(o)
			}},
	} {
		data := readGolden(b, map[string]string{"Patient": "patient", "Observation": "observation-hr"}[res.name])
		run := func(name string, f func([]byte) ([]byte, error)) {
			b.Run(res.name+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f(data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		run("historia", res.historia)
		run("samply", res.samply)
		run("googlefhir", func(d []byte) ([]byte, error) {
			pb, err := gu.Unmarshal(d)
			if err != nil {
				return nil, err
			}
			return gm.Marshal(pb)
		})
	}
}
