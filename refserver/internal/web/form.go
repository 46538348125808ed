package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/i18n"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// MaxBody bounds a posted form or JSON body.
const MaxBody = 64 << 10

// ParseForm reads a posted form into a views.Form (first value of each
// field, trimmed). A body over MaxBody, a malformed one, or text that is
// not clean (see cleanText) is an error wrapping ErrBadRequest.
func ParseForm(w http.ResponseWriter, r *http.Request) (views.Form, error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil || !cleanValues(r.PostForm) {
		return nil, BadRequest("error.badrequest")
	}
	f := views.Form{}
	for k, vs := range r.PostForm {
		if len(vs) > 0 {
			f[k] = strings.TrimSpace(vs[0])
		}
	}
	return f, nil
}

// cleanText reports whether s is text the database can store: valid UTF-8
// without NUL characters. PostgreSQL refuses both with an error that ehr
// does not map (a 500), so the server refuses them first, with a 400.
func cleanText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// cleanValues reports whether every name and value of v is clean text.
func cleanValues(v url.Values) bool {
	for k, vs := range v {
		if !cleanText(k) {
			return false
		}
		for _, s := range vs {
			if !cleanText(s) {
				return false
			}
		}
	}
	return true
}

// cleanJSON reports whether every string in v (a decoded JSON body) is
// clean text. Go's decoder already replaces invalid UTF-8, but "\u0000"
// decodes to a NUL.
func cleanJSON(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return cleanText(v.String())
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || cleanJSON(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !cleanJSON(v.Field(i)) {
				return false
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if !cleanJSON(v.Index(i)) {
				return false
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if !cleanJSON(it.Key()) || !cleanJSON(it.Value()) {
				return false
			}
		}
	}
	return true
}

// Decode reads a JSON body (at most MaxBody, no unknown fields, clean
// text) into v. Otherwise it returns an error wrapping ErrBadRequest.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	raw, err := Body(w, r, MaxBody)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return BadRequest("error.body_json")
	}
	if !cleanJSON(reflect.ValueOf(v)) {
		return BadRequest("error.body_text")
	}
	return nil
}

// DecodeOptional is Decode for a body that may be empty (v keeps its
// zero value), with unknown fields ignored.
func DecodeOptional(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	raw, err := Body(w, r, limit)
	if err != nil {
		return err
	}
	// A body that is not the object is refused rather than taken for none.
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return BadRequest("error.body_json")
	}
	if !cleanJSON(reflect.ValueOf(v)) {
		return BadRequest("error.body_text")
	}
	return nil
}

// DecodeLoose is Decode without the check for unknown fields.
func DecodeLoose(w http.ResponseWriter, r *http.Request, v any) error {
	raw, err := Body(w, r, MaxBody)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil || !cleanJSON(reflect.ValueOf(v)) {
		return BadRequest("error.body_text")
	}
	return nil
}

// Body reads a body of at most limit bytes. A body too big, or that is
// not UTF-8 (which Go's JSON decoder would silently turn into U+FFFD), is
// an error wrapping ErrBadRequest.
func Body(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil || !utf8.Valid(raw) {
		return nil, BadRequest("error.body_size", limit>>10)
	}
	return raw, nil
}

// FormErrors adds err's fields at fault to into as form errors, each
// with the catalog key of its message: a library's field (ehr's, auth's)
// only when fields maps it to the form's, an app.ValidationError's field
// under its own name (app names fields as the form does) unless fields
// maps it. suffix is added to each name (per-record forms); a field
// already in into keeps its error. It reports whether err named a field
// of the form.
func FormErrors(err error, fields map[string]string, suffix string, into views.FieldErrors) bool {
	var av *app.ValidationError
	own := errors.As(err, &av)
	n := 0
	for _, f := range fieldProblems(err) {
		name, ok := fields[f.Field]
		if !ok && !own {
			continue
		}
		if !ok {
			name = f.Field
		}
		if _, dup := into[name+suffix]; !dup {
			into[name+suffix] = i18n.FieldKey(f.Code)
		}
		n++
	}
	return n > 0
}

// LocalTime is how the pages show an instant.
func LocalTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(time.Local).Format("2006-01-02 15:04")
}

// Date is how the pages and the API show a date ("" for none).
func Date(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format("2006-01-02")
}

// Atoi parses a positive integer form value; 0 when it is not one.
func Atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// ParseNumber parses a decimal number written with a point or a comma.
func ParseNumber(s string) (float64, error) {
	return strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), ",", "."), 64)
}

// FormatNumber writes v without trailing zeros.
func FormatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// BackTo returns the local path in field back when it starts with
// prefix, else def: a form's way back to the page it was on.
func BackTo(back, prefix, def string) string {
	p := LocalPath(back)
	if p == "/" || !strings.HasPrefix(p, prefix) {
		return def
	}
	return p
}

// WithSaved adds saved=1 to a local path's query.
func WithSaved(p string) string {
	p, frag, _ := strings.Cut(p, "#")
	if strings.Contains(p, "?") {
		p += "&saved=1"
	} else {
		p += "?saved=1"
	}
	if frag != "" {
		p += "#" + frag
	}
	return p
}
