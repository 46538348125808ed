package web

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// maxForm bounds a posted form.
const maxForm = 64 << 10

// parseForm reads a posted form into a views.Form (first value of each
// field, trimmed). It reports false (answer 400) for a body over maxForm,
// a malformed one, or text that is not clean (see cleanText).
func parseForm(w http.ResponseWriter, r *http.Request) (views.Form, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil || !cleanValues(r.PostForm) {
		return nil, false
	}
	f := views.Form{}
	for k, vs := range r.PostForm {
		if len(vs) > 0 {
			f[k] = strings.TrimSpace(vs[0])
		}
	}
	return f, true
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

// cleanQuery refuses, with 400, a request whose query string holds text
// that is not clean (searches and filters go to the database).
func (s *Server) cleanQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			q, _ := url.ParseQuery(r.URL.RawQuery)
			if !cleanValues(q) {
				s.renderError(w, r, http.StatusBadRequest)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// fieldKey is the catalog key of the message for one library field
// error. Messages name rules, never values.
func fieldKey(msg string) string {
	switch m := strings.ToLower(msg); {
	case strings.Contains(m, "icd-10"):
		return "field.icd10"
	case strings.Contains(m, "future"):
		return "field.future"
	case strings.Contains(m, "positive"):
		return "field.positive"
	case strings.Contains(m, "multiple of slotduration"):
		return "field.slot"
	case strings.Contains(m, "after start"), strings.Contains(m, "after from"):
		return "field.after_start"
	case strings.Contains(m, "too long"):
		return "field.too_long"
	case strings.Contains(m, "required"), strings.Contains(m, "at least"):
		return "field.required"
	}
	return "field.invalid"
}

// mapFieldErrors turns a library *ValidationError into form field errors
// through fields (library field → form field, suffix appended). It
// reports false when err is no validation error or names no known field.
func mapFieldErrors(err error, fields map[string]string, suffix string, into views.FieldErrors) bool {
	var ve *ehr.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	n := 0
	for _, fe := range ve.Fields {
		name, ok := fields[fe.Field]
		if !ok {
			continue
		}
		if _, dup := into[name+suffix]; !dup {
			into[name+suffix] = fieldKey(fe.Message)
		}
		n++
	}
	return n > 0
}

// authFieldErrors maps an auth error on a user form to field errors.
func authFieldErrors(err error, suffix string, into views.FieldErrors) bool {
	var pe *auth.PasswordError
	var ie *auth.InvalidError
	switch {
	case errors.As(err, &pe):
		into["password"+suffix] = "field.weak_password"
	case errors.As(err, &ie):
		for _, f := range ie.Fields {
			switch strings.ToLower(f) {
			case "username":
				into["username"+suffix] = "field.username"
			case "roles", "role":
				into["role"+suffix] = "field.invalid"
			case "patientid", "patient_id", "patient":
				into["patient_id"+suffix] = "field.invalid"
			case "password":
				into["password"+suffix] = "field.weak_password"
			}
		}
		if len(ie.Fields) == 0 {
			into["username"+suffix] = "field.invalid"
		}
	case errors.Is(err, auth.ErrConflict):
		into["username"+suffix] = "field.username_taken"
	default:
		return false
	}
	return true
}

// localTime is how the pages show an instant.
func localTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(time.Local).Format("2006-01-02 15:04")
}

func dateOf(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format("2006-01-02")
}

// atoi parses a positive integer form value; 0 when it is not one.
func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// parseNumber parses a decimal number written with a point or a comma.
func parseNumber(s string) (float64, error) {
	return strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), ",", "."), 64)
}

// formatNumber writes v without trailing zeros.
func formatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// seeOther answers a successful form post.
func seeOther(w http.ResponseWriter, r *http.Request, target string) {
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// backTo returns the local path in field back when it starts with
// prefix, else def: a form's way back to the page it was on.
func backTo(back, prefix, def string) string {
	p := localPath(back)
	if p == "/" || !strings.HasPrefix(p, prefix) {
		return def
	}
	return p
}

// withSaved adds saved=1 to a local path's query.
func withSaved(p string) string {
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
