// Package conformance holds the tests that check package fhir against FHIR
// R4 with google/fhir's validating unmarshaller, and the benchmarks that
// chose fhir's model. It is a module of its own so that google/fhir and
// its dependencies (vitess, protobuf, ...: about 1,700 lines of go mod graph)
// never enter the library's go.mod; it has no code to import.
//
//	cd fhir/conformance && go test -count=1 -bench . -benchmem ./...
package conformance
