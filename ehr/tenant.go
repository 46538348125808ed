package ehr

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/rbac"
)

// Tenant is a hospital or clinic: every other row belongs to one.
type Tenant struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// trim is strings.TrimSpace.
func trim(s string) string { return strings.TrimSpace(s) }

// CreateTenant creates a tenant named name and returns it. It is an
// operator's bootstrap step (the server's "demo" or setup command), taken
// before any user of the tenant exists, so it needs no Actor and is not
// authorized by the policy; do not expose it to tenant users.
//
// It returns ErrInvalid for an empty or overlong name.
func (r *Repository) CreateTenant(ctx context.Context, name string) (Tenant, error) {
	name = trim(name)
	var v validator
	v.text("Name", name, 200)
	if err := v.err(); err != nil {
		return Tenant{}, err
	}
	t := Tenant{ID: newID().String(), Name: name, CreatedAt: r.clock()}
	err := r.inTx(ctx, "create tenant", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`, t.ID, t.Name, t.CreatedAt); err != nil {
			return dbError("create tenant", err)
		}
		// The tenant's own audit chains, its lanes (lane 0's id is the
		// tenant id), start now, empty, owned by the tenant: no one else
		// can open them first.
		args := []any{t.ID}
		for _, id := range tenantLanes(uuid.MustParse(t.ID)) {
			args = append(args, pgUUID(id))
		}
		tag, err := tx.Exec(ctx, tenantLanesSQL, args...)
		if err != nil {
			return dbError("create tenant", err)
		}
		if tag.RowsAffected() != AuditLanes {
			// A lane id is already a chain: short of a SHA-256
			// collision, never.
			return fmt.Errorf("ehr: create tenant %s: an audit lane is taken: %w", t.ID, ErrConflict)
		}
		return nil
	})
	if err != nil {
		return Tenant{}, err
	}
	return t, nil
}

// tenantLanesSQL opens the empty audit chains of the lanes of tenant $1,
// whose ids are $2 .. $(AuditLanes+1): a head at sequence 0 with an empty
// hash each, which the first append advances exactly as if it had
// created the head (seq 1, prev_hash empty). One multi-row VALUES: on
// Citus, one statement that writes each head on its shard, the lanes
// being spread over the shards by design (marked "fanout: tenant lanes").
var tenantLanesSQL = func() string {
	var b strings.Builder
	b.WriteString(`/* fanout: tenant lanes */ INSERT INTO audit_heads (tenant_id, patient_id, seq, prev_hash, hash) VALUES `)
	for i := range AuditLanes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `($1, $%d, 0, '\x', '\x')`, i+2)
	}
	b.WriteString(` ON CONFLICT (patient_id) DO NOTHING`)
	return b.String()
}()

// ListTenants returns every tenant of the database, oldest first. Like
// CreateTenant it is an operator's step (setup commands, audit
// verification across tenants), needs no Actor and is not authorized by
// the policy; do not expose it to tenant users. Tenant rows hold no
// patient data.
func (r *Repository) ListTenants(ctx context.Context) ([]Tenant, error) {
	rows, err := r.db.Query(ctx, `SELECT id::text, name, created_at FROM tenants ORDER BY created_at, id`)
	if err != nil {
		return nil, dbError("list tenants", err)
	}
	ts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Tenant, error) {
		var t Tenant
		err := row.Scan(&t.ID, &t.Name, &t.CreatedAt)
		return t, err
	})
	if err != nil {
		return nil, dbError("list tenants", err)
	}
	return ts, nil
}

// GetTenant returns the actor's tenant. Any principal of the tenant may
// read it.
//
// It returns ErrDenied without an Actor, ErrNotFound when the tenant does
// not exist.
func (r *Repository) GetTenant(ctx context.Context) (Tenant, error) {
	a, err := actorFrom(ctx, "get tenant")
	if err != nil {
		return Tenant{}, err
	}
	id, err := uuid.Parse(a.Principal.TenantID)
	if err != nil {
		return Tenant{}, fmt.Errorf("ehr: get tenant: %w", ErrNotFound)
	}
	t := Tenant{ID: id.String()}
	err = r.db.QueryRow(ctx, `SELECT name, created_at FROM tenants WHERE id = $1`, id).Scan(&t.Name, &t.CreatedAt)
	if err != nil {
		return Tenant{}, dbError("get tenant "+t.ID, err)
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// Practitioner is a clinician of a tenant, linked one to one to a staff
// user (UserID, the auth package's user id; no foreign key crosses the
// packages).
type Practitioner struct {
	ID        string
	TenantID  string
	UserID    string
	Name      string
	Specialty string
	License   string
	Active    bool
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (p *Practitioner) validate() error {
	var v validator
	_, err := uuid.Parse(p.UserID)
	v.check(err == nil, "UserID", CodeInvalid, "must be a UUID")
	v.text("Name", trim(p.Name), 200)
	v.check(len(p.Specialty) <= 200, "Specialty", CodeTooLong, "is too long")
	v.check(len(p.License) <= 100, "License", CodeTooLong, "is too long")
	return v.err()
}

const practitionerColumns = `id, tenant_id, user_id, name, specialty, license, active, version, created_at, updated_at`

func scanPractitioner(row pgx.Row) (Practitioner, error) {
	var p Practitioner
	var id, tenant, user uuid.UUID
	err := row.Scan(&id, &tenant, &user, &p.Name, &p.Specialty, &p.License, &p.Active, &p.Version, &p.CreatedAt, &p.UpdatedAt)
	p.ID, p.TenantID, p.UserID = id.String(), tenant.String(), user.String()
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// CreatePractitioner registers a practitioner of the actor's tenant linked
// to the staff user p.UserID, and returns it (active, version 1).
//
// It returns ErrInvalid for bad fields, ErrConflict when the user already
// is a practitioner of the tenant, ErrDenied unless the actor manages users
// (rbac ActionManage on KindUser).
func (r *Repository) CreatePractitioner(ctx context.Context, p Practitioner) (Practitioner, error) {
	const op = "create practitioner"
	if err := p.validate(); err != nil {
		return Practitioner{}, err
	}
	a, err := newAccess(ctx, op, rbac.ActionManage, rbac.KindUser, uuid.Nil)
	if err != nil {
		return Practitioner{}, err
	}
	now := r.clock()
	p.ID, p.TenantID, p.Active, p.Version, p.CreatedAt, p.UpdatedAt = newID().String(), a.tenantID, true, 1, now, now
	p.Name, p.Specialty, p.License = trim(p.Name), trim(p.Specialty), trim(p.License)
	a.record = p.ID
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO practitioners (`+practitionerColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			p.ID, a.tenant, p.UserID, p.Name, p.Specialty, p.License, p.Active, p.Version, p.CreatedAt, p.UpdatedAt); err != nil {
			return dbError(op, err)
		}
		return r.audit(ctx, tx, a, now)
	})
	if err != nil {
		return Practitioner{}, err
	}
	return p, nil
}

// UpdatePractitioner changes a practitioner's name, specialty, licence and
// active flag; p.Version must be the version read. It returns the
// practitioner with its new version.
//
// It returns ErrInvalid, ErrNotFound, ErrConflict (stale version), or
// ErrDenied unless the actor manages users.
func (r *Repository) UpdatePractitioner(ctx context.Context, p Practitioner) (Practitioner, error) {
	const op = "update practitioner"
	var v validator
	id, err := uuid.Parse(p.ID)
	v.check(err == nil, "ID", CodeInvalid, "must be a UUID")
	v.check(p.Version > 0, "Version", CodeRequired, "must be the version read")
	if err := p.validate(); err != nil {
		v.fields = append(v.fields, err.(*ValidationError).Fields...)
	}
	if err := v.err(); err != nil {
		return Practitioner{}, err
	}
	a, err := newAccess(ctx, op, rbac.ActionManage, rbac.KindUser, uuid.Nil)
	if err != nil {
		return Practitioner{}, err
	}
	a.record = p.ID
	var out Practitioner
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		now := r.clock()
		out, err = scanPractitioner(tx.QueryRow(ctx, `UPDATE practitioners SET name = $4, specialty = $5, license = $6, active = $7,
  version = version + 1, updated_at = $8 WHERE id = $1 AND tenant_id = $2 AND version = $3 RETURNING `+practitionerColumns,
			id, a.tenant, p.Version, trim(p.Name), trim(p.Specialty), trim(p.License), p.Active, now))
		if err == pgx.ErrNoRows {
			if _, gerr := r.getPractitioner(ctx, tx, a.tenant, id); gerr != nil {
				return gerr
			}
			return fmt.Errorf("ehr: %s %s: %w", op, p.ID, ErrConflict)
		}
		if err != nil {
			return dbError(op, err)
		}
		return r.audit(ctx, tx, a, now)
	})
	return out, err
}

func (r *Repository) getPractitioner(ctx context.Context, q DB, tenant, id uuid.UUID) (Practitioner, error) {
	p, err := scanPractitioner(q.QueryRow(ctx, `SELECT `+practitionerColumns+` FROM practitioners WHERE id = $1 AND tenant_id = $2`, id, tenant))
	if err != nil {
		return Practitioner{}, dbError("get practitioner "+id.String(), err)
	}
	return p, nil
}

// GetPractitioner returns a practitioner of the actor's tenant. The staff
// directory is not patient data: any principal of the tenant may read it,
// and reads are not audited.
//
// It returns ErrNotFound, ErrInvalid for a malformed id, ErrDenied without
// an Actor.
func (r *Repository) GetPractitioner(ctx context.Context, id string) (Practitioner, error) {
	pid, err := parseID("ID", id)
	if err != nil {
		return Practitioner{}, err
	}
	a, err := newAccess(ctx, "get practitioner", rbac.ActionRead, rbac.KindUser, uuid.Nil)
	if err != nil {
		return Practitioner{}, err
	}
	return r.getPractitioner(ctx, r.db, a.tenant, pid)
}

// PractitionerByUser returns the practitioner linked to staff user userID
// in the actor's tenant (for example the logged-in physician).
//
// It returns ErrNotFound, ErrInvalid, ErrDenied without an Actor.
func (r *Repository) PractitionerByUser(ctx context.Context, userID string) (Practitioner, error) {
	uid, err := parseID("UserID", userID)
	if err != nil {
		return Practitioner{}, err
	}
	a, err := newAccess(ctx, "practitioner by user", rbac.ActionRead, rbac.KindUser, uuid.Nil)
	if err != nil {
		return Practitioner{}, err
	}
	p, err := scanPractitioner(r.db.QueryRow(ctx, `SELECT `+practitionerColumns+` FROM practitioners WHERE user_id = $1 AND tenant_id = $2`, uid, a.tenant))
	if err != nil {
		return Practitioner{}, dbError("practitioner by user "+userID, err)
	}
	return p, nil
}

// ListPractitioners returns the practitioners of the actor's tenant by
// name; with activeOnly, only the active ones. Any principal of the tenant
// may list them (for booking, the attending physician, a patient's
// appointments).
//
// It returns ErrDenied without an Actor.
func (r *Repository) ListPractitioners(ctx context.Context, activeOnly bool) ([]Practitioner, error) {
	a, err := newAccess(ctx, "list practitioners", rbac.ActionRead, rbac.KindUser, uuid.Nil)
	if err != nil {
		return nil, err
	}
	rows, err := r.db.Query(ctx, `SELECT `+practitionerColumns+` FROM practitioners
WHERE tenant_id = $1 AND (active OR NOT $2) ORDER BY name, id`, a.tenant, activeOnly)
	if err != nil {
		return nil, dbError("list practitioners", err)
	}
	defer rows.Close()
	var out []Practitioner
	for rows.Next() {
		p, err := scanPractitioner(rows)
		if err != nil {
			return nil, dbError("list practitioners", err)
		}
		out = append(out, p)
	}
	return out, dbError("list practitioners", rows.Err())
}
