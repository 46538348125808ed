// Package i18n holds the server's message catalog in Spanish and English
// and picks the language of a request.
//
//	lang := i18n.FromRequest(r)          // cookie "lang", else Accept-Language
//	ctx := i18n.NewContext(r.Context(), lang)
//	title := i18n.T(ctx, "login.title")  // "Iniciar sesión" or "Sign in"
//
// Every key exists in both languages; a test fails otherwise.
package i18n

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Lang is a supported language.
type Lang string

// The supported languages. Spanish is the default.
const (
	ES Lang = "es"
	EN Lang = "en"
)

// Default is the language used when a request expresses no preference.
const Default = ES

// CookieName is the cookie set by the language switch; it overrides
// Accept-Language.
const CookieName = "lang"

// Langs returns the supported languages in display order.
func Langs() []Lang { return []Lang{ES, EN} }

// Parse returns the Lang named s ("es", "en", "es-CO", ...) and whether it
// is supported.
func Parse(s string) (Lang, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexAny(s, "-_"); i >= 0 {
		s = s[:i]
	}
	switch Lang(s) {
	case ES:
		return ES, true
	case EN:
		return EN, true
	}
	return "", false
}

// FromRequest picks the language of r: the "lang" cookie when it names a
// supported language, else the best supported entry of Accept-Language,
// else Default.
func FromRequest(r *http.Request) Lang {
	if c, err := r.Cookie(CookieName); err == nil {
		if l, ok := Parse(c.Value); ok {
			return l
		}
	}
	return FromAcceptLanguage(r.Header.Get("Accept-Language"))
}

// FromAcceptLanguage returns the supported language with the highest
// quality in an Accept-Language header value, or Default.
func FromAcceptLanguage(h string) Lang {
	type cand struct {
		lang Lang
		q    float64
		pos  int
	}
	var cs []cand
	for i, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		l, ok := Parse(tag)
		if !ok {
			continue
		}
		q := 1.0
		if v, found := strings.CutPrefix(strings.TrimSpace(params), "q="); found {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if q > 0 {
			cs = append(cs, cand{l, q, i})
		}
	}
	if len(cs) == 0 {
		return Default
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].q > cs[j].q })
	return cs[0].lang
}

type ctxKey struct{}

// NewContext returns ctx carrying lang.
func NewContext(ctx context.Context, lang Lang) context.Context {
	return context.WithValue(ctx, ctxKey{}, lang)
}

// FromContext returns the language carried by ctx, or Default.
func FromContext(ctx context.Context) Lang {
	if l, ok := ctx.Value(ctxKey{}).(Lang); ok {
		return l
	}
	return Default
}

// T translates key into the language of ctx, formatting args with
// fmt.Sprintf when given. A missing key renders as the key itself in
// brackets, so a mistake shows on the page (and the catalog test fails).
func T(ctx context.Context, key string, args ...any) string {
	return Translate(FromContext(ctx), key, args...)
}

// Translate is T with an explicit language.
func Translate(lang Lang, key string, args ...any) string {
	msg, ok := catalog(lang)[key]
	if !ok {
		return "[" + key + "]"
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// Has reports whether key exists in lang.
func Has(lang Lang, key string) bool {
	_, ok := catalog(lang)[key]
	return ok
}

// Keys returns the keys of lang, sorted.
func Keys(lang Lang) []string {
	m := catalog(lang)
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func catalog(lang Lang) map[string]string {
	if lang == EN {
		return en
	}
	return es
}

// FieldKey returns the catalog key of the message of a field error's
// code (ehr.CodeRequired, app.CodeNumber, ...): "field." + code.
func FieldKey(code string) string { return "field." + code }
