package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// RevocationChannel is the PostgreSQL NOTIFY channel on which every
// session revocation is announced, in the transaction that revokes, with
// the session id as payload.
const RevocationChannel = "historia_auth_revoked"

// Defaults of the revocation listener.
const (
	// DefaultRevocationMaxStale is how long the listener may be
	// disconnected before each request's session is checked in the
	// database instead (Config.RevocationMaxStale).
	DefaultRevocationMaxStale = 5 * time.Second
	// revocationPing is how often an idle listener checks its connection.
	revocationPing = 10 * time.Second
	// revocationMargin is added to the time a revoked session is
	// remembered, for clock differences between replicas.
	revocationMargin = time.Minute
)

// revocations is a replica's set of sessions revoked within an access
// token's life: a map read under an RWMutex, so the check on every request
// allocates nothing.
type revocations struct {
	mu sync.RWMutex
	m  map[string]time.Time // session id -> when it may be forgotten

	started   atomic.Bool
	downSince atomic.Int64 // Clock time (UnixNano) the listener lost its connection; 0 when up
	reloads   atomic.Int64 // completed (re)connections, for tests and metrics

	cancel context.CancelFunc
	done   chan struct{}
}

func (r *revocations) revoked(sid string) bool {
	r.mu.RLock()
	_, ok := r.m[sid]
	r.mu.RUnlock()
	return ok
}

func (r *revocations) add(forget time.Time, sids ...string) {
	if len(sids) == 0 {
		return
	}
	r.mu.Lock()
	if r.m == nil {
		r.m = map[string]time.Time{}
	}
	for _, s := range sids {
		if old, ok := r.m[s]; !ok || old.Before(forget) {
			r.m[s] = forget
		}
	}
	r.mu.Unlock()
}

func (r *revocations) prune(now time.Time) {
	r.mu.Lock()
	for k, t := range r.m {
		if now.After(t) {
			delete(r.m, k)
		}
	}
	r.mu.Unlock()
}

// window is how long a revoked session must be remembered: any access
// token of it is refused by its exp after that.
func (s *Service) revocationWindow() time.Duration {
	return s.cfg.AccessTTL + s.issuer.cfg.Leeway + revocationMargin
}

// revoked records sessions this replica revoked itself (their NOTIFY will
// come back too when the listener runs).
func (s *Service) revoked(sids []string) {
	s.rev.add(s.clock.Now().Add(s.revocationWindow()), sids...)
}

// Errors of the revocation check.
var (
	errSessionRevoked   = fmt.Errorf("%w: %w", ErrInvalidToken, ErrSessionRevoked)
	errRevocationUnsure = fmt.Errorf("%w: session state unknown", ErrUnavailable)
)

// CheckSession reports whether id's session is still live, as Middleware,
// Authenticate and VerifyContext check after the token's signature and
// claims: the session must not be in this replica's revocation set. While
// the revocation listener (StartRevocationListener) has been disconnected
// for longer than Config.RevocationMaxStale, the session is looked up in
// the database instead, and a failed lookup refuses the request (fail
// closed) with an error wrapping ErrUnavailable (the token is not known
// to be bad: answer 503). A revoked session's error wraps ErrInvalidToken
// and ErrSessionRevoked. An identity without a session id (a token not issued
// by Service) passes: there is nothing to revoke.
//
// The usual path is one map lookup under a read lock: no allocation, no
// database round trip.
func (s *Service) CheckSession(ctx context.Context, id Identity) error {
	if id.SessionID == "" {
		return nil
	}
	if s.rev.revoked(id.SessionID) {
		return errSessionRevoked
	}
	down := s.rev.downSince.Load()
	if down == 0 || s.clock.Now().UnixNano()-down <= int64(s.cfg.RevocationMaxStale) {
		return nil
	}
	var revoked bool
	err := s.db.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM auth_sessions WHERE id::text = $1`, id.SessionID).Scan(&revoked)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return errSessionRevoked
	case err != nil:
		s.log.LogAttrs(ctx, slog.LevelError, "auth: revocation fallback check failed; request refused",
			slog.String("session_id", id.SessionID), slog.String("error", err.Error()))
		return errRevocationUnsure
	case revoked:
		s.revoked([]string{id.SessionID})
		return errSessionRevoked
	}
	return nil
}

// VerifyContext checks an access token (Issuer.Verify, the signature
// check skipped for a token in the service's verified-token cache, see
// Config.TokenCacheSize) and then its session (CheckSession).
func (s *Service) VerifyContext(ctx context.Context, token string) (*Claims, error) {
	c, err := s.issuer.verify(token, s.sigs)
	if err != nil {
		return nil, err
	}
	if err := s.CheckSession(ctx, c.Identity()); err != nil {
		return nil, err
	}
	return c, nil
}

// StartRevocationListener keeps this replica's revocation set current:
// it LISTENs on RevocationChannel on a connection of its own, made by
// connect (e.g. func(ctx) { return pgx.Connect(ctx, url) }; not a pooled
// connection), and loads the sessions revoked within an access token's
// life. It returns once that is done, or the error of the first attempt;
// then a goroutine follows the notifications, pings the connection when
// idle, and on a lost connection reconnects with back-off (100 ms to 5 s)
// and reloads. While it is disconnected for longer than
// Config.RevocationMaxStale, CheckSession asks the database on every
// request. Cancelling ctx or calling Close stops it.
//
// Every server must call it — one replica too, because revocations by
// other processes (the historia CLI, another replica) reach it only this
// way. Without it, only the revocations made through this Service are
// seen at once.
func (s *Service) StartRevocationListener(ctx context.Context, connect func(context.Context) (*pgx.Conn, error)) error {
	if connect == nil {
		return errors.New("auth: revocation listener: nil connect")
	}
	if !s.rev.started.CompareAndSwap(false, true) {
		return errors.New("auth: revocation listener already started")
	}
	conn, err := s.listen(ctx, connect)
	if err != nil {
		s.rev.started.Store(false)
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	s.rev.cancel, s.rev.done = cancel, make(chan struct{})
	go s.followRevocations(lctx, conn, connect)
	return nil
}

// Close stops the revocation listener, if running, and waits for it.
func (s *Service) Close() error {
	if s.rev.cancel != nil {
		s.rev.cancel()
		<-s.rev.done
	}
	return nil
}

// RevocationListenerUp reports whether the revocation listener is
// connected (false before StartRevocationListener and while it
// reconnects), for /readyz and metrics.
func (s *Service) RevocationListenerUp() bool {
	return s.rev.started.Load() && s.rev.downSince.Load() == 0
}

// listen connects, LISTENs, then loads the revoked sessions: in that
// order, so that no revocation falls between the two.
func (s *Service) listen(ctx context.Context, connect func(context.Context) (*pgx.Conn, error)) (*pgx.Conn, error) {
	conn, err := connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: revocation listener: connect: %w", err)
	}
	fail := func(err error) (*pgx.Conn, error) {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("auth: revocation listener: %w", err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+RevocationChannel); err != nil {
		return fail(err)
	}
	now := s.clock.Now()
	rows, err := conn.Query(ctx, `SELECT id::text, revoked_at FROM auth_sessions WHERE revoked_at > $1`,
		now.Add(-s.revocationWindow()))
	if err != nil {
		return fail(err)
	}
	type rev struct {
		id string
		at time.Time
	}
	revs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rev, error) {
		var v rev
		err := r.Scan(&v.id, &v.at)
		return v, err
	})
	if err != nil {
		return fail(err)
	}
	for _, v := range revs {
		s.rev.add(v.at.Add(s.revocationWindow()), v.id)
	}
	s.rev.prune(now)
	s.rev.reloads.Add(1)
	return conn, nil
}

func (s *Service) followRevocations(ctx context.Context, conn *pgx.Conn, connect func(context.Context) (*pgx.Conn, error)) {
	defer close(s.rev.done)
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		wctx, cancel := context.WithTimeout(ctx, revocationPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			if n.Channel == RevocationChannel {
				s.revoked([]string{n.Payload})
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed() {
			pctx, cancel := context.WithTimeout(ctx, revocationPing/2)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				s.rev.prune(s.clock.Now())
				continue
			}
			if ctx.Err() != nil {
				return
			}
		}
		s.rev.downSince.Store(s.clock.Now().UnixNano())
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth: revocation listener lost its connection; reconnecting", slog.String("error", err.Error()))
		conn.Close(context.Background())
		conn = nil
		for backoff := 100 * time.Millisecond; conn == nil; backoff = min(2*backoff, 5*time.Second) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			if conn, err = s.listen(ctx, connect); err != nil {
				s.log.LogAttrs(ctx, slog.LevelWarn, "auth: revocation listener reconnect failed", slog.String("error", err.Error()))
			}
		}
		s.rev.downSince.Store(0)
		s.log.LogAttrs(ctx, slog.LevelInfo, "auth: revocation listener reconnected")
	}
}

// notifyRevoked is the SQL tail that announces revoked sessions: the
// UPDATE ... RETURNING id in CTE r is followed by one pg_notify per row,
// delivered when the transaction commits.
const notifyRevoked = ` SELECT r.id::text FROM r, pg_notify('` + RevocationChannel + `', r.id::text)`

func collectIDs(rows pgx.Rows) ([]string, error) {
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
