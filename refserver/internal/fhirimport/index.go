package fhirimport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

// The first pass reads every input once and keeps, for each resource of
// a type Historia maps, where it is (file, offset, length, line) and what
// the grouping needs (type, id, fullUrl, the references that may name its
// patient), never the resource itself. Resources of other types are
// counted by type and forgotten. The second pass reads each patient's
// resources back by offset.

// source is one input file.
type source struct {
	path string
	// bundle: a .json file, a Bundle or a single resource (read whole in
	// the first pass); otherwise ndjson, streamed.
	bundle bool
}

// res is one resource of a mapped type, as the first pass found it.
type res struct {
	file  int32
	line  int32 // 1-based line where the resource starts
	entry int32 // its index in a Bundle's entry, -1 in ndjson
	off   int64
	size  int32
	typ   int8 // fhirmap.Index
	id    string
	full  string // the Bundle entry's fullUrl
	// refs are the references that may name the resource's patient
	// (subject, patient, participant.actor), until the grouping.
	refs []string
}

// group is one patient of the input and the resources that name it.
type group struct {
	patient int32   // index of the Patient resource in index.res
	entries []int32 // its records, in input order
}

// index is what the first pass learnt.
type index struct {
	files         []source
	res           []res
	groups        []group
	practitioners []int32 // Practitioner resources, first of each
	// patientKeys and practKeys map the references that name a Patient
	// or a Practitioner of the input (fhirmap.RefKeys) to the group or
	// to the index in practitioners.
	patientKeys map[string]int32
	practKeys   map[string]int32
	unknown     map[string]int // resources of types Historia does not map
	rejects     []Reject       // found while indexing
	resources   int            // resources of mapped types
	// work is the number of resources the second pass handles: the
	// practitioners, each patient and its records.
	work int
}

// bundleTypes are the Bundle types whose entries are imported.
var bundleTypes = []string{"transaction", "batch", "collection", "searchset"}

// inputs lists the files of paths: a file as given (.ndjson, or .json for
// a Bundle or one resource), a directory walked in lexical order for its
// .ndjson and .json files. skip (the rejects file) is left out.
func inputs(paths []string, skip string) ([]source, error) {
	var out []source
	seen := map[string]bool{}
	add := func(p string) {
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = p
		}
		if seen[abs] || (skip != "" && abs == skip) {
			return
		}
		seen[abs] = true
		out = append(out, source{path: p, bundle: strings.EqualFold(filepath.Ext(p), ".json")})
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			switch strings.ToLower(filepath.Ext(p)) {
			case ".ndjson", ".json":
				add(p)
			default:
				return nil, fmt.Errorf("%s: not an .ndjson or .json file", p)
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") {
				return nil
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".ndjson", ".json":
				add(path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// refProbe is a Reference as the first pass reads it.
type refProbe struct {
	Reference string `json:"reference"`
}

// probe is what the first pass reads of a resource.
type probe struct {
	ResourceType string    `json:"resourceType"`
	ID           string    `json:"id"`
	Subject      *refProbe `json:"subject"`
	Patient      *refProbe `json:"patient"`
	Participant  []struct {
		Actor *refProbe `json:"actor"`
	} `json:"participant"`
}

// scan runs the first pass over files.
func scan(files []source) (*index, error) {
	ix := &index{files: files, patientKeys: map[string]int32{}, practKeys: map[string]int32{}, unknown: map[string]int{}}
	for i, f := range files {
		var err error
		if f.bundle {
			err = ix.scanJSON(int32(i), f.path)
		} else {
			err = ix.scanNDJSON(int32(i), f.path)
		}
		if err != nil {
			return nil, err
		}
	}
	ix.group()
	return ix, nil
}

// scanNDJSON indexes an ndjson file, one resource a line.
func (ix *index) scanNDJSON(file int32, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var off int64
	var buf []byte
	for line := int32(1); ; line++ {
		b, err := readLine(br, &buf)
		if len(b) > 0 {
			lead := b
			if line == 1 {
				lead = bytes.TrimPrefix(b, bom)
			}
			start := len(b) - len(bytes.TrimLeft(lead, " \t\r\n"))
			body := bytes.TrimSpace(b[start:])
			if len(body) > 0 {
				ix.add(file, line, -1, off+int64(start), body, "")
			}
		}
		off += int64(len(b))
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

// bom is the UTF-8 byte order mark some tools write at the start of a
// file.
var bom = []byte{0xEF, 0xBB, 0xBF}

// readLine returns the next line of br with its newline (the last may
// have none), in *buf when it is longer than br's buffer.
func readLine(br *bufio.Reader, buf *[]byte) ([]byte, error) {
	b, err := br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return b, err
	}
	*buf = append((*buf)[:0], b...)
	for errors.Is(err, bufio.ErrBufferFull) {
		b, err = br.ReadSlice('\n')
		*buf = append(*buf, b...)
	}
	return *buf, err
}

// scanJSON indexes a .json file: the entries of a Bundle of a type in
// bundleTypes, or the file as one resource.
func (ix *index) scanJSON(file int32, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	type entry struct {
		full       string
		start, end int64
	}
	var rt, typ string
	var entries []entry
	bundle := func() error {
		dec := json.NewDecoder(bytes.NewReader(data))
		delim := func(want json.Delim) error {
			t, err := dec.Token()
			if err != nil {
				return err
			}
			if d, ok := t.(json.Delim); !ok || d != want {
				return fmt.Errorf("want %v", want)
			}
			return nil
		}
		key := func() (string, error) {
			t, err := dec.Token()
			if err != nil {
				return "", err
			}
			k, _ := t.(string)
			return k, nil
		}
		skip := func() error { var raw json.RawMessage; return dec.Decode(&raw) }
		if err := delim('{'); err != nil {
			return err
		}
		for dec.More() {
			k, err := key()
			if err != nil {
				return err
			}
			switch k {
			case "resourceType":
				err = dec.Decode(&rt)
			case "type":
				err = dec.Decode(&typ)
			case "entry":
				if err := delim('['); err != nil {
					return err
				}
				for dec.More() {
					if err := delim('{'); err != nil {
						return err
					}
					var e entry
					for dec.More() {
						k, err := key()
						if err != nil {
							return err
						}
						switch k {
						case "fullUrl":
							err = dec.Decode(&e.full)
						case "resource":
							var raw json.RawMessage
							err = dec.Decode(&raw)
							e.end = dec.InputOffset()
							e.start = e.end - int64(len(raw))
						default:
							err = skip()
						}
						if err != nil {
							return err
						}
					}
					if err := delim('}'); err != nil {
						return err
					}
					entries = append(entries, e)
				}
				err = delim(']')
			default:
				err = skip()
			}
			if err != nil {
				return err
			}
		}
		return delim('}')
	}
	if b := bytes.TrimPrefix(data, bom); len(b) < len(data) {
		data = append(bytes.Repeat([]byte{' '}, len(bom)), b...) // the same offsets
	}
	if err := bundle(); err != nil {
		ix.reject(Reject{File: path, Line: 1, Reason: "not a JSON resource or Bundle",
			Issues: []Issue{{Diagnostics: "the file is not one JSON object"}}})
		return nil
	}
	if rt != "Bundle" {
		body := bytes.TrimSpace(data)
		start := int64(len(data) - len(bytes.TrimLeft(data, " \t\r\n")))
		ix.add(file, lineAt(data, 0, 1, start), -1, start, body, "")
		return nil
	}
	if !slices.Contains(bundleTypes, typ) {
		ix.reject(Reject{File: path, Line: 1, ResourceType: "Bundle", Reason: "Bundle.type is not transaction, batch, collection or searchset",
			Issues: []Issue{{Location: "Bundle.type", Diagnostics: fmt.Sprintf("%q is not imported", typ)}}})
		return nil
	}
	line, at := int32(1), int64(0)
	for i, e := range entries {
		if e.end == 0 {
			continue // no resource (a DELETE)
		}
		line, at = lineAt(data, at, line, e.start), e.start
		ix.add(file, line, int32(i), e.start, data[e.start:e.end], e.full)
	}
	return nil
}

// lineAt returns the line of offset to in data, counting from offset
// from, which is on line line.
func lineAt(data []byte, from int64, line int32, to int64) int32 {
	return line + int32(bytes.Count(data[from:to], []byte{'\n'}))
}

// add indexes one resource, body, found at off in file.
func (ix *index) add(file, line, entry int32, off int64, body []byte, full string) {
	where := Reject{File: ix.files[file].path, Line: int(line)}
	if entry >= 0 {
		e := int(entry)
		where.Entry = &e
	}
	var p probe
	if err := json.Unmarshal(body, &p); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			where.Reason = "not a JSON resource"
			where.Issues = []Issue{{Diagnostics: jsonProblem(err)}}
			ix.reject(where)
			return
		}
	}
	t := fhirmap.Index(p.ResourceType)
	switch {
	case p.ResourceType == "":
		where.Reason, where.ID = "not a FHIR resource: no resourceType", p.ID
		ix.reject(where)
		return
	case t < 0:
		ix.unknown[p.ResourceType]++
		return
	}
	r := res{file: file, line: line, entry: entry, off: off, size: int32(len(body)), typ: int8(t), id: p.ID, full: full}
	for _, ref := range []*refProbe{p.Subject, p.Patient} {
		if ref != nil && ref.Reference != "" {
			r.refs = append(r.refs, ref.Reference)
		}
	}
	for _, pa := range p.Participant {
		if pa.Actor != nil && pa.Actor.Reference != "" {
			r.refs = append(r.refs, pa.Actor.Reference)
		}
	}
	ix.res = append(ix.res, r)
	ix.resources++
}

// jsonProblem describes a JSON syntax error without quoting the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d of the resource", se.Offset)
	}
	return "invalid JSON"
}

func (ix *index) reject(r Reject) { ix.rejects = append(ix.rejects, r) }

// where returns the Reject of resource i, without a reason.
func (ix *index) where(i int32) Reject {
	r := &ix.res[i]
	out := Reject{File: ix.files[r.file].path, Line: int(r.line), ResourceType: fhirmap.Types[r.typ], ID: r.id}
	if r.entry >= 0 {
		e := int(r.entry)
		out.Entry = &e
	}
	return out
}

// group resolves the patients and practitioners of the input and puts
// every record in its patient's group: the first of its candidate
// references (subject, patient, participant.actor) that names a Patient
// of the input. A record that names none is rejected; a second Patient or
// Practitioner named as an earlier one is a duplicate (its records go to
// the first).
func (ix *index) group() {
	iPatient, iPract := int8(fhirmap.Index("Patient")), int8(fhirmap.Index("Practitioner"))
	for i := range ix.res {
		r := &ix.res[i]
		switch r.typ {
		case iPatient:
			keys := fhirmap.RefKeys(r.full, "Patient", r.id)
			if len(keys) == 0 {
				rj := ix.where(int32(i))
				rj.Reason = "a Patient without id or fullUrl: no record can name it"
				ix.reject(rj)
				continue
			}
			if g, dup := lookupAny(ix.patientKeys, keys); dup {
				first := ix.where(ix.groups[g].patient)
				rj := ix.where(int32(i))
				rj.Reason = fmt.Sprintf("duplicate: the same Patient as %s line %d (its records are imported with that one)", first.File, first.Line)
				ix.reject(rj)
				continue
			}
			for _, k := range keys {
				ix.patientKeys[k] = int32(len(ix.groups))
			}
			ix.groups = append(ix.groups, group{patient: int32(i)})
		case iPract:
			keys := fhirmap.RefKeys(r.full, "Practitioner", r.id)
			if _, dup := lookupAny(ix.practKeys, keys); dup || len(keys) == 0 {
				continue // the same practitioner again, or one nothing can name
			}
			for _, k := range keys {
				ix.practKeys[k] = int32(len(ix.practitioners))
			}
			ix.practitioners = append(ix.practitioners, int32(i))
		}
	}
	for i := range ix.res {
		r := &ix.res[i]
		if r.typ == iPatient || r.typ == iPract {
			continue
		}
		g := int32(-1)
		for _, ref := range r.refs {
			if k, ok := lookupRef(ix.patientKeys, ref); ok {
				g = k
				break
			}
		}
		r.refs = nil
		if g < 0 {
			rj := ix.where(int32(i))
			rj.Reason = "its patient is not in the input"
			ix.reject(rj)
			continue
		}
		ix.groups[g].entries = append(ix.groups[g].entries, int32(i))
	}
	ix.work = len(ix.practitioners)
	for _, g := range ix.groups {
		ix.work += 1 + len(g.entries)
	}
}

// lookupAny returns the value of the first of keys in m.
func lookupAny(m map[string]int32, keys []string) (int32, bool) {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v, true
		}
	}
	return 0, false
}

// lookupRef finds reference ref in m: as it is, else as the Type/id it
// ends with (an absolute URL, a version-specific reference).
func lookupRef(m map[string]int32, ref string) (int32, bool) {
	if v, ok := m[ref]; ok {
		return v, true
	}
	if t := refTail(ref); t != "" && t != ref {
		v, ok := m[t]
		return v, ok
	}
	return 0, false
}

// refTail returns the Type/id a reference ends with: Patient/9 of
// http://x/fhir/Patient/9 and of Patient/9/_history/2; "" for a urn or
// a reference of another shape.
func refTail(ref string) string {
	if fhirmap.IsURN(ref) {
		return ""
	}
	p := ref
	if strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://") {
		u, err := url.Parse(ref)
		if err != nil {
			return ""
		}
		p = u.Path
	}
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if n := len(segs); n >= 4 && segs[n-2] == "_history" {
		segs = segs[:n-2]
	}
	n := len(segs)
	if n < 2 || segs[n-2] == "" || segs[n-1] == "" {
		return ""
	}
	return segs[n-2] + "/" + segs[n-1]
}
