package app

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/ehr"
)

// Querier is what Directory reads through: a pool, a connection or a
// transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Directory resolves the names the pages show for ids: a user's display
// name (their practitioner's name, else their username), a username, a
// practitioner's name, and the tenant's name.
//
// Names reads every id a page needs in one statement over the staff
// directory: auth's users joined with ehr's practitioners, filtered on
// the caller's tenant. Neither library offers a lookup of many ids at
// once, so this is the server's one query on their tables; the staff
// directory is not patient data (ehr lets any principal of the tenant
// read practitioners, unaudited). Tenant names never change, so they are
// read once (ehr's GetTenant) and kept.
type Directory struct {
	db      Querier
	records *ehr.Repository
	log     *slog.Logger

	mu      sync.RWMutex
	tenants map[string]string
}

// Names are resolved names. The zero value resolves nothing: every
// method then returns the id itself.
type Names struct {
	users         map[string]userNames
	practitioners map[string]string
}

type userNames struct{ username, display string }

// User returns how the pages name user id: their practitioner's name,
// else their username, else the id.
func (n Names) User(id string) string {
	if u, ok := n.users[id]; ok {
		return u.display
	}
	return id
}

// Username returns the login name of user id, else the id.
func (n Names) Username(id string) string {
	if u, ok := n.users[id]; ok {
		return u.username
	}
	return id
}

// Practitioner returns the name of practitioner id, else the id.
func (n Names) Practitioner(id string) string {
	if v, ok := n.practitioners[id]; ok {
		return v
	}
	return id
}

const namesSQL = `SELECT 'u', u.id::text, u.username, coalesce(p.name, u.username)
  FROM users u LEFT JOIN practitioners p ON p.tenant_id = $1::text::uuid AND p.user_id = u.id
 WHERE u.tenant_id = $1::text AND u.id = ANY($2::uuid[])
UNION ALL
SELECT 'p', p.id::text, '', p.name FROM practitioners p WHERE p.tenant_id = $1::text::uuid AND p.id = ANY($3::uuid[])`

// Names resolves, in one statement, the caller's own username and the
// names of users and practitioners of the caller's tenant. Ids that are
// not UUIDs (the operator, "historia-cli") or not found resolve to
// themselves; a failed read is logged and resolves nothing (the page
// still shows, with ids).
func (d *Directory) Names(ctx context.Context, c Caller, users, practitioners []string) Names {
	n := Names{users: map[string]userNames{}, practitioners: map[string]string{}}
	if _, err := uuid.Parse(c.TenantID); err != nil || d.db == nil {
		return n
	}
	uids := uuids(append([]string{c.UserID}, users...))
	pids := uuids(practitioners)
	rows, err := d.db.Query(ctx, namesSQL, c.TenantID, uids, pids)
	if err != nil {
		d.log.WarnContext(ctx, "names", "error", err)
		return n
	}
	defer rows.Close()
	for rows.Next() {
		var kind, id, username, name string
		if err := rows.Scan(&kind, &id, &username, &name); err != nil {
			d.log.WarnContext(ctx, "names", "error", err)
			return n
		}
		if kind == "u" {
			n.users[id] = userNames{username: username, display: name}
		} else {
			n.practitioners[id] = name
		}
	}
	if err := rows.Err(); err != nil {
		d.log.WarnContext(ctx, "names", "error", err)
	}
	return n
}

// uuids returns the distinct UUIDs among ids, in the lower-case form
// PostgreSQL prints.
func uuids(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		u, err := uuid.Parse(id)
		if err != nil || len(id) != 36 {
			continue
		}
		if s := u.String(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// TenantName returns the name of the caller's tenant (the context's), or
// "" when it cannot be read. Tenants are never renamed: each is read once.
func (d *Directory) TenantName(ctx context.Context) string {
	c, ok := FromContext(ctx)
	if !ok {
		return ""
	}
	d.mu.RLock()
	name, ok := d.tenants[c.TenantID]
	d.mu.RUnlock()
	if ok {
		return name
	}
	t, err := d.records.GetTenant(ctx)
	if err != nil {
		return ""
	}
	d.mu.Lock()
	if len(d.tenants) > 10000 {
		clear(d.tenants) // bounded, should a server ever see that many
	}
	d.tenants[c.TenantID] = t.Name
	d.mu.Unlock()
	return t.Name
}
