package ehr

// WithoutNameWords makes SearchPatients never read the word table
// (namewords.go): the path every search took before it, to compare the
// two. It exists in test binaries alone.
func WithoutNameWords() Option { return func(r *Repository) { r.noNameWords = true } }

// MaxSearchWords exposes maxSearchWords: the most words of a prefix the
// word table's path merges.
const MaxSearchWords = maxSearchWords
