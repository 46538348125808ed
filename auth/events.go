package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// EventKind names a kind of security event.
type EventKind string

// The security events recorded.
const (
	EventLoginSucceeded  EventKind = "login.succeeded"
	EventLoginFailed     EventKind = "login.failed"
	EventAccountLocked   EventKind = "account.locked"
	EventRefreshReused   EventKind = "refresh.reused"
	EventLogout          EventKind = "logout"
	EventSessionsRevoked EventKind = "sessions.revoked"
	EventPasswordChanged EventKind = "password.changed"
	EventUserCreated     EventKind = "user.created"
	EventUserDisabled    EventKind = "user.disabled"
	EventUserEnabled     EventKind = "user.enabled"
	EventRolesChanged    EventKind = "user.roles_changed"
	// EventLoginSpraying: many distinct usernames failed to log in within
	// a short window in one tenant (Config.SprayThreshold, SprayWindow).
	EventLoginSpraying EventKind = "login.spraying"
	// Second factor (TOTP) and re-authentication.
	EventMFAChallenged EventKind = "mfa.challenged" // password right; the second step is due
	EventMFASucceeded  EventKind = "mfa.succeeded"  // detail totp or recovery_code
	EventMFAFailed     EventKind = "mfa.failed"     // detail: why
	EventMFAEnrolled   EventKind = "mfa.enrolled"   // TOTP confirmed; recovery codes issued
	EventMFAReset      EventKind = "mfa.reset"      // an admin removed the second factor
	// EventPasskeyChallenged: a passkey ceremony began (detail register
	// or login); its end is mfa.enrolled, mfa.succeeded or mfa.failed
	// with detail webauthn or webauthn_*.
	EventPasskeyChallenged EventKind = "webauthn.challenged"
	EventReauth            EventKind = "reauth.succeeded"
	EventReauthFailed      EventKind = "reauth.failed"
)

// Event is one entry of a tenant's security log. It never holds a password
// or a token. Username is kept for failed logins (an unknown username is
// worth knowing about) but is never written to the slog output.
type Event struct {
	Tenant    string    // the chain the event belongs to
	Seq       int64     // 1, 2, ... within the tenant's chain
	Time      time.Time // when it happened (microsecond precision)
	Kind      EventKind // what happened
	UserID    string    // the user concerned, if known
	Username  string    // the username tried, for logins
	SessionID string    // the session concerned, if any
	ClientIP  string    // the client address, if known
	// Detail is a short machine-readable reason ("bad_password", "locked",
	// "reset", "by=<admin id>", ...).
	Detail   string
	PrevHash []byte // the previous event's Hash (zeros for the first)
	Hash     []byte // sha256(PrevHash || canonical form of the event)
}

// canonical is the byte form hashed into the chain: JSON of a struct, so the
// field order is fixed; the time is UTC with microsecond precision, as
// PostgreSQL stores it.
func (e *Event) canonical() []byte {
	b, _ := json.Marshal(struct {
		Tenant    string `json:"tenant"`
		Seq       int64  `json:"seq"`
		Time      string `json:"time"`
		Kind      string `json:"kind"`
		UserID    string `json:"user_id"`
		Username  string `json:"username"`
		SessionID string `json:"session_id"`
		ClientIP  string `json:"client_ip"`
		Detail    string `json:"detail"`
	}{e.Tenant, e.Seq, e.Time.UTC().Format(time.RFC3339Nano), string(e.Kind), e.UserID, e.Username, e.SessionID, e.ClientIP, e.Detail})
	return b
}

func chainHash(prev []byte, e *Event) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(e.canonical())
	return h.Sum(nil)
}

var genesis = make([]byte, sha256.Size)

// appendEvent adds e to its tenant's chain inside tx, locking the chain's
// head row so appends are serialized per tenant.
func appendEvent(ctx context.Context, tx pgx.Tx, e *Event) error {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	var (
		seq  int64
		prev []byte
	)
	err := tx.QueryRow(ctx, `SELECT seq, hash FROM security_event_heads WHERE tenant_id = $1 FOR UPDATE`, e.Tenant).Scan(&seq, &prev)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err = tx.Exec(ctx, `INSERT INTO security_event_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING`, e.Tenant, genesis); err == nil {
			err = tx.QueryRow(ctx, `SELECT seq, hash FROM security_event_heads WHERE tenant_id = $1 FOR UPDATE`, e.Tenant).Scan(&seq, &prev)
		}
	}
	if err != nil {
		return fmt.Errorf("auth: security log: %w", err)
	}
	e.Seq, e.PrevHash = seq+1, prev
	e.Hash = chainHash(prev, e)
	if _, err := tx.Exec(ctx, `INSERT INTO security_events
		(tenant_id, seq, occurred_at, kind, user_id, username, session_id, client_ip, detail, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		e.Tenant, e.Seq, e.Time, string(e.Kind), e.UserID, e.Username, e.SessionID, e.ClientIP, e.Detail, e.PrevHash, e.Hash); err != nil {
		return fmt.Errorf("auth: security log: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE security_event_heads SET seq = $2, hash = $3 WHERE tenant_id = $1`, e.Tenant, e.Seq, e.Hash); err != nil {
		return fmt.Errorf("auth: security log: %w", err)
	}
	return nil
}

const selectEvents = `SELECT tenant_id, seq, occurred_at, kind, user_id, username, session_id, client_ip, detail, prev_hash, hash
	FROM security_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`

// Events returns up to limit events of tenant's security log with a
// sequence number above after, oldest first.
func Events(ctx context.Context, db DB, tenant string, after int64, limit int) ([]Event, error) {
	rows, err := db.Query(ctx, selectEvents, tenant, after, limit)
	if err != nil {
		return nil, fmt.Errorf("auth: events: %w", err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var kind string
		err := r.Scan(&e.Tenant, &e.Seq, &e.Time, &kind, &e.UserID, &e.Username, &e.SessionID, &e.ClientIP, &e.Detail, &e.PrevHash, &e.Hash)
		e.Kind = EventKind(kind)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("auth: events: %w", err)
	}
	return evs, nil
}

// ChainError says where a security log failed verification. It matches
// ErrChainBroken with errors.Is.
type ChainError struct {
	Tenant string
	// Seq is the sequence number where the chain first breaks.
	Seq    int64
	Reason string
}

// Error says where and why the chain breaks.
func (e *ChainError) Error() string {
	return fmt.Sprintf("auth: security log of tenant %q broken at seq %d: %s", e.Tenant, e.Seq, e.Reason)
}

// Is reports whether target is ErrChainBroken.
func (e *ChainError) Is(target error) bool { return target == ErrChainBroken }

// VerifyEvents walks tenant's security log and checks that sequence numbers
// run 1..n without gaps, that each event names its predecessor's hash, that
// each hash matches the event's content, and that the chain ends at the
// recorded head. It returns the number of events checked, and a
// *ChainError when an event was changed, removed, inserted or reordered.
//
// A writer able to rewrite both the whole chain and its head goes
// undetected by this check alone: keep copies of the head hash elsewhere
// (an off-site log, a ticket) and compare.
func VerifyEvents(ctx context.Context, db DB, tenant string) (int64, error) {
	prev := genesis
	var n int64
	for {
		evs, err := Events(ctx, db, tenant, n, 1000)
		if err != nil {
			return n, err
		}
		for i := range evs {
			e := &evs[i]
			switch {
			case e.Seq != n+1:
				return n, &ChainError{Tenant: tenant, Seq: n + 1, Reason: fmt.Sprintf("missing event (next is %d)", e.Seq)}
			case !bytes.Equal(e.PrevHash, prev):
				return n, &ChainError{Tenant: tenant, Seq: e.Seq, Reason: "previous hash does not match"}
			case !bytes.Equal(chainHash(prev, e), e.Hash):
				return n, &ChainError{Tenant: tenant, Seq: e.Seq, Reason: "content does not match its hash"}
			}
			prev, n = e.Hash, e.Seq
		}
		if len(evs) < 1000 {
			break
		}
	}
	var (
		headSeq  int64
		headHash []byte
	)
	err := db.QueryRow(ctx, `SELECT seq, hash FROM security_event_heads WHERE tenant_id = $1`, tenant).Scan(&headSeq, &headHash)
	if errors.Is(err, pgx.ErrNoRows) {
		if n == 0 {
			return 0, nil
		}
		return n, &ChainError{Tenant: tenant, Seq: n, Reason: "head missing"}
	}
	if err != nil {
		return n, fmt.Errorf("auth: verify events: %w", err)
	}
	if headSeq != n || !bytes.Equal(headHash, prev) {
		return n, &ChainError{Tenant: tenant, Seq: n + 1, Reason: fmt.Sprintf("chain ends at %d, head says %d", n, headSeq)}
	}
	return n, nil
}
