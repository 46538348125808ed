package fhir

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
)

// decodeStrict decodes data, a FHIR JSON resource of type resourceType,
// into v (a pointer to one of the model structs), rejecting what a
// permissive decoder would let through: invalid JSON, another resource
// type, elements the struct does not declare (unknown or unsupported),
// values of the wrong JSON type, nulls, empty strings, objects and arrays
// (FHIR forbids them). Every problem is an Issue located by its FHIRPath.
// On success the semantic checks of the caller follow.
func decodeStrict(data []byte, resourceType string, v any) error {
	var is issues
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		is.add(IssueStructure, resourceType, "not a JSON document: %v", err)
		return is.err()
	}
	if dec.More() {
		is.add(IssueStructure, resourceType, "data after the JSON object")
		return is.err()
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		is.add(IssueStructure, resourceType, "a resource must be a JSON object")
		return is.err()
	}
	if rt, _ := obj["resourceType"].(string); rt != resourceType {
		is.add(IssueNotSupported, resourceType, "resourceType is %q, want %q", rt, resourceType)
		return is.err()
	}
	checkValue(&is, resourceType, tree, reflect.TypeOf(v).Elem())
	if err := is.err(); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		is.add(IssueStructure, resourceType, "%v", err)
	}
	return is.err()
}

// fieldsOf returns the JSON names of the fields of struct type t,
// including those of embedded structs.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k, v := range fieldsOf(f.Type) {
				m[k] = v
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = f.Type
		}
	}
	return m
}

var numberType = reflect.TypeOf(json.Number(""))

// checkValue checks that the JSON value v at location loc fits Go type t.
func checkValue(is *issues, loc string, v any, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		is.add(IssueStructure, loc, "null is not allowed")
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			is.add(IssueStructure, loc, "must be an object")
			return
		}
		if len(obj) == 0 {
			is.add(IssueStructure, loc, "an empty object is not allowed")
			return
		}
		fields := fieldsOf(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				if strings.HasPrefix(k, "_") {
					is.add(IssueNotSupported, path(loc, k), "extensions of primitive values are not supported")
				} else {
					is.add(IssueStructure, path(loc, k), "unknown or unsupported element %q", k)
				}
				continue
			}
			checkValue(is, path(loc, k), obj[k], ft)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			is.add(IssueStructure, loc, "must be an array")
			return
		}
		if len(arr) == 0 {
			is.add(IssueStructure, loc, "an empty array is not allowed")
		}
		for i, e := range arr {
			checkValue(is, path(loc, i), e, t.Elem())
		}
	case reflect.String:
		if t == numberType {
			if _, ok := v.(json.Number); !ok {
				is.add(IssueStructure, loc, "must be a number")
			}
			return
		}
		s, ok := v.(string)
		switch {
		case !ok:
			is.add(IssueStructure, loc, "must be a string")
		case strings.TrimSpace(s) == "":
			is.add(IssueStructure, loc, "an empty or blank string is not allowed")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			is.add(IssueStructure, loc, "must be true or false")
		}
	case reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			is.add(IssueStructure, loc, "must be an integer")
			return
		}
		if _, err := n.Int64(); err != nil {
			is.add(IssueValue, loc, "must be an integer")
		}
	}
}
