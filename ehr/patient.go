package ehr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/text/unicode/norm"

	"github.com/historiaehr/historia/rbac"
)

// Sex values of Patient.Sex (administrative sex).
const (
	SexFemale  = "female"
	SexMale    = "male"
	SexOther   = "other"
	SexUnknown = "unknown"
)

// Identifier is an identifier of a patient other than the main document:
// a medical record number, an insurance number. (System, Value) is unique
// within a tenant.
type Identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// Contact is how to reach a patient.
type Contact struct {
	Phone   string
	Email   string
	Address string
}

// EmergencyContact is whom to call about a patient.
type EmergencyContact struct {
	Name         string
	Phone        string
	Relationship string
}

// Patient is a patient's demographics: identity (document, other
// identifiers, names, birth date, sex) and contact data. ID is the
// patient id every other record of the patient carries.
type Patient struct {
	ID       string
	TenantID string
	// DocumentType ("CC", "TI", "DNI", "PASSPORT", ...) and DocumentNumber
	// identify the patient; the pair is unique within the tenant.
	DocumentType   string
	DocumentNumber string
	Identifiers    []Identifier
	GivenNames     string
	FamilyNames    string
	// BirthDate is a calendar date (its time of day is ignored).
	BirthDate time.Time
	Sex       string
	Contact   Contact
	Emergency EmergencyContact
	// Status is "active" or StatusEnteredInError.
	Status    string
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

var (
	docTypeRE   = regexp.MustCompile(`^[A-Z][A-Z0-9]{0,19}$`)
	docNumberRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{2,31}$`)
	emailRE     = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// normalize trims the patient's text fields, upper-cases document types
// and numbers, and reduces the birth date to a date.
func (p *Patient) normalize() {
	p.DocumentType = strings.ToUpper(trim(p.DocumentType))
	p.DocumentNumber = strings.ToUpper(strings.ReplaceAll(trim(p.DocumentNumber), " ", ""))
	p.GivenNames, p.FamilyNames = trim(p.GivenNames), trim(p.FamilyNames)
	p.Sex = strings.ToLower(trim(p.Sex))
	for i := range p.Identifiers {
		p.Identifiers[i].System = strings.ToUpper(trim(p.Identifiers[i].System))
		p.Identifiers[i].Value = strings.ToUpper(trim(p.Identifiers[i].Value))
	}
	if p.Identifiers == nil {
		p.Identifiers = []Identifier{}
	}
	if !p.BirthDate.IsZero() {
		y, m, d := p.BirthDate.Date()
		p.BirthDate = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	p.Contact.Phone, p.Contact.Email, p.Contact.Address = trim(p.Contact.Phone), trim(p.Contact.Email), trim(p.Contact.Address)
	p.Emergency.Name, p.Emergency.Phone, p.Emergency.Relationship = trim(p.Emergency.Name), trim(p.Emergency.Phone), trim(p.Emergency.Relationship)
}

// validate checks the demographics (after normalize) at time now.
func (p *Patient) validate(now time.Time) *validator {
	var v validator
	v.check(docTypeRE.MatchString(p.DocumentType), "DocumentType", CodeInvalid, "must be 1-20 letters or digits, starting with a letter")
	v.check(docNumberRE.MatchString(p.DocumentNumber), "DocumentNumber", CodeInvalid, "must be 3-32 letters, digits or hyphens")
	seen := map[Identifier]bool{{p.DocumentType, p.DocumentNumber}: true}
	for i, id := range p.Identifiers {
		f := fmt.Sprintf("Identifiers[%d]", i)
		v.check(docTypeRE.MatchString(id.System), f+".System", CodeInvalid, "must be 1-20 letters or digits, starting with a letter")
		v.check(docNumberRE.MatchString(id.Value), f+".Value", CodeInvalid, "must be 3-32 letters, digits or hyphens")
		v.check(!seen[id], f, CodeDuplicate, "is repeated")
		seen[id] = true
	}
	v.check(len(p.Identifiers) <= 10, "Identifiers", CodeTooMany, "at most 10")
	v.text("GivenNames", p.GivenNames, 200)
	v.text("FamilyNames", p.FamilyNames, 200)
	today := now.UTC().Truncate(24 * time.Hour)
	switch {
	case p.BirthDate.IsZero():
		v.add("BirthDate", CodeRequired, "is required")
	case p.BirthDate.After(today):
		v.add("BirthDate", CodeInFuture, "is in the future")
	case p.BirthDate.Year() < 1880:
		v.add("BirthDate", CodeOutOfRange, "is before 1880")
	}
	switch p.Sex {
	case SexFemale, SexMale, SexOther, SexUnknown:
	default:
		v.add("Sex", CodeNotAllowed, "must be female, male, other or unknown")
	}
	p.validateContact(&v)
	return &v
}

func (p *Patient) validateContact(v *validator) {
	v.check(len(p.Contact.Phone) <= 40, "Contact.Phone", CodeTooLong, "is too long")
	v.check(p.Contact.Email == "" || (emailRE.MatchString(p.Contact.Email) && len(p.Contact.Email) <= 254), "Contact.Email", CodeInvalid, "is not an email address")
	v.check(len(p.Contact.Address) <= 500, "Contact.Address", CodeTooLong, "is too long")
	v.check(len(p.Emergency.Name) <= 200, "Emergency.Name", CodeTooLong, "is too long")
	v.check(len(p.Emergency.Phone) <= 40, "Emergency.Phone", CodeTooLong, "is too long")
	v.check(len(p.Emergency.Relationship) <= 100, "Emergency.Relationship", CodeTooLong, "is too long")
}

// identifiers returns every identifier of p, the document first.
func (p *Patient) identifiers() []Identifier {
	return append([]Identifier{{p.DocumentType, p.DocumentNumber}}, p.Identifiers...)
}

const patientColumns = `patient_id, tenant_id, document_type, document_number, identifiers, given_names, family_names,
  birth_date, sex, phone, email, address, emergency_name, emergency_phone, emergency_relationship, status, version,
  created_at, updated_at`

// scanPatient scans the patientColumns of row, then into extra the
// columns that follow them, if any.
func scanPatient(row pgx.Row, extra ...any) (Patient, error) {
	var p Patient
	// pgtype.UUID scans the binary form directly; uuid.UUID would go
	// through its sql.Scanner, from text.
	var id, tenant pgtype.UUID
	dest := append(make([]any, 0, 22), &id, &tenant, &p.DocumentType, &p.DocumentNumber, &p.Identifiers, &p.GivenNames,
		&p.FamilyNames, &p.BirthDate, &p.Sex, &p.Contact.Phone, &p.Contact.Email, &p.Contact.Address, &p.Emergency.Name,
		&p.Emergency.Phone, &p.Emergency.Relationship, &p.Status, &p.Version, &p.CreatedAt, &p.UpdatedAt)
	err := row.Scan(append(dest, extra...)...)
	p.ID, p.TenantID = uuid.UUID(id.Bytes).String(), uuid.UUID(tenant.Bytes).String()
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// patientsByIdentifier returns the patients of tenant that have an
// identifier (the document, whose system is its document type, or
// another) with value, and of system unless system is empty. Both
// statements filter on value, the distribution column of
// patient_identifiers: one shard on Citus.
func patientsByIdentifier(ctx context.Context, q DB, tenant uuid.UUID, system, value string) ([]uuid.UUID, error) {
	var rows pgx.Rows
	var err error
	if system == "" {
		rows, err = q.Query(ctx, `SELECT patient_id FROM patient_identifiers WHERE value = $1 AND tenant_id = $2`, value, tenant)
	} else {
		rows, err = q.Query(ctx, `SELECT patient_id FROM patient_identifiers WHERE value = $1 AND tenant_id = $2 AND system = $3`,
			value, tenant, system)
	}
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if ids == nil {
		ids = []uuid.UUID{}
	}
	return ids, err
}

const insertIdentifierSQL = `INSERT INTO patient_identifiers (tenant_id, system, value, patient_id) VALUES ($1, $2, $3, $4)`
const deleteIdentifierSQL = `DELETE FROM patient_identifiers WHERE tenant_id = $1 AND system = $2 AND value = $3 AND patient_id = $4`

// RegisterPatient registers a new patient in the actor's tenant and returns
// it with its id and version 1.
//
// It returns a *ValidationError (ErrInvalid) naming the bad fields,
// ErrConflict when the document or another identifier is already used in
// the tenant, ErrDenied unless the actor may create demographics.
func (r *Repository) RegisterPatient(ctx context.Context, p Patient) (Patient, error) {
	const op = "register patient"
	now := r.clock()
	p.normalize()
	if err := p.validate(now).err(); err != nil {
		return Patient{}, err
	}
	id := newID()
	a, err := newAccess(ctx, op, rbac.ActionCreate, rbac.KindDemographics, id)
	if err != nil {
		return Patient{}, err
	}
	a.record, a.newPatient = id.String(), true
	p.ID, p.TenantID, p.Status, p.Version, p.CreatedAt, p.UpdatedAt = id.String(), a.tenantID, "active", 1, now, now
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		// The patient does not exist yet: the decision needs no facts.
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		for _, ident := range p.identifiers() {
			if _, err := tx.Exec(ctx, insertIdentifierSQL, a.tenant, ident.System, ident.Value, id); err != nil {
				return dbError(op+" "+id.String()+": identifier "+ident.System, err)
			}
		}
		_, err := writeKeyed(ctx, tx, op, tPatients, id, id, a.tenant, insertPatientSQL,
			patientValues(&p, id, a.tenant, now, a.actor.Principal.UserID)...)
		if err != nil {
			return err
		}
		if err := writeNameWords(ctx, tx, op, a.tenant, id, p.GivenNames, p.FamilyNames, false, false); err != nil || r.noAudit {
			return err
		}
		return r.audit(ctx, tx, a, now)
	})
	if err != nil {
		return Patient{}, err
	}
	return p, nil
}

// The audited read of a patient is three statements sent in one round
// trip (a pgx.Batch in one transaction, see sendBatch): the row, then the audit
// append (auditHeadSQL, auditEventSQL) made conditional on the patient
// existing in the tenant, so a read of an unknown id writes nothing. Each
// statement filters every table it touches on patient_id = $2, so on
// Citus each is a single-shard router statement. Arguments: auditArgs,
// its head and event windows ($1 tenant, $2 patient).
const (
	getPatientNoAuditSQL = `SELECT ` + patientColumns + ` FROM patients WHERE patient_id = $2 AND tenant_id = $1`

	getPatientHeadSQL = `INSERT INTO audit_heads AS ah (tenant_id, patient_id, seq, prev_hash, hash)
SELECT p.tenant_id, p.patient_id, 1, '\x', sha256(int8send(1::bigint) || $3::bytea)
FROM patients p WHERE p.patient_id = $2 AND p.tenant_id = $1
ON CONFLICT (patient_id) DO UPDATE
  SET seq = ah.seq + 1, prev_hash = ah.hash, hash = sha256(ah.hash || int8send(ah.seq + 1) || $3::bytea)
  WHERE ah.tenant_id = EXCLUDED.tenant_id`

	getPatientEventSQL = `INSERT INTO audit_events (tenant_id, patient_id, seq, id, occurred_at, user_id, roles, action, kind,
  record_id, outcome, rule, break_glass, reason, request_id, ip, prev_hash, hash)
SELECT h.tenant_id, h.patient_id, h.seq, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, h.prev_hash, h.hash
FROM audit_heads h JOIN patients p ON p.patient_id = h.patient_id AND p.tenant_id = h.tenant_id
WHERE h.patient_id = $2 AND p.patient_id = $2 AND h.tenant_id = $1`
)

// getPatientFactsSQL is getPatientNoAuditSQL followed by the columns of
// factsSQL: the actor's care-team fact and active break-glass grant for
// the patient, read with the row instead of in a statement of their own
// (one statement fewer in the batch). Every table is filtered on
// patient_id = $2: on Citus it is one single-shard router statement, as
// factsSQL is. Arguments: $1 tenant, $2 patient, $3 the user as a UUID
// (care_team_members.user_id), $4 the user id as text
// (break_glass_grants.user_id), $5 now. An unknown patient gives no row,
// as getPatientNoAuditSQL does.
const getPatientFactsSQL = `SELECT ` + patientColumns + `,
  EXISTS (SELECT 1 FROM care_team_members c
          WHERE c.patient_id = $2 AND c.tenant_id = $1 AND c.user_id = $3 AND c.status = 'active'
            AND c.starts_at <= $5 AND (c.ends_at IS NULL OR c.ends_at > $5)),
  g.reason, g.not_after
FROM patients p
LEFT JOIN LATERAL (
  SELECT b.reason, b.not_after FROM break_glass_grants b
  WHERE b.patient_id = $2 AND b.tenant_id = $1 AND b.user_id = $4 AND b.not_after > $5
  ORDER BY b.not_after DESC LIMIT 1) g ON true
WHERE p.patient_id = $2 AND p.tenant_id = $1`

// queueGetPatient queues the (audited unless noAudit) read of a's patient
// on b; readGetPatient reads its results.
func (r *Repository) queueGetPatient(b *pgx.Batch, a *access) {
	if r.noAudit {
		b.Queue(getPatientNoAuditSQL, pgUUID(a.tenant), pgUUID(a.patient))
		return
	}
	args := a.auditArgs(r.clock())
	b.Queue(getPatientNoAuditSQL, args.v[:2]...)
	queueGetPatientAudit(b, args)
}

// queueGetPatientFacts is queueGetPatient with the actor's facts about
// the patient read with the row (getPatientFactsSQL);
// readGetPatientFacts reads its results.
func (r *Repository) queueGetPatientFacts(b *pgx.Batch, a *access) {
	user := pgUUID(a.userUUID())
	if r.noAudit {
		b.Queue(getPatientFactsSQL, pgUUID(a.tenant), pgUUID(a.patient), user, a.actor.Principal.UserID, r.clock())
		return
	}
	args := a.auditArgs(r.clock())
	// The tenant, patient, user id and time already boxed for the audit
	// event (the event's time is the facts' now).
	b.Queue(getPatientFactsSQL, args.v[0], args.v[1], user, args.userID(), args.at())
	queueGetPatientAudit(b, args)
}

// queueGetPatientAudit queues the audit append of a patient read with args.
func queueGetPatientAudit(b *pgx.Batch, args *auditArgs) {
	b.Queue(getPatientHeadSQL, args.head()...)
	b.Queue(getPatientEventSQL, args.event()...)
}

func (r *Repository) readGetPatient(br pgx.BatchResults) (Patient, error) {
	p, err := scanPatient(br.QueryRow())
	if err != nil {
		return p, err
	}
	return p, r.readGetPatientAudit(br)
}

// readGetPatientFacts reads the results of queueGetPatientFacts, the
// facts into f.
func (r *Repository) readGetPatientFacts(br pgx.BatchResults, f *factsRow) (Patient, error) {
	p, err := scanPatient(br.QueryRow(), &f.onCareTeam, &f.reason, &f.notAfter)
	if err != nil {
		return p, err
	}
	return p, r.readGetPatientAudit(br)
}

// readGetPatientAudit reads the results of queueGetPatientAudit (nothing
// when noAudit).
func (r *Repository) readGetPatientAudit(br pgx.BatchResults) error {
	if r.noAudit {
		return nil
	}
	if _, err := br.Exec(); err != nil {
		return err
	}
	return readAuditEvent(br)
}

// readAuditEvent reads the result of a patient read's event statement
// (getPatientEventSQL): one row, or an error.
func readAuditEvent(br pgx.BatchResults) error {
	tag, err := br.Exec()
	if err == nil && tag.RowsAffected() != 1 {
		err = fmt.Errorf("audit event not written (%d rows)", tag.RowsAffected())
	}
	return err
}

// GetPatient returns the demographics of patient id in the actor's tenant,
// with the contact data (Contact, Emergency) blank unless the actor may
// read it (rbac KindContact), as in Chart.
// The read is audited in the same transaction and the same round trip
// (one round trip in all when the policy allows it without care-team
// facts, as for a physician, a clerk or the patient).
//
// It returns ErrInvalid for a malformed id, ErrNotFound when id is no
// patient of the actor's tenant (whether or not the actor could read it:
// an unknown id and another tenant's patient are answered alike, and a
// refused attempt is audited), ErrDenied unless the actor may read
// demographics of this patient of the tenant.
func (r *Repository) GetPatient(ctx context.Context, id string) (Patient, error) {
	const op = "get patient"
	pid, err := parseID("ID", id)
	if err != nil {
		return Patient{}, err
	}
	a, err := newAccess(ctx, op, rbac.ActionRead, rbac.KindDemographics, pid)
	if err != nil {
		return Patient{}, err
	}
	a.record = id
	if err := r.authorize(ctx, r.db, op, a); err != nil {
		return Patient{}, err
	}
	// The contact data is shown only to who may read it (as in Chart).
	// When that takes the care-team facts, they are read with the row
	// (getPatientFactsSQL): still one round trip, and no statement more.
	p0 := a.actor.Principal
	contact := r.authz.Decide(p0, rbac.ActionRead, rbac.KindContact, a.target(false, nil)).Allowed
	b := newBatch(3)
	var fr *factsRow
	if contact {
		r.queueGetPatient(b, a)
	} else {
		fr = new(factsRow)
		r.queueGetPatientFacts(b, a)
	}
	var p Patient
	err = sendBatch(ctx, r.db, b, func(br pgx.BatchResults) error {
		var err error
		if fr == nil {
			p, err = r.readGetPatient(br)
			return err
		}
		if p, err = r.readGetPatientFacts(br, fr); err == nil {
			f := fr.facts(a)
			contact = r.authz.Decide(p0, rbac.ActionRead, rbac.KindContact, a.target(f.onCareTeam, f.grant)).Allowed
		}
		return err
	})
	if err != nil {
		return Patient{}, r.notFound(ctx, a, dbError(op+" "+id, err))
	}
	if !contact {
		p.Contact, p.Emergency = Contact{}, EmergencyContact{}
	}
	return p, nil
}

// requirePatient fails with ErrNotFound when a's patient is not in a's
// tenant.
func (r *Repository) requirePatient(ctx context.Context, q DB, op string, a *access) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM patients WHERE patient_id = $1 AND tenant_id = $2`, a.patient, a.tenant).Scan(&one)
	if err != nil {
		return dbError(op+" "+a.patient.String(), err)
	}
	return nil
}

// lockPatient locks the patient's row and returns its version, status and
// identifiers, failing with ErrNotFound or (when version is not the
// current one) ErrConflict.
func lockPatient(ctx context.Context, tx pgx.Tx, op string, a *access, version int) (Patient, error) {
	var cur Patient
	err := tx.QueryRow(ctx, `SELECT document_type, document_number, identifiers, version, status FROM patients
WHERE patient_id = $1 AND tenant_id = $2 FOR UPDATE`, a.patient, a.tenant).Scan(&cur.DocumentType, &cur.DocumentNumber, &cur.Identifiers, &cur.Version, &cur.Status)
	if err != nil {
		return cur, dbError(op+" "+a.patient.String(), err)
	}
	if cur.Version != version {
		return cur, fmt.Errorf("ehr: %s %s: %w: version is %d", op, a.patient, ErrConflict, cur.Version)
	}
	return cur, nil
}

// UpdatePatient writes a new version of the demographics and contact data
// of p.ID; p.Version must be the version read. It returns the patient with
// its new version.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound, ErrConflict
// (stale version, or an identifier used by another patient), ErrDenied
// unless the actor may update demographics (and contact data) of the
// patient.
func (r *Repository) UpdatePatient(ctx context.Context, p Patient) (Patient, error) {
	const op = "update patient"
	now := r.clock()
	p.normalize()
	v := p.validate(now)
	pid, err := uuid.Parse(p.ID)
	v.check(err == nil, "ID", CodeInvalid, "must be a UUID")
	v.check(p.Version > 0, "Version", CodeRequired, "must be the version read")
	if err := v.err(); err != nil {
		return Patient{}, err
	}
	a, err := newAccess(ctx, op, rbac.ActionUpdate, rbac.KindDemographics, pid)
	if err != nil {
		return Patient{}, err
	}
	a.record = p.ID
	var out Patient
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		ca := *a
		ca.kind = rbac.KindContact
		if err := r.authorize(ctx, tx, op, &ca); err != nil {
			return err
		}
		cur, err := lockPatient(ctx, tx, op, a, p.Version)
		if err != nil {
			return err
		}
		// Move the identifiers that changed.
		old := map[Identifier]bool{}
		for _, id := range cur.identifiers() {
			old[id] = true
		}
		next := map[Identifier]bool{}
		for _, id := range p.identifiers() {
			next[id] = true
		}
		for id := range old {
			if !next[id] {
				if _, err := tx.Exec(ctx, deleteIdentifierSQL, a.tenant, id.System, id.Value, pid); err != nil {
					return dbError(op+" "+p.ID, err)
				}
			}
		}
		for _, id := range p.identifiers() {
			if !old[id] {
				if _, err := tx.Exec(ctx, insertIdentifierSQL, a.tenant, id.System, id.Value, pid); err != nil {
					return dbError(op+" "+p.ID+": identifier "+id.System, err)
				}
			}
		}
		nv, err := write(ctx, tx, op, tPatients, `UPDATE patients SET document_type = $5, document_number = $6,
  identifiers = $7, given_names = $8, family_names = $9, search_name = $10, sort_key = $11, birth_date = $12, sex = $13,
  phone = $14, email = $15, address = $16, emergency_name = $17, emergency_phone = $18, emergency_relationship = $19,
  change_reason = '', version = version + 1, updated_at = $20, updated_by = $21
WHERE patient_id = $1 AND patient_id = $2 AND tenant_id = $3 AND version = $4`,
			pid, pid, a.tenant, p.Version, p.DocumentType, p.DocumentNumber, p.Identifiers, p.GivenNames, p.FamilyNames,
			searchName(p.GivenNames, p.FamilyNames), sortKey(p.GivenNames, p.FamilyNames), p.BirthDate, p.Sex,
			p.Contact.Phone, p.Contact.Email, p.Contact.Address, p.Emergency.Name, p.Emergency.Phone,
			p.Emergency.Relationship, now, a.actor.Principal.UserID)
		if err != nil {
			return err
		}
		// The names may have changed: the patient's words are those of
		// the new names (none while entered in error).
		if err := writeNameWords(ctx, tx, op, a.tenant, pid, p.GivenNames, p.FamilyNames, true,
			cur.Status == StatusEnteredInError); err != nil {
			return err
		}
		if err := r.audit(ctx, tx, a, now); err != nil {
			return err
		}
		out, err = scanPatient(tx.QueryRow(ctx, getPatientNoAuditSQL, a.tenant, pid))
		if err != nil {
			return dbError(op, err)
		}
		out.Version = nv
		return nil
	})
	return out, err
}

// UpdateContact writes a new version of the patient's contact data and
// emergency contact only; version must be the version read. A patient may
// update their own (rbac ActionUpdate on KindContact). It returns the new
// version.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound, ErrConflict,
// ErrDenied.
func (r *Repository) UpdateContact(ctx context.Context, patientID string, version int, c Contact, e EmergencyContact) (int, error) {
	const op = "update contact"
	p := Patient{Contact: c, Emergency: e}
	p.normalize()
	var v validator
	pid, err := uuid.Parse(patientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	v.check(version > 0, "Version", CodeRequired, "must be the version read")
	p.validateContact(&v)
	if err := v.err(); err != nil {
		return 0, err
	}
	a, err := newAccess(ctx, op, rbac.ActionUpdate, rbac.KindContact, pid)
	if err != nil {
		return 0, err
	}
	a.record = patientID
	var nv int
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		now := r.clock()
		nv, err = write(ctx, tx, op, tPatients, `UPDATE patients SET phone = $5, email = $6, address = $7,
  emergency_name = $8, emergency_phone = $9, emergency_relationship = $10,
  change_reason = '', version = version + 1, updated_at = $11, updated_by = $12
WHERE patient_id = $1 AND patient_id = $2 AND tenant_id = $3 AND version = $4`,
			pid, pid, a.tenant, version, p.Contact.Phone, p.Contact.Email, p.Contact.Address,
			p.Emergency.Name, p.Emergency.Phone, p.Emergency.Relationship, now, a.actor.Principal.UserID)
		if err != nil {
			return err
		}
		return r.audit(ctx, tx, a, now)
	})
	return nv, err
}

// TextMatch says how a name filter of PatientQuery compares: the FHIR
// string search (MatchPrefix) and its :exact and :contains modifiers.
type TextMatch int

// The ways a name filter compares. "Folded" is the form of fold: lower
// case, without diacritics, punctuation turned into spaces, words
// separated by single spaces.
const (
	// MatchPrefix, the default, is FHIR's default string search: every
	// word of the query, folded, is the start of a word of the names,
	// folded. So it ignores case, accents and punctuation, and the words
	// may come in any order: "jose per" and "PER JOSÉ" both find "José
	// Pérez".
	MatchPrefix TextMatch = iota
	// MatchExact is FHIR's :exact: the query, without leading and
	// trailing white space and in Unicode NFC, equals the names as stored
	// (RegisterPatient trims them and keeps their case and accents), byte
	// for byte. It is case- and accent-sensitive: "José Pérez" does not
	// find "JOSÉ PÉREZ" nor "Jose Perez". For PatientQuery.Name the names
	// are the GivenNames, the FamilyNames, or the GivenNames, one space and
	// the FamilyNames: "José", "Pérez" and "José Pérez" all find "José"
	// "Pérez", while "Pérez José" and "Jos" do not.
	MatchExact
	// MatchContains is FHIR's :contains: the whole query, folded, occurs
	// anywhere in the names, folded, inside a word or across words ("rez"
	// and "ez go" both find "Pérez Gómez"). For PatientQuery.Name the
	// names are the given names, one space and the family names.
	MatchContains
)

// String returns "prefix", "exact", "contains", or "TextMatch(n)" for an
// undefined value.
func (m TextMatch) String() string {
	switch m {
	case MatchPrefix:
		return "prefix"
	case MatchExact:
		return "exact"
	case MatchContains:
		return "contains"
	}
	return "TextMatch(" + itoa(int(m)) + ")"
}

// Bounds of PatientQuery.
const (
	// MaxSearchIDs is the most ids PatientQuery.IDs may list.
	MaxSearchIDs = 100
	// maxSearchText is the longest name filter in bytes (a name is at most
	// 200 bytes); maxSearchFullName the longest exact Name (given names,
	// a space, family names); maxSearchValue the longest identifier value.
	maxSearchText     = 200
	maxSearchFullName = 401
	maxSearchValue    = 64
)

// PatientQuery filters SearchPatients. Every filter given narrows the
// search (the filters are ANDed); a zero field does not filter, and the
// zero query lists all the tenant's patients. The comments note the FHIR
// R4 Patient search parameter each filter serves.
//
// Input that is too long or malformed fails with a *ValidationError
// naming the field (see SearchPatients); a well-formed filter that no
// patient can match (an identifier value of the wrong shape, a date range
// whose start is after its end) finds nothing.
type PatientQuery struct {
	// Name matches the patient's names (GivenNames and FamilyNames) as
	// NameMatch says (FHIR name, name:exact, name:contains). A Name that
	// is blank does not filter, nor, under MatchPrefix and MatchContains,
	// one without letters or digits. At most 200 bytes (401 under
	// MatchExact).
	Name string
	// NameMatch is how Name compares; the zero value is MatchPrefix.
	NameMatch TextMatch
	// Family matches FamilyNames alone as FamilyMatch says (FHIR family,
	// family:exact, family:contains). At most 200 bytes.
	Family string
	// FamilyMatch is how Family compares; the zero value is MatchPrefix.
	FamilyMatch TextMatch
	// Given matches GivenNames alone as GivenMatch says (FHIR given,
	// given:exact, given:contains). At most 200 bytes.
	Given string
	// GivenMatch is how Given compares; the zero value is MatchPrefix.
	GivenMatch TextMatch
	// DocumentNumber matches the value of the document or of any other
	// identifier exactly, after upper-casing it and removing its spaces as
	// RegisterPatient does (FHIR identifier=value). At most 64 bytes. A
	// search with a DocumentNumber (or IDs) reads only the patients it
	// names: on Citus it does not fan out.
	DocumentNumber string
	// IdentifierSystem restricts DocumentNumber to one identifier system
	// (FHIR identifier=system|value; the FHIR layer maps the system URI to
	// the name stored here): a document type ("CC", "PASSPORT") matches the
	// document, any other name the Identifiers of that System ("MRN").
	// Without DocumentNumber it matches the patients that have an
	// identifier of the system, whatever its value (identifier=system|).
	// Compared upper-cased; it must look like a system (1-20 letters or
	// digits, starting with a letter).
	IdentifierSystem string
	// IDs restricts the search to these patient ids (FHIR _id), each a
	// UUID; at most MaxSearchIDs. A nil or empty IDs does not filter.
	IDs []string
	// BirthDate matches the date of birth exactly (FHIR birthdate=eq of a
	// day). Dates here are calendar dates: a time.Time is taken as the
	// date it has in its own location, its time of day ignored.
	BirthDate time.Time
	// BirthFrom and BirthTo bound the date of birth, both inclusive:
	// BirthFrom <= birth date <= BirthTo. Either may be zero (no bound);
	// BirthFrom after BirthTo finds nothing. For FHIR birthdate, whose
	// value of day, month or year precision stands for the days [lo, hi]:
	// eq is BirthFrom = lo and BirthTo = hi; ge is BirthFrom = lo; gt and
	// sa are BirthFrom = hi + 1 day; le is BirthTo = hi; lt and eb are
	// BirthTo = lo - 1 day; ne is BirthNotFrom = lo and BirthNotTo = hi.
	// Repeated parameters narrow the bounds (the later From, the earlier
	// To).
	BirthFrom, BirthTo time.Time
	// BirthNotFrom and BirthNotTo exclude the patients born in the
	// inclusive range [BirthNotFrom, BirthNotTo] (FHIR birthdate=ne). A
	// zero BirthNotTo excludes the single day BirthNotFrom; BirthNotTo
	// without BirthNotFrom is invalid; BirthNotFrom after BirthNotTo
	// excludes nothing.
	BirthNotFrom, BirthNotTo time.Time
	// Sex matches Patient.Sex exactly, after trimming and lower-casing: one
	// of SexFemale, SexMale, SexOther, SexUnknown, which are also the codes
	// of FHIR gender.
	Sex string
	// UpdatedFrom and UpdatedTo bound the time of the patient's last
	// change (Patient.UpdatedAt, FHIR _lastUpdated), half-open:
	// UpdatedFrom <= UpdatedAt < UpdatedTo. Either may be zero (no
	// bound); UpdatedFrom not before UpdatedTo finds nothing. The database
	// keeps microseconds: a bound with a fraction of a microsecond is
	// rounded up, which keeps the comparison exact. For FHIR _lastUpdated,
	// whose value of some precision stands for the instants [lo, hi): eq
	// is [lo, hi); ge is UpdatedFrom = lo, gt UpdatedFrom = hi, lt
	// UpdatedTo = lo, le UpdatedTo = hi. ne has no equivalent here (it
	// would take two searches): a FHIR server should refuse it.
	UpdatedFrom, UpdatedTo time.Time
	// IncludeEnteredInError includes patients marked entered in error.
	IncludeEnteredInError bool
	// Limit is the page size (default 20, at most 200; a larger Limit is
	// taken as 200).
	Limit int
	// Cursor is PatientPage.Next of the previous page of the same query:
	// the same filters, whatever the Limit. A cursor of another query is
	// refused (ErrInvalid, field Cursor).
	Cursor string
}

// PatientPage is one page of SearchPatients, ordered by family names,
// given names (both folded) and id.
type PatientPage struct {
	Patients []Patient
	// Next is the cursor of the next page, empty on the last page.
	Next string
}

// patientCursor is the keyset position after the last patient of a page,
// and the fingerprint of the query it belongs to.
type patientCursor struct {
	Key   string `json:"k"`
	ID    string `json:"i"`
	Query string `json:"q"`
}

// patientFilter is a PatientQuery validated and normalized: what the
// search compares, and what its cursor's fingerprint is made of.
type patientFilter struct {
	Name, Family, Given                string
	NameMatch, FamilyMatch, GivenMatch TextMatch
	Value, System                      string
	IDs                                []uuid.UUID
	Birth, BirthFrom, BirthTo          time.Time
	NotFrom, NotTo                     time.Time
	Sex                                string
	UpdatedFrom, UpdatedTo             time.Time
	All                                bool
}

// calendarDate returns the date t has in its own location, at midnight
// UTC; the zero time stays zero.
func calendarDate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// ceilMicrosecond rounds t up to a whole microsecond, the resolution of
// timestamptz.
func ceilMicrosecond(t time.Time) time.Time {
	if u := t.Truncate(time.Microsecond); !u.Equal(t) {
		return u.Add(time.Microsecond)
	}
	return t
}

// cleanText reports whether s can be sent as text: valid UTF-8 without
// NUL.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// nameFilter validates and normalizes one name filter: folded for
// MatchPrefix and MatchContains, trimmed and in NFC for MatchExact.
func nameFilter(v *validator, field, s string, m TextMatch) string {
	max := maxSearchText
	if field == "Name" && m == MatchExact {
		max = maxSearchFullName
	}
	v.maxLen(field, s, max)
	v.check(cleanText(s), field, CodeInvalid, "is not valid UTF-8 text")
	switch m {
	case MatchPrefix, MatchContains:
		return fold(s)
	case MatchExact:
		return norm.NFC.String(trim(s))
	}
	v.add(field+"Match", CodeNotAllowed, "must be MatchPrefix, MatchExact or MatchContains")
	return ""
}

// searchDate checks that a date or time of a search is one PostgreSQL and
// the cursor's encoding take.
func searchDate(v *validator, field string, t time.Time) {
	v.check(t.IsZero() || (t.Year() >= 1 && t.Year() <= 9999), field, CodeOutOfRange, "must be in the years 1 to 9999")
}

// filter validates q, adding the bad fields to v (messages name the
// rule, never the value), and returns it normalized.
func (q *PatientQuery) filter(v *validator) patientFilter {
	f := patientFilter{
		NameMatch: q.NameMatch, FamilyMatch: q.FamilyMatch, GivenMatch: q.GivenMatch,
		All: q.IncludeEnteredInError,
	}
	f.Name = nameFilter(v, "Name", q.Name, q.NameMatch)
	f.Family = nameFilter(v, "Family", q.Family, q.FamilyMatch)
	f.Given = nameFilter(v, "Given", q.Given, q.GivenMatch)

	v.maxLen("DocumentNumber", q.DocumentNumber, maxSearchValue)
	v.check(cleanText(q.DocumentNumber), "DocumentNumber", CodeInvalid, "is not valid UTF-8 text")
	f.Value = strings.ToUpper(strings.ReplaceAll(trim(q.DocumentNumber), " ", ""))
	f.System = strings.ToUpper(trim(q.IdentifierSystem))
	v.check(f.System == "" || docTypeRE.MatchString(f.System), "IdentifierSystem", CodeInvalid,
		"must be 1-20 letters or digits, starting with a letter")

	if len(q.IDs) > MaxSearchIDs {
		v.add("IDs", CodeTooMany, "at most "+itoa(MaxSearchIDs))
	} else {
		for i, s := range q.IDs {
			id, err := uuid.Parse(s)
			if err != nil || len(s) != 36 {
				v.add(fmt.Sprintf("IDs[%d]", i), CodeInvalid, "must be a UUID")
				continue
			}
			f.IDs = append(f.IDs, id)
		}
		slices.SortFunc(f.IDs, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		f.IDs = slices.Compact(f.IDs)
	}

	for _, d := range []struct {
		field string
		in    time.Time
		out   *time.Time
	}{
		{"BirthDate", q.BirthDate, &f.Birth}, {"BirthFrom", q.BirthFrom, &f.BirthFrom}, {"BirthTo", q.BirthTo, &f.BirthTo},
		{"BirthNotFrom", q.BirthNotFrom, &f.NotFrom}, {"BirthNotTo", q.BirthNotTo, &f.NotTo},
	} {
		searchDate(v, d.field, d.in)
		*d.out = calendarDate(d.in)
	}
	v.check(f.NotTo.IsZero() || !f.NotFrom.IsZero(), "BirthNotFrom", CodeRequired, "is required with BirthNotTo")
	if f.NotTo.IsZero() {
		f.NotTo = f.NotFrom
	}

	f.Sex = strings.ToLower(trim(q.Sex))
	switch f.Sex {
	case "", SexFemale, SexMale, SexOther, SexUnknown:
	default:
		v.add("Sex", CodeNotAllowed, "must be female, male, other or unknown")
	}

	searchDate(v, "UpdatedFrom", q.UpdatedFrom)
	searchDate(v, "UpdatedTo", q.UpdatedTo)
	if !q.UpdatedFrom.IsZero() {
		f.UpdatedFrom = ceilMicrosecond(q.UpdatedFrom).UTC()
	}
	if !q.UpdatedTo.IsZero() {
		f.UpdatedTo = ceilMicrosecond(q.UpdatedTo).UTC()
	}
	v.check(q.Limit >= 0, "Limit", CodeOutOfRange, "must not be negative")
	return f
}

// fingerprint identifies the query f, for its cursors: a short hash of
// its normalized filters (not of Limit).
func (f *patientFilter) fingerprint() string {
	b, _ := json.Marshal(f)
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// The folded names each name filter compares under MatchPrefix and
// MatchContains, as SQL: search_name holds " given family " folded, and
// sort_key the folded family names, chr(1) and the folded given names
// (see searchName and sortKey). An index serving these filters must be
// on these same expressions.
const (
	foldedNameSQL   = `search_name`
	foldedFamilySQL = `(' ' || split_part(sort_key, chr(1), 1) || ' ')`
	foldedGivenSQL  = `(' ' || split_part(sort_key, chr(1), 2) || ' ')`
)

// whereText adds the condition of one name filter s (normalized by
// nameFilter): under MatchPrefix one LIKE on folded per word, under
// MatchContains one LIKE of the whole text, under MatchExact the
// condition exact, whose every parameter is s.
func whereText(b sq.SelectBuilder, s string, m TextMatch, folded, exact string) sq.SelectBuilder {
	switch {
	case s == "":
	case m == MatchExact:
		args := make([]any, strings.Count(exact, "?"))
		for i := range args {
			args[i] = s
		}
		b = b.Where(exact, args...)
	case m == MatchContains:
		b = b.Where(folded+" LIKE ?", "%"+likeEscape(s)+"%")
	default:
		for _, w := range strings.Fields(s) {
			b = b.Where(folded+" LIKE ?", "% "+likeEscape(w)+"%")
		}
	}
	return b
}

// where adds f's conditions to b, all but the identifier value and the
// cursor.
func (f *patientFilter) where(b sq.SelectBuilder) sq.SelectBuilder {
	b = whereText(b, f.Name, f.NameMatch, foldedNameSQL,
		`(given_names = ? OR family_names = ? OR given_names || ' ' || family_names = ?)`)
	b = whereText(b, f.Family, f.FamilyMatch, foldedFamilySQL, `family_names = ?`)
	b = whereText(b, f.Given, f.GivenMatch, foldedGivenSQL, `given_names = ?`)
	// search_name holds " given family ", so a word or substring of either
	// name is one of search_name too: saying so lets the trigram index on
	// search_name (migration 0006) narrow the rows the family and given
	// filters then check.
	if f.FamilyMatch != MatchExact {
		b = whereText(b, f.Family, f.FamilyMatch, foldedNameSQL, "")
	}
	if f.GivenMatch != MatchExact {
		b = whereText(b, f.Given, f.GivenMatch, foldedNameSQL, "")
	}
	if f.System != "" && f.Value == "" {
		// Any identifier of the system: the document, or one of the
		// identifiers kept on the row.
		js, _ := json.Marshal([]map[string]string{{"system": f.System}})
		b = b.Where(`(document_type = ? OR identifiers @> ?::jsonb)`, f.System, string(js))
	}
	if f.Value == "" && len(f.IDs) > 0 {
		b = b.Where("patient_id = ANY(?)", f.IDs)
	}
	if !f.Birth.IsZero() {
		b = b.Where(sq.Eq{"birth_date": f.Birth})
	}
	if !f.BirthFrom.IsZero() {
		b = b.Where(sq.GtOrEq{"birth_date": f.BirthFrom})
	}
	if !f.BirthTo.IsZero() {
		b = b.Where(sq.LtOrEq{"birth_date": f.BirthTo})
	}
	if !f.NotFrom.IsZero() {
		b = b.Where("NOT (birth_date BETWEEN ? AND ?)", f.NotFrom, f.NotTo)
	}
	if f.Sex != "" {
		b = b.Where(sq.Eq{"sex": f.Sex})
	}
	if !f.UpdatedFrom.IsZero() {
		b = b.Where(sq.GtOrEq{"updated_at": f.UpdatedFrom})
	}
	if !f.UpdatedTo.IsZero() {
		b = b.Where(sq.Lt{"updated_at": f.UpdatedTo})
	}
	if !f.All {
		b = b.Where(sq.NotEq{"status": StatusEnteredInError})
	}
	return b
}

// SearchPatients finds patients of the actor's tenant that match q (see
// PatientQuery), with keyset pagination in the order of PatientPage. The
// search is audited on the tenant's chain, one event per call, without
// the search terms. Contact data is blank unless the actor may read it of
// any patient (rbac KindContact with no care-team or break-glass
// condition).
//
// With a DocumentNumber the value is first looked up in
// patient_identifiers (one shard on Citus), and with IDs or a
// DocumentNumber only the patients named are read; any other search goes
// to every shard (marked "fanout: patient search").
//
// It returns a *ValidationError (ErrInvalid) naming the bad fields (a
// text too long or not valid UTF-8, a malformed id, system or sex, an
// undefined TextMatch, a date outside the years 1 to 9999, a negative
// limit, a cursor that is not one of this query), ErrDenied unless the
// actor may search demographics.
func (r *Repository) SearchPatients(ctx context.Context, q PatientQuery) (PatientPage, error) {
	const op = "search patients"
	var v validator
	f := q.filter(&v)
	fp := f.fingerprint()
	var cur patientCursor
	if q.Cursor != "" {
		err := decodeCursor(q.Cursor, &cur)
		_, idErr := uuid.Parse(cur.ID)
		v.check(err == nil && idErr == nil && cur.Query == fp, "Cursor", CodeInvalid, "is not a cursor of this search")
	}
	if err := v.err(); err != nil {
		return PatientPage{}, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = 20
	}
	limit = min(limit, 200)
	a, err := newAccess(ctx, op, rbac.ActionSearch, rbac.KindDemographics, uuid.Nil)
	if err != nil {
		return PatientPage{}, err
	}
	b := psql.Select(patientColumns).From("patients").Where(sq.Eq{"tenant_id": a.tenant})
	if f.Value == "" && len(f.IDs) == 0 {
		// Without a document number or ids the search goes to every shard.
		b = b.Prefix("/* fanout: patient search */")
	}
	b = f.where(b)
	if q.Cursor != "" {
		b = b.Where("(sort_key, patient_id) > (?, ?)", cur.Key, cur.ID)
	}
	b = b.Column("sort_key").OrderBy("sort_key", "patient_id").Limit(uint64(limit + 1))
	var page PatientPage
	// A search shows contact data only to who may read it of any patient
	// (the front desk, admissions), not to who needs the care team.
	contact := r.authz.Decide(a.actor.Principal, rbac.ActionRead, rbac.KindContact, a.target(false, nil)).Allowed
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		sqlText, args, done, err := r.searchByWords(ctx, tx, a.tenant, &f, cur, limit)
		if err != nil {
			return dbError(op, err)
		}
		if done {
			// No word of the tenant starts with the name searched.
			return r.audit(ctx, tx, a, r.clock())
		}
		qb := b
		if sqlText == "" && f.Value != "" {
			// The number is looked up first, in the table distributed by
			// value (one shard), then only the patients it names are read
			// (their shards): no fan-out.
			ids, err := patientsByIdentifier(ctx, tx, a.tenant, f.System, f.Value)
			if err != nil {
				return dbError(op, err)
			}
			if len(f.IDs) > 0 {
				ids = slices.DeleteFunc(ids, func(id uuid.UUID) bool {
					_, found := slices.BinarySearchFunc(f.IDs, id, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
					return !found
				})
			}
			qb = qb.Where("patient_id = ANY(?)", ids)
		}
		if sqlText == "" {
			if sqlText, args, err = qb.ToSql(); err != nil {
				return fmt.Errorf("ehr: %s: build query: %w", op, err)
			}
		}
		rows, err := tx.Query(ctx, sqlText, args...)
		if err != nil {
			return dbError(op, err)
		}
		defer rows.Close()
		var keys []string
		for rows.Next() {
			var p Patient
			var id, tenant uuid.UUID
			var key string
			if err := rows.Scan(&id, &tenant, &p.DocumentType, &p.DocumentNumber, &p.Identifiers, &p.GivenNames, &p.FamilyNames,
				&p.BirthDate, &p.Sex, &p.Contact.Phone, &p.Contact.Email, &p.Contact.Address, &p.Emergency.Name,
				&p.Emergency.Phone, &p.Emergency.Relationship, &p.Status, &p.Version, &p.CreatedAt, &p.UpdatedAt, &key); err != nil {
				return dbError(op, err)
			}
			p.ID, p.TenantID = id.String(), tenant.String()
			p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
			if !contact {
				p.Contact, p.Emergency = Contact{}, EmergencyContact{}
			}
			page.Patients = append(page.Patients, p)
			keys = append(keys, key)
		}
		if err := rows.Err(); err != nil {
			return dbError(op, err)
		}
		if len(page.Patients) > limit {
			page.Patients = page.Patients[:limit]
			page.Next = encodeCursor(patientCursor{Key: keys[limit-1], ID: page.Patients[limit-1].ID, Query: fp})
		}
		return r.audit(ctx, tx, a, r.clock())
	})
	return page, err
}

// MyPatients lists the patients on whose active care team the actor is
// (a physician's list), ordered by name. It is audited on the tenant's
// chain.
//
// It returns ErrDenied unless the actor may search demographics.
func (r *Repository) MyPatients(ctx context.Context) ([]Patient, error) {
	const op = "my patients"
	a, err := newAccess(ctx, op, rbac.ActionSearch, rbac.KindDemographics, uuid.Nil)
	if err != nil {
		return nil, err
	}
	a.record = "careteam"
	user, err := uuid.Parse(a.actor.Principal.UserID)
	if err != nil {
		user = uuid.Nil
	}
	var out []Patient
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `/* fanout: my patients */ SELECT `+patientColumns+` FROM patients
WHERE tenant_id = $1 AND patient_id IN (
  SELECT c.patient_id FROM care_team_members c
  WHERE c.tenant_id = $1 AND c.user_id = $2 AND c.status = 'active' AND c.starts_at <= $3 AND (c.ends_at IS NULL OR c.ends_at > $3))
ORDER BY sort_key, patient_id`, a.tenant, user, r.clock())
		if err != nil {
			return dbError(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanPatient(rows)
			if err != nil {
				return dbError(op, err)
			}
			// The actor is on this patient's active care team (the
			// query's condition): the contact shows if the policy says so.
			t := rbac.Target{TenantID: a.actor.Principal.TenantID, PatientID: p.ID, OnCareTeam: true}
			if !r.authz.Decide(a.actor.Principal, rbac.ActionRead, rbac.KindContact, t).Allowed {
				p.Contact, p.Emergency = Contact{}, EmergencyContact{}
			}
			out = append(out, p)
		}
		if err := rows.Err(); err != nil {
			return dbError(op, err)
		}
		return r.audit(ctx, tx, a, r.clock())
	})
	return out, err
}
