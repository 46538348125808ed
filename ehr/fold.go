package ehr

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// fold returns s lower-cased, without diacritics (José → jose, Núñez →
// nunez), with punctuation turned into spaces and runs of spaces collapsed:
// the form stored in patients.search_name and compared by SearchPatients,
// so the search is accent- and case-insensitive without the unaccent
// extension.
func fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	out = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			return unicode.ToLower(r)
		default:
			return ' '
		}
	}, out)
	return strings.Join(strings.Fields(out), " ")
}

// searchName is the stored search column: the folded names between
// spaces, so that " " + token matches the start of any word.
func searchName(given, family string) string {
	return " " + fold(given+" "+family) + " "
}

// sortKey orders patients by family names, then given names. The
// separator sorts before any letter and space, so "perez" comes before
// "perez gomez"; the column has the C collation, so the order (and the
// keyset cursor) does not depend on the server's locale.
func sortKey(given, family string) string {
	return fold(family) + "\x01" + fold(given)
}

// likeEscape escapes LIKE's wildcards in s (with backslash, the default
// escape character).
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// encodeCursor makes an opaque pagination cursor of v.
func encodeCursor(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor made by encodeCursor into v.
func decodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
