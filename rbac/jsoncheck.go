package rbac

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// checkJSON walks a policy file token by token before it is decoded. It
// reports, with the rule they are in when they are inside "rules":
// malformed JSON (with line and column), a top level that is not one object,
// trailing data, and repeated or non-lower-case object keys, which
// encoding/json would otherwise accept silently (the last repeated key wins,
// and keys match fields case-insensitively).
func checkJSON(data []byte) error {
	type frame struct {
		object  bool
		keys    map[string]bool
		wantKey bool
		key     string // current key, in an object
		index   int    // current element, in an array
	}
	var stack []*frame
	// where returns the rule index the walk is inside, or -1.
	where := func() int {
		if len(stack) >= 2 && stack[0].key == "rules" && !stack[1].object {
			return stack[1].index
		}
		return -1
	}
	fail := func(err error) error {
		i := where()
		rule := ""
		if i >= 0 {
			rule = ruleIDAt(data, i)
		}
		return &PolicyError{Rule: rule, Index: i, Err: err}
	}
	// done marks the end of one value in the enclosing container.
	done := func() {
		if len(stack) == 0 {
			return
		}
		top := stack[len(stack)-1]
		if top.object {
			top.wantKey = true
		} else {
			top.index++
		}
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for first := true; ; first = false {
		tok, err := dec.Token()
		if err == io.EOF {
			if first {
				return fail(errors.New("empty file"))
			}
			if len(stack) > 0 {
				return fail(errors.New("unexpected end of file"))
			}
			return nil
		}
		if err != nil {
			return fail(syntaxError(data, dec, err))
		}
		if first && tok != json.Delim('{') {
			return fail(errors.New("a policy must be one JSON object"))
		}
		if !first && len(stack) == 0 {
			return fail(fmt.Errorf("%s: data after the policy object", position(data, dec.InputOffset())))
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				done()
				continue
			}
			key := tok.(string) // Token returns only strings as keys.
			if top.keys[key] {
				return fail(fmt.Errorf("%s: repeated field %q", position(data, dec.InputOffset()), key))
			}
			if key != strings.ToLower(key) {
				return fail(fmt.Errorf("%s: field %q: field names are lower case", position(data, dec.InputOffset()), key))
			}
			top.keys[key] = true
			top.key = key
			top.wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'), json.Delim('}'):
			stack = stack[:len(stack)-1]
			done()
		default:
			done()
		}
	}
}

// syntaxError describes a JSON syntax error with its line and column.
func syntaxError(data []byte, dec *json.Decoder, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: malformed JSON: %s", position(data, se.Offset), strings.TrimPrefix(se.Error(), "json: "))
	}
	return fmt.Errorf("%s: malformed JSON: %s", position(data, dec.InputOffset()), strings.TrimPrefix(err.Error(), "json: "))
}

// position returns "line L, column C" for a byte offset in data.
func position(data []byte, off int64) string {
	if off < 0 {
		off = 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("line %d, column %d", line, col)
}

// ruleIDAt returns the id of rules[i] in a file that may be malformed after
// it, or "" when it cannot tell.
func ruleIDAt(data []byte, i int) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if tok != "rules" {
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return ""
			}
			continue
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return ""
		}
		for n := 0; dec.More(); n++ {
			var msg json.RawMessage
			if dec.Decode(&msg) != nil {
				return ""
			}
			if n == i {
				return ruleID(msg)
			}
		}
		return ""
	}
	return ""
}
