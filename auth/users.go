package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// UserStatus is whether a user may log in.
type UserStatus string

// User statuses.
const (
	StatusActive   UserStatus = "active"
	StatusDisabled UserStatus = "disabled"
)

// User is an account of a tenant. It never carries the password hash.
type User struct {
	ID        string     // UUIDv7
	Tenant    string     // the user's tenant
	Username  string     // unique in the tenant, lower case
	Roles     []string   // role names, e.g. "medico"
	PatientID string     // for patients: their chart's id
	Status    UserStatus // active or disabled
	// FailedAttempts counts failed logins since the last success.
	FailedAttempts int
	// LockedUntil is when the account's lock-out ends; zero if not locked.
	LockedUntil       time.Time
	PasswordChangedAt time.Time // when the password was last set
	LastLoginAt       time.Time // zero if never
	CreatedAt         time.Time // when the user was created
	UpdatedAt         time.Time // when the user was last changed
}

// NewUser describes a user to create.
type NewUser struct {
	Tenant   string   // required
	Username string   // required; normalized by NormalizeUsername
	Password string   // checked by CheckPassword
	Roles    []string // role names
	// PatientID links a "paciente" user to their chart.
	PatientID string
}

// StoreConfig configures a Store.
type StoreConfig struct {
	// Hasher defaults to NewArgon2id(DefaultParams).
	Hasher Hasher
	// Clock defaults to the system clock.
	Clock Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Store manages users on PostgreSQL: the operations of an admin page.
// Every change records a security event in the same transaction; the acting
// user, when the context carries an Identity, is named in the event.
type Store struct {
	db     DB
	hasher Hasher
	clock  Clock
	log    *slog.Logger
	// onRevoked, set by Service, learns the sessions a change revoked
	// once it committed.
	onRevoked func([]string)
}

// NewStore returns a store over db, whose schema Migrate has prepared.
func NewStore(db DB, cfg StoreConfig) *Store {
	if cfg.Hasher == nil {
		cfg.Hasher = NewArgon2id(DefaultParams)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Store{db: db, hasher: cfg.Hasher, clock: clockOr(cfg.Clock), log: cfg.Logger}
}

// NormalizeUsername trims and lower-cases a username.
func NormalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Limits of identifiers.
const (
	maxUsernameLen = 64
	maxTenantLen   = 64
	maxRoleLen     = 64
	maxRoles       = 32
)

func validName(s string, max int, extra string) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}

func validUsername(s string) bool { return validName(s, maxUsernameLen, "._@-") }
func validTenant(s string) bool   { return validName(strings.ToLower(s), maxTenantLen, "._-") }

func validateRoles(roles []string) error {
	if len(roles) > maxRoles {
		return &InvalidError{Fields: []string{"Roles"}, Code: CodeTooMany, Reason: "too many roles"}
	}
	for _, r := range roles {
		if !validName(r, maxRoleLen, "_-") {
			return &InvalidError{Fields: []string{"Roles"}, Code: CodeInvalid, Reason: fmt.Sprintf("bad role name %q", r)}
		}
	}
	return nil
}

func actorDetail(ctx context.Context, detail string) string {
	if id, ok := FromContext(ctx); ok {
		if detail != "" {
			detail += " "
		}
		detail += "by=" + id.UserID
	}
	return detail
}

const userColumns = `id::text, tenant_id, username, roles, coalesce(patient_id, ''), status, failed_attempts,
	locked_until, password_changed_at, last_login_at, created_at, updated_at`

func scanUser(row pgx.Row, hash *string) (User, error) {
	var (
		u                 User
		status            string
		locked, lastLogin *time.Time
		dest              = []any{&u.ID, &u.Tenant, &u.Username, &u.Roles, &u.PatientID, &status, &u.FailedAttempts, &locked, &u.PasswordChangedAt, &lastLogin, &u.CreatedAt, &u.UpdatedAt}
	)
	if hash != nil {
		dest = append(dest, hash)
	}
	if err := row.Scan(dest...); err != nil {
		return User{}, err
	}
	u.Status = UserStatus(status)
	if locked != nil {
		u.LockedUntil = *locked
	}
	if lastLogin != nil {
		u.LastLoginAt = *lastLogin
	}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	return u, nil
}

// CreateUser validates u (tenant and username: lower-case letters, digits
// and . _ @ -; roles; the password policy of CheckPassword), hashes the
// password and stores the user. It returns an *InvalidError (ErrInvalid), a
// *PasswordError (ErrWeakPassword), or ErrConflict when the username is
// taken in the tenant.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	nu.Username = NormalizeUsername(nu.Username)
	var bad []string
	if !validTenant(nu.Tenant) {
		bad = append(bad, "Tenant")
	}
	if !validUsername(nu.Username) {
		bad = append(bad, "Username")
	}
	if bad != nil {
		return User{}, &InvalidError{Fields: bad, Code: CodeInvalid, Reason: "1 to 64 of a-z 0-9 . _ @ -"}
	}
	if err := validateRoles(nu.Roles); err != nil {
		return User{}, err
	}
	if err := CheckPassword(nu.Password, nu.Username, nu.Tenant); err != nil {
		return User{}, err
	}
	hash, err := s.hasher.Hash(nu.Password)
	if err != nil {
		return User{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return User{}, err
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	roles := slices.Clone(nu.Roles)
	if roles == nil {
		roles = []string{}
	}
	var pid *string
	if nu.PatientID != "" {
		pid = &nu.PatientID
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return User{}, fmt.Errorf("auth: create user: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO users (id, tenant_id, username, password_hash, roles, patient_id,
		password_changed_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7)`,
		id, nu.Tenant, nu.Username, hash, roles, pid, now); err != nil {
		if isUniqueViolation(err) {
			return User{}, fmt.Errorf("%w: username taken in tenant", ErrConflict)
		}
		return User{}, fmt.Errorf("auth: create user: %w", err)
	}
	if err := appendEvent(ctx, tx, &Event{Tenant: nu.Tenant, Time: now, Kind: EventUserCreated, UserID: id.String(),
		Username: nu.Username, Detail: actorDetail(ctx, "")}); err != nil {
		return User{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return User{}, fmt.Errorf("auth: create user: %w", err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "auth: user created", slog.String("tenant", nu.Tenant), slog.String("user_id", id.String()))
	return User{ID: id.String(), Tenant: nu.Tenant, Username: nu.Username, Roles: roles, PatientID: nu.PatientID,
		Status: StatusActive, PasswordChangedAt: now, CreatedAt: now, UpdatedAt: now}, nil
}

func parseID(id string) (uuid.UUID, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return uuid.UUID{}, fmt.Errorf("%w: user %q", ErrNotFound, id)
	}
	return u, nil
}

// User returns the user with id in tenant, or ErrNotFound.
func (s *Store) User(ctx context.Context, tenant, id string) (User, error) {
	uid, err := parseID(id)
	if err != nil {
		return User{}, err
	}
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND id = $2`, tenant, uid), nil)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("%w: user %s", ErrNotFound, id)
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: get user: %w", err)
	}
	return u, nil
}

// UserByUsername returns the user called username in tenant, or
// ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, tenant, username string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND username = $2`,
		tenant, NormalizeUsername(username)), nil)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: get user: %w", err)
	}
	return u, nil
}

// ListUsers returns the users of tenant ordered by username.
func (s *Store) ListUsers(ctx context.Context, tenant string) ([]User, error) {
	rows, err := s.db.Query(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 ORDER BY username`, tenant)
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	us, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r, nil) })
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	return us, nil
}

// update runs fn on the locked row of user id in tenant inside a
// transaction, then records ev (its tenant, user and time filled in).
func (s *Store) update(ctx context.Context, op, tenant, id string, ev Event, fn func(tx pgx.Tx, u User, hash string, now time.Time) error) error {
	return s.updateRevoking(ctx, op, tenant, id, ev, func(tx pgx.Tx, u User, hash string, now time.Time) ([]string, error) {
		return nil, fn(tx, u, hash, now)
	})
}

// updateRevoking is update for changes that revoke sessions: fn returns
// their ids, handed to onRevoked after the commit.
func (s *Store) updateRevoking(ctx context.Context, op, tenant, id string, ev Event, fn func(tx pgx.Tx, u User, hash string, now time.Time) ([]string, error)) error {
	uid, err := parseID(id)
	if err != nil {
		return err
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("auth: %s: %w", op, err)
	}
	defer tx.Rollback(ctx)
	var hash string
	u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, uid), &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: user %s", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("auth: %s: %w", op, err)
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	sids, err := fn(tx, u, hash, now)
	if err != nil {
		return err
	}
	ev.Tenant, ev.UserID, ev.Time = tenant, u.ID, now
	ev.Detail = actorDetail(ctx, ev.Detail)
	if err := appendEvent(ctx, tx, &ev); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("auth: %s: %w", op, err)
	}
	if len(sids) > 0 && s.onRevoked != nil {
		s.onRevoked(sids)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "auth: "+op, slog.String("tenant", tenant), slog.String("user_id", u.ID))
	return nil
}

// revokeUserSessions ends every live session of a user inside tx,
// announces each on RevocationChannel (delivered at commit), and returns
// their ids. The caller passes them to Store.revokedAfterCommit.
func revokeUserSessions(ctx context.Context, tx pgx.Tx, userID string, now time.Time, reason string) ([]string, error) {
	rows, err := tx.Query(ctx, `WITH r AS (UPDATE auth_sessions SET revoked_at = $2, revoked_reason = $3
		WHERE user_id = $1 AND revoked_at IS NULL RETURNING id)`+notifyRevoked, userID, now, reason)
	if err != nil {
		return nil, fmt.Errorf("auth: revoke sessions: %w", err)
	}
	ids, err := collectIDs(rows)
	if err != nil {
		return nil, fmt.Errorf("auth: revoke sessions: %w", err)
	}
	return ids, nil
}

// DisableUser stops the user from logging in and revokes all their
// sessions. It returns ErrNotFound for an unknown user.
func (s *Store) DisableUser(ctx context.Context, tenant, id string) error {
	return s.updateRevoking(ctx, "disable user", tenant, id, Event{Kind: EventUserDisabled}, func(tx pgx.Tx, u User, _ string, now time.Time) ([]string, error) {
		if _, err := tx.Exec(ctx, `UPDATE users SET status = 'disabled', updated_at = $2 WHERE id = $1`, u.ID, now); err != nil {
			return nil, fmt.Errorf("auth: disable user: %w", err)
		}
		return revokeUserSessions(ctx, tx, u.ID, now, "disabled")
	})
}

// EnableUser lets a disabled or locked-out user log in again, clearing the
// failed-attempt count. It returns ErrNotFound for an unknown user.
func (s *Store) EnableUser(ctx context.Context, tenant, id string) error {
	return s.update(ctx, "enable user", tenant, id, Event{Kind: EventUserEnabled}, func(tx pgx.Tx, u User, _ string, now time.Time) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET status = 'active', failed_attempts = 0, locked_until = NULL, updated_at = $2
			WHERE id = $1`, u.ID, now); err != nil {
			return fmt.Errorf("auth: enable user: %w", err)
		}
		return nil
	})
}

// SetRoles replaces the user's roles; tokens issued from the next refresh
// carry them. It returns an *InvalidError or ErrNotFound.
func (s *Store) SetRoles(ctx context.Context, tenant, id string, roles []string) error {
	if err := validateRoles(roles); err != nil {
		return err
	}
	roles = slices.Clone(roles)
	if roles == nil {
		roles = []string{}
	}
	return s.update(ctx, "set roles", tenant, id, Event{Kind: EventRolesChanged, Detail: "roles=" + strings.Join(roles, ",")},
		func(tx pgx.Tx, u User, _ string, now time.Time) error {
			if _, err := tx.Exec(ctx, `UPDATE users SET roles = $2, updated_at = $3 WHERE id = $1`, u.ID, roles, now); err != nil {
				return fmt.Errorf("auth: set roles: %w", err)
			}
			return nil
		})
}

func (s *Store) setPassword(ctx context.Context, tx pgx.Tx, u User, password string, now time.Time) ([]string, error) {
	if err := CheckPassword(password, u.Username, u.Tenant); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3,
		failed_attempts = 0, locked_until = NULL WHERE id = $1`, u.ID, hash, now); err != nil {
		return nil, fmt.Errorf("auth: set password: %w", err)
	}
	return revokeUserSessions(ctx, tx, u.ID, now, "password")
}

// ResetPassword sets a new password chosen by an administrator, unlocks the
// account and revokes all the user's sessions. It returns a *PasswordError
// or ErrNotFound.
func (s *Store) ResetPassword(ctx context.Context, tenant, id, password string) error {
	return s.updateRevoking(ctx, "reset password", tenant, id, Event{Kind: EventPasswordChanged, Detail: "reset"},
		func(tx pgx.Tx, u User, _ string, now time.Time) ([]string, error) {
			return s.setPassword(ctx, tx, u, password, now)
		})
}

// ChangePassword is the user's own change: it checks the current password,
// sets the new one and revokes all the user's sessions (they log in again).
// It returns ErrInvalidCredentials for a wrong current password, a
// *PasswordError or ErrNotFound.
func (s *Store) ChangePassword(ctx context.Context, tenant, id, current, password string) error {
	return s.updateRevoking(ctx, "change password", tenant, id, Event{Kind: EventPasswordChanged, Detail: "self"},
		func(tx pgx.Tx, u User, hash string, now time.Time) ([]string, error) {
			ok, _, err := s.hasher.Verify(current, hash)
			if err != nil || !ok {
				return nil, ErrInvalidCredentials
			}
			return s.setPassword(ctx, tx, u, password, now)
		})
}
