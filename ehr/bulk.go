package ehr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/rbac"
)

// PatientImport is one patient of another system and their records, for
// ImportPatients.
type PatientImport struct {
	// Patient is registered as RegisterPatient takes it (ID, TenantID,
	// Status and Version are ignored).
	Patient Patient
	// Records are the patient's records as ImportRecord takes them
	// (Encounter, EncounterHistory, Appointment, CareTeamMember, Note,
	// Condition, Allergy, MedicationRequest, Observation). Their PatientID
	// is ignored: they are the new patient's. An Encounter's ID (or an
	// EncounterHistory's Encounter.ID), when set, is the key by which the
	// other records of this PatientImport name it in their EncounterID;
	// any other EncounterID is invalid. Stored encounters get ids of
	// their own.
	Records []any
}

// ImportResult is what became of one PatientImport: it was imported
// whole (Err nil, Existing empty), or nothing of it was written.
type ImportResult struct {
	// Patient and Records are as stored (Records in the order given).
	Patient Patient
	Records []any
	// Existing is the id of the tenant's patient who already has the
	// identity document (document type and number): nothing was written.
	// An import run again finds its patients so.
	Existing string
	// Err says why nothing was written: a *ValidationError (ErrInvalid)
	// of the patient or of a record (RecordErrs says which), ErrConflict
	// (another identifier in use, a second open admission, a practitioner
	// booked twice, an inactive practitioner), ErrNotFound (a
	// practitioner that is not the tenant's), ErrDenied.
	Err error
	// RecordErrs holds, at the index of each record refused, why.
	RecordErrs []error
}

// maxImportBatch is the most patients one ImportPatients call takes.
const maxImportBatch = 5000

// ImportPatients registers new patients with their records, as a
// transfer from another system: the bulk form of RegisterPatient followed
// by ImportRecord for each record (see ImportRecord for what is kept,
// validated and stamped; the same plan validates both). Each patient is
// imported whole or not at all, and the results say which: the returned
// error is for failures that stop the whole call (the database, a
// cancelled context, no actor), after which nothing of the call is kept.
//
// Patients whose identity document is already a patient's of the tenant
// are skipped (ImportResult.Existing): running the same import again
// creates nothing.
//
// # The fast path
//
// Everything that can be checked before writing is checked first: the
// validation of the patient and of every record, the policy's decisions
// (the actor's rights on a patient who does not exist yet need no facts),
// and in one round trip the identifiers already in use, the practitioners
// named (known, active), the people fields naming colleagues, and the
// appointment slots already taken. Then the patients left are written in
// one transaction with COPY: their rows, identifiers and appointment
// slots; every row's version-1 snapshot in record_versions, each made by
// the database from the row itself (to_jsonb, as every write snapshots);
// and for each patient a new audit chain, computed here: the
// registration, then one event (action import) per record, each hash over
// the one before, exactly as the append statement computes them, so that
// VerifyChain checks them as any other. A patient the policy refuses, and
// every patient of a batch whose transaction fails (an identifier
// registered meanwhile by someone else, say), is imported again alone
// through RegisterPatient and ImportRecord in one InTx: refusals are then
// audited as refusals, and a conflict is that patient's alone.
//
// At most 5,000 patients a call; a few hundred are a good batch. On Citus
// COPY routes each row to its patient's shard, and the transaction
// commits on all of them or none.
func (r *Repository) ImportPatients(ctx context.Context, in []PatientImport) ([]ImportResult, error) {
	const op = "import patients"
	if len(in) > maxImportBatch {
		return nil, invalid("Patients", CodeTooMany, fmt.Sprintf("at most %d patients a call", maxImportBatch))
	}
	actor, err := actorFrom(ctx, op)
	if err != nil {
		return nil, err
	}
	tenant, err := uuid.Parse(actor.Principal.TenantID)
	if err != nil {
		return nil, &deniedNoTenant{op: op}
	}
	now := r.clock()
	b := &bulkImport{r: r, actor: actor, tenant: tenant, tenantID: canonicalID(actor.Principal.TenantID, tenant), now: now,
		res: make([]ImportResult, len(in))}
	for i := range in {
		b.prepare(i, in[i])
	}
	fast := b.fast()
	if len(fast) > 0 {
		err := b.write(ctx, fast)
		if err != nil && ctx.Err() != nil {
			return nil, err
		}
		if err != nil {
			// Each patient again alone: the failure is one patient's.
			for _, p := range fast {
				p.slow = true
			}
		}
	}
	for _, p := range b.preps {
		if p.slow {
			if err := b.importAlone(ctx, p.i, in[p.i]); err != nil {
				return nil, err
			}
		}
	}
	return b.res, nil
}

// bulkImport is one ImportPatients call.
type bulkImport struct {
	r        *Repository
	actor    Actor
	tenant   uuid.UUID
	tenantID string
	now      time.Time
	res      []ImportResult
	preps    []*bulkPatient
	// pracUser: the user of each practitioner the records name (check).
	pracUser map[uuid.UUID]string
}

// bulkPatient is a patient of the call that passed validation.
type bulkPatient struct {
	i     int // index in the call
	id    uuid.UUID
	p     Patient
	plans []importPlan
	ids   []uuid.UUID // the id of each record
	// decisions: the registration's, then each plan's.
	decisions []rbac.Decision
	// slow: import alone (ImportPatients, "The fast path").
	slow bool
	// out: the records as stored.
	out []any
}

// prepare validates patient i of the call and plans its records; a
// patient that fails gets its ImportResult.Err and no bulkPatient.
func (b *bulkImport) prepare(i int, pi PatientImport) {
	res := &b.res[i]
	p := pi.Patient
	p.normalize()
	if err := p.validate(b.now).err(); err != nil {
		res.Err = err
		return
	}
	bp := &bulkPatient{i: i, id: newID(), p: p}
	recs, ids, errs := bindRecords(pi.Records, bp.id)
	bp.ids = ids
	for j := range recs {
		if errs[j] != nil {
			continue
		}
		plan, err := planImport(recs[j], b.now)
		errs[j] = err
		bp.plans = append(bp.plans, plan)
	}
	for j, err := range errs {
		if err != nil {
			res.RecordErrs = errs
			res.Err = fmt.Errorf("ehr: %s: record %d: %w", "import patients", j, err)
			if _, ok := errors.AsType[*ValidationError](err); ok {
				res.Err = err
			}
			return
		}
	}
	if err := checkPatientRecords(recs); err != nil {
		res.Err = err
		return
	}
	a := b.access(bp.id, rbac.ActionCreate, rbac.KindDemographics, "")
	bp.decisions = append(bp.decisions, b.r.authz.Decide(b.actor.Principal, a.action, a.kind, a.target(false, nil)))
	for _, pl := range bp.plans {
		bp.decisions = append(bp.decisions, b.r.authz.Decide(b.actor.Principal, pl.action, pl.kind, a.target(false, nil)))
	}
	for _, d := range bp.decisions {
		if !d.Allowed {
			// Refused, or allowed only with facts a new patient has not
			// (its care team is among its records): alone, where the
			// refusal is decided and audited as for any call.
			bp.slow = true
		}
	}
	b.preps = append(b.preps, bp)
}

// bindRecords returns recs with their PatientID set to pid and their
// EncounterID mapped from the keys of the encounters among recs to the
// ids those get; ids holds each record's new id; errs, the records whose
// EncounterID or key is wrong.
func bindRecords(recs []any, pid uuid.UUID) (out []any, ids []uuid.UUID, errs []error) {
	out, ids, errs = slices.Clone(recs), make([]uuid.UUID, len(recs)), make([]error, len(recs))
	keys := map[string]uuid.UUID{}
	for j, rec := range recs {
		ids[j] = newID()
		var key string
		switch x := rec.(type) {
		case Encounter:
			key = x.ID
		case EncounterHistory:
			key = x.Encounter.ID
		}
		if key == "" {
			continue
		}
		if _, dup := keys[key]; dup {
			errs[j] = invalid("ID", CodeDuplicate, "another encounter of this patient has the same key")
			continue
		}
		keys[key] = ids[j]
	}
	p := pid.String()
	enc := func(j int, s *string) {
		if *s == "" {
			return
		}
		id, ok := keys[*s]
		if !ok {
			errs[j] = invalid("EncounterID", CodeInvalid, "must name an encounter of the same patient's import by its key")
			return
		}
		*s = id.String()
	}
	for j, rec := range out {
		switch x := rec.(type) {
		case Encounter:
			x.PatientID = p
			out[j] = x
		case EncounterHistory:
			x.Encounter.PatientID = p
			out[j] = x
		case Appointment:
			x.PatientID = p
			out[j] = x
		case CareTeamMember:
			x.PatientID = p
			out[j] = x
		case Note:
			x.PatientID = p
			enc(j, &x.EncounterID)
			out[j] = x
		case Condition:
			x.PatientID = p
			enc(j, &x.EncounterID)
			out[j] = x
		case Allergy:
			x.PatientID = p
			out[j] = x
		case MedicationRequest:
			x.PatientID = p
			enc(j, &x.EncounterID)
			out[j] = x
		case Observation:
			x.PatientID = p
			enc(j, &x.EncounterID)
			out[j] = x
		}
	}
	return out, ids, errs
}

// checkPatientRecords checks what the schema or the workflow would refuse
// among one patient's records, which the fast path must find before its
// COPY: a second open admission, an active care-team membership of the
// same practitioner twice.
func checkPatientRecords(recs []any) error {
	open := 0
	members := map[string]bool{}
	for _, rec := range recs {
		var e Encounter
		switch x := rec.(type) {
		case Encounter:
			e = x
		case EncounterHistory:
			e = x.Encounter
		case CareTeamMember:
			if strings.TrimSpace(x.Status) == CareTeamActive {
				if members[x.PractitionerID] {
					return fmt.Errorf("ehr: import patients: %w: practitioner %s twice on the care team", ErrConflict, x.PractitionerID)
				}
				members[x.PractitionerID] = true
			}
			continue
		default:
			continue
		}
		if strings.TrimSpace(e.Class) == ClassInpatient && strings.TrimSpace(e.Status) == EncounterInProgress {
			if open++; open > 1 {
				return fmt.Errorf("ehr: import patients: %w: a patient has at most one open admission", ErrConflict)
			}
		}
	}
	return nil
}

// access is an access of the call's actor to patient pid.
func (b *bulkImport) access(pid uuid.UUID, action rbac.Action, kind rbac.Kind, record string) *access {
	a := &access{actor: b.actor, action: action, kind: kind, tenant: b.tenant, tenantID: b.tenantID, record: record}
	a.setPatient(pid)
	return a
}

// fast returns the patients for the fast path.
func (b *bulkImport) fast() []*bulkPatient {
	var f []*bulkPatient
	for _, p := range b.preps {
		if !p.slow {
			f = append(f, p)
		}
	}
	return f
}

// write imports ps on the fast path (ImportPatients) in one transaction;
// patients the checks against the database refuse get their Err and are
// left out.
func (b *bulkImport) write(ctx context.Context, ps []*bulkPatient) error {
	const op = "import patients"
	tx, err := b.r.db.Begin(ctx)
	if err != nil {
		return dbError(op, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	ps, err = b.check(ctx, tx, ps)
	if err != nil || len(ps) == 0 {
		return err
	}
	rows := map[string][][]any{}
	var stays []func() error
	var heads, events [][]any
	var words []string // the name words, for the tenant's dictionary
	pids := make([]uuid.UUID, 0, len(ps))
	for _, bp := range ps {
		pids = append(pids, bp.id)
		res := &b.res[bp.i]
		p := &bp.p
		p.ID, p.TenantID, p.Status, p.Version, p.CreatedAt, p.UpdatedAt = bp.id.String(), b.tenantID, "active", 1, b.now, b.now
		rows[tPatients.name] = append(rows[tPatients.name], patientValues(p, bp.id, b.tenant, b.now, b.actor.Principal.UserID))
		for _, ident := range p.identifiers() {
			rows["patient_identifiers"] = append(rows["patient_identifiers"], []any{b.tenant, ident.System, ident.Value, bp.id})
		}
		for _, w := range nameWordsRows(b.tenant, bp.id, p.GivenNames, p.FamilyNames) {
			rows["patient_name_words"] = append(rows["patient_name_words"], w)
			words = append(words, w[1].(string))
		}
		chain := newChain(b, bp.id)
		chain.add(b.access(bp.id, rbac.ActionCreate, rbac.KindDemographics, bp.id.String()), bp.decisions[0])
		bp.out = make([]any, len(bp.plans))
		for j, pl := range bp.plans {
			s := stamp{id: bp.ids[j], tenant: b.tenant, tenantID: b.tenantID, now: b.now, by: b.actor.Principal.UserID}
			if pl.practitioner != nil {
				s.prUser = b.pracUser[*pl.practitioner]
			}
			rec, vals := pl.row(s)
			rows[pl.t.name] = append(rows[pl.t.name], vals)
			if pl.slots {
				for t := pl.start; t.Before(pl.end); t = t.Add(SlotDuration) {
					rows["appointment_slots"] = append(rows["appointment_slots"], []any{b.tenant, *pl.practitioner, t, bp.id, s.id})
				}
			}
			if e, ok := rec.(Encounter); ok && len(pl.stays) > 1 {
				j, pl, s := j, pl, s
				stays = append(stays, func() error {
					e, err := applyStays(ctx, tx, pl.op, s, e, pl.stays)
					bp.out[j] = e
					return err
				})
			}
			bp.out[j] = rec
			a := b.access(bp.id, pl.action, pl.kind, s.id.String())
			a.actionName = AuditActionImport
			chain.add(a, bp.decisions[j+1])
		}
		heads = append(heads, chain.head())
		events = append(events, chain.events...)
		res.Patient = *p
	}
	for _, t := range bulkTables {
		if len(rows[t.name]) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, pgx.CopyFromRows(rows[t.name])); err != nil {
			return dbError(op+": copy "+t.name, err)
		}
	}
	if len(words) > 0 {
		slices.Sort(words)
		dict := &pgx.Batch{}
		queueDictionary(dict, b.tenant, slices.Compact(words))
		if err := tx.SendBatch(ctx, dict).Close(); err != nil {
			return dbError(op+": name dictionary", err)
		}
	}
	batch := &pgx.Batch{}
	for _, t := range []table{tPatients, tEncounters, tAppointments, tCareTeam, tNotes, tConditions, tAllergies, tMedications, tObservations} {
		if len(rows[t.name]) > 0 {
			batch.Queue(bulkSnapshotSQL(t), b.tenant, pids)
		}
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return dbError(op+": snapshots", err)
	}
	for _, f := range stays {
		if err := f(); err != nil {
			return err
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_heads"}, []string{"tenant_id", "patient_id", "seq", "prev_hash", "hash"},
		pgx.CopyFromRows(heads)); err != nil {
		return dbError(op+": audit heads", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, auditEventColumns, pgx.CopyFromRows(events)); err != nil {
		return dbError(op+": audit events", err)
	}
	if err := tx.Commit(ctx); err != nil {
		for _, bp := range ps {
			b.res[bp.i].Patient = Patient{}
		}
		return dbError(op+": commit", err)
	}
	for _, bp := range ps {
		b.res[bp.i].Records = bp.out
	}
	return nil
}

// bulkTables are the tables the fast path copies into, in the order
// their references need, with their columns.
var bulkTables = func() []struct {
	name string
	cols []string
} {
	ts := []struct {
		name string
		cols []string
	}{{tPatients.name, patientInsertColumns}, {"patient_identifiers", []string{"tenant_id", "system", "value", "patient_id"}},
		{"patient_name_words", nameWordsColumns}}
	for _, t := range []table{tEncounters, tAppointments, tCareTeam, tNotes, tConditions, tAllergies, tMedications, tObservations} {
		ts = append(ts, struct {
			name string
			cols []string
		}{t.name, importColumns[t.name]})
	}
	return append(ts, struct {
		name string
		cols []string
	}{"appointment_slots", []string{"tenant_id", "practitioner_id", "slot_start", "patient_id", "appointment_id"}})
}()

// bulkSnapshotSQL stores the version-1 snapshot of every row of t of the
// patients $2 (uuid[]) of tenant $1, as write does for one row: on Citus
// an INSERT ... SELECT between colocated tables, run on each shard.
func bulkSnapshotSQL(t table) string {
	return `INSERT INTO record_versions (tenant_id, patient_id, kind, record_id, version, data, changed_at, changed_by, reason)
SELECT r.tenant_id, r.patient_id, '` + t.kind.String() + `', r.` + t.idCol + `, r.version, to_jsonb(r), r.updated_at, r.updated_by, r.change_reason
FROM ` + t.name + ` r WHERE r.tenant_id = $1 AND r.patient_id = ANY($2) AND r.version = 1`
}

// auditEventColumns are the columns of audit_events, in the order of
// the rows chain builds.
var auditEventColumns = []string{"tenant_id", "patient_id", "seq", "id", "occurred_at", "user_id", "roles", "action", "kind",
	"record_id", "outcome", "rule", "break_glass", "reason", "request_id", "ip", "prev_hash", "hash"}

// chain is a new patient's audit chain, built in memory.
type chain struct {
	b  *bulkImport
	id uuid.UUID
	// prev is the last event's hash, headPrev the hash before it.
	prev, headPrev []byte
	seq            int64
	events         [][]any
}

func newChain(b *bulkImport, id uuid.UUID) *chain {
	return &chain{b: b, id: id, prev: []byte{}, headPrev: []byte{}}
}

// add appends the event of access a, decided d.
func (c *chain) add(a *access, d rbac.Decision) {
	a.decision = d
	var e AuditEvent
	eid := newID()
	a.fillEvent(&e, eid, c.b.now)
	roles := strings.Join(e.Roles, ",")
	c.seq++
	hash := chainHash(c.prev, c.seq, appendCanonical(nil, &e, roles))
	c.events = append(c.events, []any{c.b.tenant, c.id, c.seq, eid, e.OccurredAt, e.UserID, roles, e.Action, e.Kind,
		e.RecordID, e.Outcome, e.Rule, e.BreakGlass, e.Reason, e.RequestID, e.IP, c.prev, hash})
	c.headPrev, c.prev = c.prev, hash
}

// head is the chain's row in audit_heads.
func (c *chain) head() []any { return []any{c.b.tenant, c.id, c.seq, c.headPrev, c.prev} }

// check makes the fast path's checks against the database through tx
// (one round trip): identifiers in use, practitioners, colleagues, slots.
// It returns the patients that pass.
func (b *bulkImport) check(ctx context.Context, tx pgx.Tx, ps []*bulkPatient) ([]*bulkPatient, error) {
	const op = "import patients: check"
	var values []string
	pracs := map[uuid.UUID]bool{}
	people := map[uuid.UUID]bool{}
	var slotPracs []uuid.UUID
	var slotStarts []time.Time
	for _, bp := range ps {
		for _, id := range bp.p.identifiers() {
			values = append(values, id.Value)
		}
		for _, pl := range bp.plans {
			if pl.practitioner != nil {
				pracs[*pl.practitioner] = true
				if pl.slots {
					for t := pl.start; t.Before(pl.end); t = t.Add(SlotDuration) {
						slotPracs, slotStarts = append(slotPracs, *pl.practitioner), append(slotStarts, t)
					}
				}
			}
			for k := 1; k < len(pl.people); k += 2 {
				if u, err := uuid.Parse(pl.people[k]); err == nil && pl.people[k] != b.actor.Principal.UserID {
					people[u] = true
				}
			}
		}
	}
	batch := &pgx.Batch{}
	idents := map[[2]string]uuid.UUID{}
	batch.Queue(`SELECT system, value, patient_id FROM patient_identifiers WHERE tenant_id = $1 AND value = ANY($2)`,
		b.tenant, values).Query(func(rows pgx.Rows) error {
		var sys, val string
		var pid uuid.UUID
		_, err := pgx.ForEachRow(rows, []any{&sys, &val, &pid}, func() error {
			idents[[2]string{sys, val}] = pid
			return nil
		})
		return err
	})
	b.pracUser = map[uuid.UUID]string{}
	active := map[uuid.UUID]bool{}
	batch.Queue(`SELECT id, user_id::text, active FROM practitioners WHERE tenant_id = $1 AND id = ANY($2)`,
		b.tenant, keys(pracs)).Query(func(rows pgx.Rows) error {
		var id uuid.UUID
		var user string
		var act bool
		_, err := pgx.ForEachRow(rows, []any{&id, &user, &act}, func() error {
			b.pracUser[id], active[id] = user, act
			return nil
		})
		return err
	})
	colleagues := map[string]bool{}
	batch.Queue(`SELECT user_id::text FROM practitioners WHERE tenant_id = $1 AND user_id = ANY($2)`,
		b.tenant, keys(people)).Query(func(rows pgx.Rows) error {
		var user string
		_, err := pgx.ForEachRow(rows, []any{&user}, func() error {
			colleagues[user] = true
			return nil
		})
		return err
	})
	taken := map[slotKey]bool{}
	batch.Queue(`SELECT practitioner_id, slot_start FROM appointment_slots WHERE tenant_id = $1 AND practitioner_id = ANY($2)
  AND slot_start = ANY($3)`, b.tenant, slotPracs, slotStarts).Query(func(rows pgx.Rows) error {
		var k slotKey
		_, err := pgx.ForEachRow(rows, []any{&k.pr, &k.at}, func() error {
			taken[slotKey{k.pr, k.at.UTC()}] = true
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, dbError(op, err)
	}
	var ok []*bulkPatient
	mine := map[[2]string]bool{}
	for _, bp := range ps {
		if err := b.checkOne(bp, idents, mine, active, colleagues, taken); err != nil {
			if !errors.Is(err, errExisting) {
				b.res[bp.i].Err = err
			}
			continue
		}
		ok = append(ok, bp)
	}
	return ok, nil
}

// errExisting marks a patient whose document is a patient's already.
var errExisting = errors.New("ehr: patient already present")

type slotKey struct {
	pr uuid.UUID
	at time.Time
}

// checkOne checks patient bp against what the database holds and what
// the patients before it in the call claim (mine: identifiers; taken:
// slots, which it adds to).
func (b *bulkImport) checkOne(bp *bulkPatient, idents map[[2]string]uuid.UUID, mine map[[2]string]bool,
	active map[uuid.UUID]bool, colleagues map[string]bool, taken map[slotKey]bool) error {
	res := &b.res[bp.i]
	doc := [2]string{bp.p.DocumentType, bp.p.DocumentNumber}
	if id, ok := idents[doc]; ok {
		res.Existing = id.String()
		return errExisting
	}
	for _, id := range bp.p.identifiers() {
		k := [2]string{id.System, id.Value}
		if _, ok := idents[k]; ok || mine[k] {
			return fmt.Errorf("ehr: import patients: %w: identifier %s already in use", ErrConflict, id.System)
		}
	}
	errs := make([]error, len(bp.plans))
	var claims []slotKey
	for j, pl := range bp.plans {
		if pl.practitioner != nil {
			act, known := active[*pl.practitioner]
			switch {
			case !known:
				errs[j] = fmt.Errorf("ehr: %s: practitioner %s: %w", pl.op, *pl.practitioner, ErrNotFound)
			case pl.active && !act:
				errs[j] = fmt.Errorf("ehr: %s: %w: practitioner %s is inactive", pl.op, ErrConflict, *pl.practitioner)
			}
			for t := pl.start; pl.slots && t.Before(pl.end); t = t.Add(SlotDuration) {
				k := slotKey{*pl.practitioner, t}
				if taken[k] || slices.Contains(claims, k) {
					errs[j] = fmt.Errorf("ehr: %s: %w: practitioner %s is already booked in that time", pl.op, ErrConflict, *pl.practitioner)
				}
				claims = append(claims, k)
			}
		}
		var v validator
		for k := 0; k+1 < len(pl.people); k += 2 {
			if pl.people[k+1] != b.actor.Principal.UserID && colleagues[pl.people[k+1]] {
				v.add(pl.people[k], CodeNotAllowed, "names another user of this tenant: an import keeps the source's people, not colleagues'")
			}
		}
		if errs[j] == nil {
			errs[j] = v.err()
		}
	}
	for j, err := range errs {
		if err != nil {
			res.RecordErrs = errs
			if _, ok := errors.AsType[*ValidationError](err); !ok {
				err = fmt.Errorf("ehr: import patients: record %d: %w", j, err)
			}
			res.Err = err
			return err
		}
	}
	for _, id := range bp.p.identifiers() {
		mine[[2]string{id.System, id.Value}] = true
	}
	for _, k := range claims {
		taken[k] = true
	}
	return nil
}

func keys(m map[uuid.UUID]bool) []uuid.UUID {
	ks := make([]uuid.UUID, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// importAlone imports patient i of the call by itself (importOnce), again
// when it lost a deadlock or a serialization conflict to another
// transaction (at most three tries): that is no fault of the patient's.
func (b *bulkImport) importAlone(ctx context.Context, i int, pi PatientImport) error {
	for try := 1; ; try++ {
		err := b.importOnce(ctx, i, pi)
		if err != nil || try == 3 || !errors.Is(b.res[i].Err, errConcurrent) {
			return err
		}
	}
}

// importOnce imports patient i of the call by itself: RegisterPatient
// and ImportRecord for each record, encounters first, in one InTx.
func (b *bulkImport) importOnce(ctx context.Context, i int, pi PatientImport) error {
	res := &b.res[i]
	*res = ImportResult{}
	p := pi.Patient
	p.ID, p.TenantID, p.Status, p.Version = "", "", "", 0
	p.normalize()
	if ids, err := patientsByIdentifier(ctx, b.r.db, b.tenant, p.DocumentType, p.DocumentNumber); err != nil {
		return dbError("import patients: find document", err)
	} else if len(ids) > 0 {
		res.Existing = ids[0].String()
		return nil
	}
	order := make([]int, len(pi.Records))
	for j := range order {
		order[j] = j
	}
	isEncounter := func(j int) bool {
		switch pi.Records[j].(type) {
		case Encounter, EncounterHistory:
			return true
		}
		return false
	}
	slices.SortStableFunc(order, func(x, y int) int {
		switch ex, ey := isEncounter(x), isEncounter(y); {
		case ex && !ey:
			return -1
		case ey && !ex:
			return 1
		}
		return 0
	})
	errs := make([]error, len(pi.Records))
	out := make([]any, len(pi.Records))
	var stored Patient
	err := b.r.InTx(ctx, func(tx *Repository) error {
		np, err := tx.RegisterPatient(ctx, p)
		if err != nil {
			return err
		}
		stored = np
		pid, _ := uuid.Parse(np.ID)
		recs, ids, bindErrs := bindRecords(pi.Records, pid)
		encIDs := map[string]string{}
		for _, j := range order {
			if bindErrs[j] != nil {
				errs[j] = bindErrs[j]
				return errs[j]
			}
			rec := recs[j]
			switch x := rec.(type) {
			case Note:
				x.EncounterID = encIDs[x.EncounterID]
				rec = x
			case Condition:
				x.EncounterID = encIDs[x.EncounterID]
				rec = x
			case MedicationRequest:
				x.EncounterID = encIDs[x.EncounterID]
				rec = x
			case Observation:
				x.EncounterID = encIDs[x.EncounterID]
				rec = x
			}
			v, err := tx.ImportRecord(ctx, rec)
			if err != nil {
				errs[j] = err
				return err
			}
			if e, ok := v.(Encounter); ok {
				// bindRecords named it by the id it gave it.
				encIDs[ids[j].String()] = e.ID
			}
			out[j] = v
		}
		return nil
	})
	if err == nil {
		res.Patient, res.Records = stored, out
		return nil
	}
	if !isDataError(err) {
		return err
	}
	res.Err = err
	for _, e := range errs {
		if e != nil {
			res.RecordErrs = errs
			break
		}
	}
	return nil
}

// isDataError reports whether err is one patient's (refused, invalid,
// conflicting, not found) rather than one that stops the call.
func isDataError(err error) bool {
	return errors.Is(err, ErrInvalid) || errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrDenied)
}

// patientInsertColumns are the columns RegisterPatient and ImportPatients
// write to patients, in the order of patientValues.
var patientInsertColumns = []string{"patient_id", "tenant_id", "document_type", "document_number", "identifiers",
	"given_names", "family_names", "search_name", "sort_key", "birth_date", "sex", "phone", "email", "address",
	"emergency_name", "emergency_phone", "emergency_relationship", "status", "change_reason", "version", "created_at",
	"updated_at", "updated_by"}

// insertPatientSQL inserts a new patient's row: patientValues.
var insertPatientSQL = func() string {
	ph := make([]string, len(patientInsertColumns))
	for i := range ph {
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	return "INSERT INTO patients (" + strings.Join(patientInsertColumns, ", ") + ") VALUES (" + strings.Join(ph, ", ") + ")"
}()

// patientValues are the values of a new patient's row (version 1,
// active, created at now by the user by).
func patientValues(p *Patient, id, tenant uuid.UUID, now time.Time, by string) []any {
	return []any{id, tenant, p.DocumentType, p.DocumentNumber, p.Identifiers, p.GivenNames, p.FamilyNames,
		searchName(p.GivenNames, p.FamilyNames), sortKey(p.GivenNames, p.FamilyNames), p.BirthDate, p.Sex,
		p.Contact.Phone, p.Contact.Email, p.Contact.Address, p.Emergency.Name, p.Emergency.Phone,
		p.Emergency.Relationship, "active", "", 1, now, now, by}
}
