package fhirmap

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// RefKeys returns the references by which other resources name a
// resource with fullUrl full (a Bundle entry's; "" for none) of type typ
// with id rid (either may be empty): the fullUrl itself, and typ/id for
// the id at the end of an http(s) fullUrl (http://other/fhir/R4/Patient/123
// → Patient/123) and for the resource's id.
func RefKeys(full, typ, rid string) []string {
	var keys []string
	add := func(k string) {
		for _, o := range keys {
			if o == k {
				return
			}
		}
		keys = append(keys, k)
	}
	if full != "" {
		add(full)
		if strings.HasPrefix(full, "http://") || strings.HasPrefix(full, "https://") {
			if u, err := url.Parse(full); err == nil {
				segs := strings.Split(strings.TrimSuffix(u.Path, "/"), "/")
				if n := len(segs); n >= 2 && segs[n-2] == typ && segs[n-1] != "" {
					add(typ + "/" + segs[n-1])
				}
			}
		}
	}
	if rid != "" {
		add(typ + "/" + rid)
	}
	return keys
}

// ResourceID returns the id of a resource's JSON, or "".
func ResourceID(raw []byte) string {
	var probe struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return ""
	}
	return probe.ID
}

// IsURN reports whether ref is a urn:uuid: or urn:oid: reference.
func IsURN(ref string) bool {
	return strings.HasPrefix(ref, "urn:uuid:") || strings.HasPrefix(ref, "urn:oid:")
}

// RewriteReferences returns the resource raw with every "reference"
// string replaced by what resolve makes of it, which is given the
// reference's path in the resource ("subject.reference",
// "participant[0].individual.reference") and its value; the first error
// of resolve is returned. raw comes back as it is when nothing changes,
// or when it is not JSON (for the decoder to refuse).
func RewriteReferences(raw []byte, resolve func(path, ref string) (string, error)) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if dec.Decode(&tree) != nil || dec.More() {
		return raw, nil
	}
	changed := false
	var walk func(v any, path string) error
	walk = func(v any, path string) error {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if s, ok := v[k].(string); ok && k == "reference" {
					n, err := resolve(p, s)
					if err != nil {
						return err
					}
					if n != s {
						v[k], changed = n, true
					}
					continue
				}
				if err := walk(v[k], p); err != nil {
					return err
				}
			}
		case []any:
			for i, e := range v {
				if err := walk(e, path+"["+strconv.Itoa(i)+"]"); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(tree, ""); err != nil {
		return nil, err
	}
	if !changed {
		return raw, nil
	}
	return MarshalJSON(tree)
}

// MarshalJSON is json.Marshal without HTML escaping and without the
// Encoder's trailing newline.
func MarshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
