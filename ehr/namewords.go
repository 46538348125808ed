package ehr

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The word table (migration 0009): patient_name_words holds one row per
// distinct folded word of each patient's names, with the patient's
// sort_key, for every patient not entered in error; patient_name_dictionary
// the distinct words of each tenant. SearchPatients serves a name search
// of one word with them: the words the query is a prefix of come from the
// dictionary (an index range), and each word's patients are an index
// range of patient_name_words already in the search's order, so a page
// reads about a page of rows a word instead of every match.

// maxSearchWords is the most words of a prefix SearchPatients merges; a
// prefix with more (one or two letters) takes the path of patients'
// indexes.
const maxSearchWords = 128

// nameWords returns the distinct folded words of a patient's names,
// sorted: the words of searchName, which a name search in MatchPrefix
// compares each word of the query to.
func nameWords(given, family string) []string {
	ws := strings.Fields(searchName(given, family))
	slices.Sort(ws)
	return slices.Compact(ws)
}

// prefixEnd returns the least string above every word starting with w in
// the C collation (byte order): w followed by U+10FFFF, which is above
// every other character and is not a letter or digit, so no folded word
// holds it.
func prefixEnd(w string) string { return w + "\U0010FFFF" }

// deleteNameWordsSQL removes a patient's words: $1 patient, $2 tenant.
const deleteNameWordsSQL = `DELETE FROM patient_name_words WHERE patient_id = $1 AND tenant_id = $2`

// maxDictionaryRows is the most words one insert into the dictionary
// takes (ImportPatients adds many at once).
const maxDictionaryRows = 1000

// queueDictionary queues the inserts adding the sorted words ws to
// tenant's dictionary, at most maxDictionaryRows a statement. The rows
// come from VALUES so that on Citus each is a single-shard insert (from
// a SELECT Citus pulls the rows through the coordinator). In the order of
// the words, so that two transactions adding the same new words do not
// wait on each other in a cycle.
func queueDictionary(b *pgx.Batch, tenant uuid.UUID, ws []string) {
	for len(ws) > 0 {
		n := min(len(ws), maxDictionaryRows)
		var sql strings.Builder
		sql.WriteString(`INSERT INTO patient_name_dictionary (tenant_id, word) VALUES `)
		args := make([]any, 0, n+1)
		args = append(args, tenant)
		for i, w := range ws[:n] {
			if i > 0 {
				sql.WriteString(", ")
			}
			sql.WriteString("($1, $" + strconv.Itoa(i+2) + ")")
			args = append(args, w)
		}
		sql.WriteString(" ON CONFLICT DO NOTHING")
		b.Queue(sql.String(), args...)
		ws = ws[n:]
	}
}

// insertNameWordsSQL returns the statement inserting n words of one
// patient: $1 tenant, $2 sort_key, $3 patient, then the words. The rows
// come from VALUES so that on Citus it is a single-shard insert.
func insertNameWordsSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO patient_name_words (tenant_id, word, sort_key, patient_id) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("($1, $" + strconv.Itoa(i+4) + ", $2, $3)")
	}
	return b.String()
}

// writeNameWords stores the words of patient pid's names given and
// family and adds them to the tenant's dictionary, in one round trip;
// with replace it first removes the words the patient had, and with
// none it stores none (a patient entered in error). The caller has
// written the patient's row in tx.
func writeNameWords(ctx context.Context, tx pgx.Tx, op string, tenant, pid uuid.UUID, given, family string, replace, none bool) error {
	b := &pgx.Batch{}
	if replace {
		b.Queue(deleteNameWordsSQL, pid, tenant)
	}
	if ws := nameWords(given, family); len(ws) > 0 && !none {
		args := make([]any, 0, len(ws)+3)
		args = append(args, tenant, sortKey(given, family), pid)
		for _, w := range ws {
			args = append(args, w)
		}
		b.Queue(insertNameWordsSQL(len(ws)), args...)
		queueDictionary(b, tenant, ws)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return dbError(op+" "+pid.String()+": name words", err)
	}
	return nil
}

// nameWordsRows are the rows of patient_name_words of a new patient, for
// COPY (ImportPatients).
func nameWordsRows(tenant, pid uuid.UUID, given, family string) [][]any {
	key := sortKey(given, family)
	var rows [][]any
	for _, w := range nameWords(given, family) {
		rows = append(rows, []any{tenant, w, key, pid})
	}
	return rows
}

// nameWordsColumns are the columns ImportPatients copies into
// patient_name_words.
var nameWordsColumns = []string{"tenant_id", "word", "sort_key", "patient_id"}

// byWord reports whether SearchPatients may serve f from the word table:
// a name of one folded word in MatchPrefix, and no other filter (the word
// table holds no other column, and no patient entered in error).
func (f *patientFilter) byWord() bool {
	return f.Name != "" && f.NameMatch == MatchPrefix && !strings.Contains(f.Name, " ") &&
		f.Family == "" && f.Given == "" && f.Value == "" && f.System == "" && len(f.IDs) == 0 &&
		f.Birth.IsZero() && f.BirthFrom.IsZero() && f.BirthTo.IsZero() && f.NotFrom.IsZero() &&
		f.Sex == "" && f.UpdatedFrom.IsZero() && f.UpdatedTo.IsZero() && !f.All
}

// dictionarySQL reads the words of tenant $1 in [$2, $3), at most $4.
const dictionarySQL = `SELECT word FROM patient_name_dictionary
WHERE tenant_id = $1 AND word >= $2 AND word < $3 ORDER BY word LIMIT $4`

// prefixWords returns the words of the tenant's dictionary that start
// with w, and false when there are more than maxSearchWords.
func prefixWords(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, w string) ([]string, bool, error) {
	rows, err := tx.Query(ctx, dictionarySQL, tenant, w, prefixEnd(w), maxSearchWords+1)
	if err != nil {
		return nil, false, err
	}
	words, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, false, err
	}
	return words, len(words) <= maxSearchWords, nil
}

// wordPageSQL returns the statement reading a page of the patients
// having one of n words: for each word the first $2 (the limit) of its
// range of patient_name_words after the cursor ($3 sort_key, $4 id),
// which are in the page's order; the union of those, without repeats
// (a patient with two of the words), cut to the first $2; then those
// patients' rows, in the same order. The first $2 of the union are the
// first $2 matches: each is among the first $2 of its own word.
// Arguments: $1 tenant, $2 limit, $3 and $4 the cursor ("" and the nil
// UUID for the first page: below every row), $5... the words.
//
// One branch a word (a UNION, not a LATERAL join over an array of words)
// so that Citus can plan it: each branch is a query of its own, pushed
// to every shard with its ORDER BY and LIMIT, and the page a semi-join
// of patients with the result.
func wordPageSQL(n int) string {
	var b strings.Builder
	b.WriteString(`/* fanout: patient search */ SELECT ` + patientColumns + `, sort_key
FROM patients p
WHERE p.tenant_id = $1 AND p.status <> '` + StatusEnteredInError + `' AND p.patient_id IN (
  SELECT h.patient_id FROM (`)
	for i := range n {
		if i > 0 {
			b.WriteString("\n    UNION")
		}
		fmt.Fprintf(&b, `
    (SELECT w.sort_key, w.patient_id FROM patient_name_words w
     WHERE w.tenant_id = $1 AND w.word = $%d AND (w.sort_key, w.patient_id) > ($3, $4)
     ORDER BY w.sort_key, w.patient_id LIMIT $2)`, i+5)
	}
	b.WriteString(`) AS h
  ORDER BY h.sort_key, h.patient_id LIMIT $2)
ORDER BY p.sort_key, p.patient_id`)
	return b.String()
}

// searchByWords returns the statement and arguments of the page of f
// (limit patients, after cur) read through the word table, when f is a
// search by one word (byWord) whose prefix covers at most maxSearchWords
// words; sqlText is "" otherwise, and the caller takes the path of
// patients' indexes. done is set when no word starts with the prefix:
// the page is empty, there is nothing to read.
func (r *Repository) searchByWords(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, f *patientFilter, cur patientCursor, limit int) (sqlText string, args []any, done bool, err error) {
	if r.noNameWords || !f.byWord() {
		return "", nil, false, nil
	}
	words, ok, err := prefixWords(ctx, tx, tenant, f.Name)
	if err != nil || !ok {
		return "", nil, false, err
	}
	if len(words) == 0 {
		return "", nil, true, nil
	}
	after := uuid.Nil
	if cur.ID != "" {
		// SearchPatients has checked that the cursor's id is a UUID.
		if after, err = uuid.Parse(cur.ID); err != nil {
			return "", nil, false, err
		}
	}
	args = make([]any, 0, len(words)+4)
	args = append(args, tenant, limit+1, cur.Key, after)
	for _, w := range words {
		args = append(args, w)
	}
	return wordPageSQL(len(words)), args, false, nil
}
