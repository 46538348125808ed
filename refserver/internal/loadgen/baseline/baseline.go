// Package baseline is the bare server the chart benchmark and `historia
// load --baseline-db` compare Historia with: net/http and a pgx pool
// serving one route, GET /chart/{id}, with the same SQL the chart of
// package ehr reads and the same JSON the API writes
// (GET /api/v1/patients/{id}/chart), and nothing else: no
// authentication, no rbac, no audit trail, no templates, no middleware.
//
// The statements are copies. ehr keeps its chart statements unexported
// (the column lists patientColumns, encounterColumns, ... and chartSQL in
// ehr/chart.go, ehr/patient.go and the files of each kind), and a
// baseline must not widen the library's API, so they are copied here
// faithfully, column for column; TestBaselineChartMatchesAPI (package
// server) fails when the two answers part.
//
// With Options.Audit the baseline also appends an audit event per read
// the way ehr does (a chain-head upsert computing sha256 and an event
// insert, in the read's transaction), into two tables of its own made
// like audit_heads and audit_events (PrepareAudit): the cost of the audit
// alone, without touching the real trail, whose hashes it could not
// compute.
package baseline

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/web/api"
)

// Copied from package ehr (see the package comment): the column lists of
// each kind and the statements of Repository.Chart.
const (
	patientColumns = `patient_id, tenant_id, document_type, document_number, identifiers, given_names, family_names,
  birth_date, sex, phone, email, address, emergency_name, emergency_phone, emergency_relationship, status, version,
  created_at, updated_at`
	encounterColumns = `id, tenant_id, patient_id, class, status, practitioner_id, ward, bed, reason, disposition,
  started_at, ended_at, version, created_at, updated_at`
	appointmentColumns = `id, tenant_id, patient_id, practitioner_id, starts_at, ends_at, status, reason, version, created_at, updated_at`
	careTeamColumns    = `id, tenant_id, patient_id, practitioner_id, user_id, role, reason, starts_at, ends_at, status,
  version, created_at, updated_at`
	noteColumns = `id, tenant_id, patient_id, encounter_id, author_id, title, body, status, signed_at, signed_by,
  version, created_at, updated_at`
	conditionColumns = `id, tenant_id, patient_id, encounter_id, code, display, status, onset_date, note, recorded_by,
  version, created_at, updated_at`
	allergyColumns    = `id, tenant_id, patient_id, substance, reaction, severity, status, recorded_by, version, created_at, updated_at`
	medicationColumns = `id, tenant_id, patient_id, encounter_id, medication, dose, dose_unit, route, frequency, status,
  starts_on, ends_on, note, prescriber_id, version, created_at, updated_at`
	observationColumns = `id, tenant_id, patient_id, encounter_id, category, code, display, value, value_text, unit,
  effective_at, status, recorded_by, version, created_at, updated_at`

	// patientSQL is ehr's getPatientNoAuditSQL: $1 tenant, $2 patient.
	patientSQL = `SELECT ` + patientColumns + ` FROM patients WHERE patient_id = $2 AND tenant_id = $1`
)

// section is one of ehr's chartSections as its bounded read (ChartView,
// ehr/chartview.go) reads it: the page, newest first, at most limit+1
// rows ($3 the window's start, $4 its end, $5 the nil UUID: no cursor;
// $6 the limit), and the count of the rows (stopping after
// ehr.CountLimit+1) and of the active ones in the window ($3, $4), with
// name its key in the JSON's sections ("" for the
// care team, read and not part of the API's chart).
type section struct {
	name, page, count string
	limit             int
	window            bool
}

// bounded returns the bounded read of table, ordered by order, counting
// as active the rows where active holds ("" for none).
func bounded(name, columns, table, order, active string, limit int, window bool) section {
	where := `patient_id = $1 AND tenant_id = $2`
	rows := ` FROM ` + table + ` WHERE ` + where + ` AND ` + order + ` >= $3 AND ` + order + ` < $4`
	first := ` LIMIT ` + strconv.Itoa(ehr.CountLimit+1) + `) r`
	count := `SELECT count(*), 0 FROM (SELECT 1` + rows + first
	if active != "" {
		count = `SELECT count(*), CASE WHEN count(*) > ` + strconv.Itoa(ehr.CountLimit) + ` THEN (SELECT count(*)` + rows + ` AND ` + active +
			`) ELSE count(*) FILTER (WHERE ` + active + `) END FROM (SELECT status` + rows + first
	}
	return section{name: name, limit: limit, window: window,
		page: `SELECT ` + columns + ` FROM ` + table + ` WHERE ` + where + ` AND ` + order + ` >= $3 AND (` + order + `, id) < ($4, $5) ORDER BY ` +
			order + ` DESC, id DESC LIMIT $6`,
		count: count}
}

// sections are the statements of ehr's chartSections, in the same order,
// with ehr's default bounds (ehr.DefaultSectionLimit rows, the
// observations of the last ehr.DefaultVitalsWindow, at most
// ehr.DefaultObservationLimit).
var sections = [...]section{
	bounded("encounters", encounterColumns, "encounters", "started_at", `status = 'in-progress'`, ehr.DefaultSectionLimit, false),
	bounded("appointments", appointmentColumns, "appointments", "starts_at", `status IN ('booked', 'arrived')`, ehr.DefaultSectionLimit, false),
	bounded("", careTeamColumns, "care_team_members", "starts_at", `status = 'active'`, ehr.DefaultSectionLimit, false),
	bounded("notes", noteColumns, "clinical_notes", "created_at", "", ehr.DefaultSectionLimit, false),
	bounded("conditions", conditionColumns, "conditions", "created_at", `status = 'active'`, ehr.DefaultSectionLimit, false),
	bounded("allergies", allergyColumns, "allergies", "created_at", `status = 'active'`, ehr.DefaultSectionLimit, false),
	bounded("medications", medicationColumns, "medication_requests", "created_at", `status = 'active'`, ehr.DefaultSectionLimit, false),
	bounded("observations", observationColumns, "observations", "effective_at", "", ehr.DefaultObservationLimit, true),
}

// nextPlaceholder stands for the cursor of the rows after a page: ehr's
// cursor encoding is unexported, and its length is what a client reads.
const nextPlaceholder = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// The audit tables of Options.Audit and the two statements of ehr's audit
// append (getPatientHeadSQL and getPatientEventSQL in ehr/patient.go:
// conditional on the patient, $1 tenant, $2 patient, $3 the event bytes
// hashed into the chain, then the event's columns), on those tables.
const (
	auditHeads  = "baseline_audit_heads"
	auditEvents = "baseline_audit_events"

	prepareAuditSQL = `CREATE TABLE IF NOT EXISTS ` + auditHeads + ` (LIKE audit_heads INCLUDING ALL);
CREATE TABLE IF NOT EXISTS ` + auditEvents + ` (LIKE audit_events INCLUDING ALL)`

	auditHeadSQL = `INSERT INTO ` + auditHeads + ` AS ah (tenant_id, patient_id, seq, prev_hash, hash)
SELECT p.tenant_id, p.patient_id, 1, '\x', sha256(int8send(1::bigint) || $3::bytea)
FROM patients p WHERE p.patient_id = $2 AND p.tenant_id = $1
ON CONFLICT (patient_id) DO UPDATE
  SET seq = ah.seq + 1, prev_hash = ah.hash, hash = sha256(ah.hash || int8send(ah.seq + 1) || $3::bytea)
  WHERE ah.tenant_id = EXCLUDED.tenant_id`

	auditEventSQL = `INSERT INTO ` + auditEvents + ` (tenant_id, patient_id, seq, id, occurred_at, user_id, roles, action, kind,
  record_id, outcome, rule, break_glass, reason, request_id, ip, prev_hash, hash)
SELECT h.tenant_id, h.patient_id, h.seq, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, h.prev_hash, h.hash
FROM ` + auditHeads + ` h JOIN patients p ON p.patient_id = h.patient_id AND p.tenant_id = h.tenant_id
WHERE h.patient_id = $2 AND p.patient_id = $2 AND h.tenant_id = $1`
)

// PrepareAudit creates the audit tables of Options.Audit when they are
// missing: baseline_audit_heads and baseline_audit_events, made LIKE
// audit_heads and audit_events (columns, keys, indexes). They are
// ordinary, logged tables, so a commit waits for the same WAL flush as
// the real trail's; drop them when done.
func PrepareAudit(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, prepareAuditSQL)
	return err
}

// Options configure a baseline server.
type Options struct {
	// Tenant is the id of the tenant whose patients it serves (what
	// Historia takes from the caller's token). Required.
	Tenant string
	// Audit appends an audit event per chart read into the tables of
	// PrepareAudit, in the read's transaction (BEGIN ... COMMIT in the
	// batch, as ehr does).
	Audit bool
}

// Server is the baseline: an http.Handler serving GET /chart/{id}.
type Server struct {
	pool   *pgxpool.Pool
	tenant pgtype.UUID
	audit  bool
	mux    *http.ServeMux
}

// New returns the baseline server over pool.
func New(pool *pgxpool.Pool, opt Options) (*Server, error) {
	s := &Server{pool: pool, audit: opt.Audit, mux: http.NewServeMux()}
	if err := s.tenant.Scan(opt.Tenant); err != nil || !s.tenant.Valid {
		return nil, errors.New("baseline: the tenant is not a uuid")
	}
	s.mux.HandleFunc("GET /chart/{id}", s.chart)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// errNotFound is a chart whose patient is not the tenant's.
var errNotFound = errors.New("not found")

func (s *Server) chart(w http.ResponseWriter, r *http.Request) {
	var pid pgtype.UUID
	if err := pid.Scan(r.PathValue("id")); err != nil || !pid.Valid {
		http.Error(w, "bad patient id", http.StatusBadRequest)
		return
	}
	c, err := s.read(r.Context(), pid)
	switch {
	case errors.Is(err, errNotFound):
		http.Error(w, "not found", http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, "database error", http.StatusInternalServerError)
		return
	}
	// As web.JSON writes every API answer.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// Compact: indenting cost a second pass over every answer (a
	// person reading one pipes it to jq).
	_ = json.NewEncoder(w).Encode(c)
}

// read reads the chart of pid in one round trip: a pgx.Batch of the
// patient's row and the eight sections, bounded (a page and a count each) (with Audit, inside BEGIN ...
// COMMIT with the two audit statements after the row, as ehr sends it).
func (s *Server) read(ctx context.Context, pid pgtype.UUID) (api.ChartJSON, error) {
	c := api.ChartJSON{Notes: []api.NoteJSON{}, Conditions: []api.ConditionJSON{}, Allergies: []api.AllergyJSON{},
		Medications: []api.MedicationJSON{}, Observations: []api.ObservationJSON{}, Appointments: []api.AppointmentJSON{},
		Encounters: []api.EncounterJSON{}, Withheld: []string{}}
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 5+len(sections))}
	if s.audit {
		b.Queue("begin")
	}
	b.Queue(patientSQL, s.tenant, pid)
	if s.audit {
		s.queueAudit(b, pid)
	}
	now := time.Now()
	unbounded := pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	end := pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	since := pgtype.Timestamptz{Time: now.Add(-ehr.DefaultVitalsWindow), Valid: true}
	c.Sections = map[string]api.SectionJSON{}
	for _, q := range sections {
		from := unbounded
		if q.window {
			from = since
		}
		b.Queue(q.page, pid, s.tenant, from, end, pgtype.UUID{Valid: true}, q.limit+1)
		b.Queue(q.count, pid, s.tenant, from, end)
	}
	if s.audit {
		b.Queue("commit")
	}
	br := s.pool.SendBatch(ctx, b)
	err := func() error {
		if s.audit {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		p, err := scanPatient(br.QueryRow())
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		c.Patient = p
		if s.audit {
			if _, err := br.Exec(); err != nil {
				return err
			}
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return errors.New("audit event not written")
			}
		}
		for i, q := range sections {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			n, more := 0, false
			for rows.Next() {
				if n == q.limit {
					more = true
					break
				}
				if err := scanRow(&c, i, rows); err != nil {
					rows.Close()
					return err
				}
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			var total, active int
			if err := br.QueryRow().Scan(&total, &active); err != nil {
				return err
			}
			if q.name == "" {
				continue
			}
			sj := api.SectionJSON{Total: total, Active: active}
			if total > ehr.CountLimit {
				sj.Total, sj.TotalCapped = ehr.CountLimit, true
			}
			if more {
				sj.Next = nextPlaceholder
			}
			if q.window {
				t := since.Time.UTC()
				sj.Since = &t
			}
			c.Sections[q.name] = sj
		}
		if s.audit {
			_, err := br.Exec()
			return err
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return c, err
}

// queueAudit queues the audit append of a physician's chart read of pid:
// the same two statements and arguments as ehr's, with bytes to hash made
// of the event's fields, length-prefixed (ehr's canonical encoding is
// unexported; the server hashes a few hundred bytes either way).
func (s *Server) queueAudit(b *pgx.Batch, pid pgtype.UUID) {
	var id pgtype.UUID
	_, _ = rand.Read(id.Bytes[:])
	id.Bytes[6], id.Bytes[8] = id.Bytes[6]&0x0f|0x40, id.Bytes[8]&0x3f|0x80
	id.Valid = true
	now := time.Now().UTC()
	const user, roles, action, kind, outcome, rule = "00000000-0000-4000-8000-000000000000", "medico", "read", "chart", "allowed", "medico read chart: care team"
	var ev []byte
	for _, f := range []string{string(id.Bytes[:]), now.Format(time.RFC3339Nano), user, roles, action, kind, outcome, rule} {
		ev = strconv.AppendInt(ev, int64(len(f)), 10)
		ev = append(ev, ':')
		ev = append(ev, f...)
	}
	var tenant, chain any = s.tenant, pid
	b.Queue(auditHeadSQL, tenant, chain, ev)
	b.Queue(auditEventSQL, tenant, chain, id, now, user, roles, action, kind, "", outcome, rule, false, "", "", "")
}

func scanPatient(row pgx.Row) (api.PatientJSON, error) {
	var p api.PatientJSON
	var identifiers []byte
	var birth, created, updated time.Time
	var em1, em2, em3, status, tenant string
	err := row.Scan(&p.ID, &tenant, &p.DocumentType, &p.DocumentNumber, &identifiers, &p.GivenNames, &p.FamilyNames,
		&birth, &p.Sex, &p.Phone, &p.Email, &p.Address, &em1, &em2, &em3, &status, &p.Version, &created, &updated)
	p.BirthDate, p.UpdatedAt = birth.Format("2006-01-02"), updated.UTC()
	return p, err
}

// scanRow scans one row of section i into c.
func scanRow(c *api.ChartJSON, i int, rows pgx.Rows) error {
	var id, tenant, patient string
	var created, updated time.Time
	switch i {
	case 0:
		var e api.EncounterJSON
		var pr *string
		err := rows.Scan(&e.ID, &tenant, &e.PatientID, &e.Class, &e.Status, &pr, &e.Ward, &e.Bed, &e.Reason, &e.Disposition,
			&e.StartedAt, &e.EndedAt, &e.Version, &created, &updated)
		if pr != nil {
			e.PractitionerID = *pr
		}
		e.StartedAt, e.EndedAt = e.StartedAt.UTC(), utc(e.EndedAt)
		c.Encounters = append(c.Encounters, e)
		return err
	case 1:
		var a api.AppointmentJSON
		err := rows.Scan(&a.ID, &tenant, &a.PatientID, &a.PractitionerID, &a.Start, &a.End, &a.Status, &a.Reason, &a.Version,
			&created, &updated)
		a.Start, a.End = a.Start.UTC(), a.End.UTC()
		c.Appointments = append(c.Appointments, a)
		return err
	case 2:
		// The care team is read, as ehr reads it, and not part of the
		// API's chart.
		return nil
	case 3:
		var n api.NoteJSON
		var enc *string
		var signedBy string
		err := rows.Scan(&n.ID, &tenant, &n.PatientID, &enc, &n.AuthorID, &n.Title, &n.Body, &n.Status, &n.SignedAt, &signedBy,
			&n.Version, &n.CreatedAt, &updated)
		n.SignedAt, n.CreatedAt = utc(n.SignedAt), n.CreatedAt.UTC()
		c.Notes = append(c.Notes, n)
		return err
	case 4:
		var v api.ConditionJSON
		var enc *string
		var onset *time.Time
		var note, by string
		err := rows.Scan(&v.ID, &tenant, &v.PatientID, &enc, &v.Code, &v.Display, &v.Status, &onset, &note, &by,
			&v.Version, &created, &updated)
		if onset != nil && !onset.IsZero() {
			v.OnsetDate = onset.Format("2006-01-02")
		}
		c.Conditions = append(c.Conditions, v)
		return err
	case 5:
		var v api.AllergyJSON
		var by string
		err := rows.Scan(&v.ID, &tenant, &v.PatientID, &v.Substance, &v.Reaction, &v.Severity, &v.Status, &by,
			&v.Version, &created, &updated)
		c.Allergies = append(c.Allergies, v)
		return err
	case 6:
		var v api.MedicationJSON
		var enc *string
		var starts, ends *time.Time
		var note, by string
		err := rows.Scan(&v.ID, &tenant, &v.PatientID, &enc, &v.Medication, &v.Dose, &v.DoseUnit, &v.Route, &v.Frequency, &v.Status,
			&starts, &ends, &note, &by, &v.Version, &created, &updated)
		c.Medications = append(c.Medications, v)
		return err
	default:
		var v api.ObservationJSON
		var enc *string
		var by string
		err := rows.Scan(&id, &tenant, &patient, &enc, &v.Category, &v.Code, &v.Display, &v.Value, &v.ValueText, &v.Unit,
			&v.EffectiveAt, &v.Status, &by, &v.Version, &created, &updated)
		v.ID, v.PatientID, v.EffectiveAt = id, patient, v.EffectiveAt.UTC()
		c.Observations = append(c.Observations, v)
		return err
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
