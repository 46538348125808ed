package ehrtest

import (
	"regexp"
	"strings"

	"github.com/historiaehr/historia/ehr"
)

// Routing checks, by a careful heuristic over the SQL text, that a
// statement is routable to a single Citus shard under ehr's distribution
// plan: every reference to a table distributed by patient_id (in FROM,
// JOIN, INTO and UPDATE, including subqueries and CTEs) must come with an
// equality predicate on that reference's patient_id and a parameter
// ("p.patient_id = $2", "patient_id = ANY($3)" for a few named patients,
// or unqualified "patient_id = $1" for a reference without alias). The
// target of an INSERT is routable when the rows come from VALUES or from
// such a filtered SELECT. A statement with a WITH clause must not INSERT:
// Citus's router planner refuses INSERT CTEs and CTEs in INSERTs.
//
// A statement that fans out by design carries a marker comment
// "/* fanout: <name> */"; Routing then returns the name and no problems,
// and the caller checks the name against its allow-list. Otherwise it
// returns "" and one problem per offending table reference (none when the
// statement is routable or touches no patient-distributed table).
func Routing(sql string) (fanout string, problems []string) {
	if m := fanoutRE.FindStringSubmatch(sql); m != nil {
		return strings.TrimSpace(m[1]), nil
	}
	s := normalizeSQL(sql)
	refs := tableRefRE.FindAllStringSubmatch(s, -1)
	var distributed int
	for _, r := range refs {
		if patientTables[r[2]] {
			distributed++
		}
	}
	if distributed == 0 {
		return "", nil
	}
	if strings.HasPrefix(s, "with ") && insertRE.MatchString(s) {
		problems = append(problems, "INSERT in a statement with a WITH clause (Citus's router planner refuses it)")
	}
	for _, r := range refs {
		verb, table, alias := r[1], r[2], r[3]
		if !patientTables[table] {
			continue
		}
		if sqlKeywords[alias] {
			alias = ""
		}
		if verb == "into" {
			// The row's patient_id comes from VALUES, or from a SELECT
			// whose own references are checked.
			if strings.Contains(s, " values (") || distributed > 1 {
				continue
			}
			problems = append(problems, "INSERT INTO "+table+" from a SELECT without a patient-filtered source")
			continue
		}
		q := alias
		if q == "" {
			q = table
		}
		if filtered(s, q, alias == "") {
			continue
		}
		name := table
		if alias != "" {
			name += " " + alias
		}
		problems = append(problems, verb+" "+name+": no "+q+".patient_id = $n")
	}
	return "", problems
}

// PatientTablesIn returns the tables distributed by patient_id that sql
// references, in order of appearance (repeated when referenced again).
func PatientTablesIn(sql string) []string {
	var out []string
	for _, r := range tableRefRE.FindAllStringSubmatch(normalizeSQL(sql), -1) {
		if patientTables[r[2]] {
			out = append(out, r[2])
		}
	}
	return out
}

// filtered reports whether s has an equality on q.patient_id (or, when
// unqualified is set, on a bare patient_id) with a parameter.
func filtered(s, q string, unqualified bool) bool {
	qual := regexp.QuoteMeta(q) + `\.patient_id`
	pats := []string{`\b` + qual + eqParam, param + `\s*=\s*` + qual + `\b`}
	if unqualified {
		pats = append(pats, `(^|[^.\w])patient_id`+eqParam, param+`\s*=\s*patient_id\b`)
	}
	for _, p := range pats {
		if regexp.MustCompile(p).MatchString(s) {
			return true
		}
	}
	return false
}

const (
	param   = `\$\d+`
	eqParam = `\s*=\s*(` + param + `|any\s*\(\s*` + param + `\s*\))`
)

var (
	fanoutRE   = regexp.MustCompile(`/\*\s*fanout:\s*([^*]+?)\s*\*/`)
	commentRE  = regexp.MustCompile(`(?s)/\*.*?\*/|--[^\n]*`)
	literalRE  = regexp.MustCompile(`'(?:[^']|'')*'`)
	spaceRE    = regexp.MustCompile(`\s+`)
	insertRE   = regexp.MustCompile(`\binsert\s+into\b`)
	tableRefRE = regexp.MustCompile(`\b(from|join|into|update)\s+([a-z_][a-z0-9_]*)(?:\s+(?:as\s+)?([a-z_][a-z0-9_]*))?`)

	sqlKeywords = map[string]bool{}

	// patientTables are the tables ehr distributes by patient_id.
	patientTables = map[string]bool{}
)

func init() {
	for _, k := range strings.Fields(`where on join left right inner outer full cross set values select order group
		limit offset returning using for union lateral natural as and or having window default on conflict do`) {
		sqlKeywords[k] = true
	}
	for _, t := range ehr.DistributionPlan().Distributed {
		if t.Column == "patient_id" {
			patientTables[t.Name] = true
		}
	}
}

// normalizeSQL lowercases s and drops comments, string literals and runs
// of white space.
func normalizeSQL(s string) string {
	s = commentRE.ReplaceAllString(s, " ")
	s = literalRE.ReplaceAllString(s, "''")
	s = strings.ToLower(s)
	return strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
}
