package auth

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Defaults of password-spraying detection.
const (
	DefaultSprayThreshold = 20
	DefaultSprayWindow    = time.Minute
)

// detectSpraying runs after a failed login's event was appended in tx,
// which holds the lock of the tenant's security-log head: so the check
// and the alert are serialized per tenant across every replica, and a
// window raises one alert. It counts the distinct usernames of the
// tenant's failed logins within Config.SprayWindow and, at
// Config.SprayThreshold or more with no login.spraying event in the
// window yet, appends one. It returns the count when it raised the alert,
// else 0.
func (s *Service) detectSpraying(ctx context.Context, tx pgx.Tx, tenant string, now time.Time, clientIP string) (int, error) {
	since := now.Add(-s.cfg.SprayWindow)
	var distinct int
	var alerted bool
	if err := tx.QueryRow(ctx, `SELECT
		(SELECT count(DISTINCT username) FROM security_events WHERE tenant_id = $1 AND kind = $2 AND occurred_at > $4),
		EXISTS (SELECT 1 FROM security_events WHERE tenant_id = $1 AND kind = $3 AND occurred_at > $4)`,
		tenant, string(EventLoginFailed), string(EventLoginSpraying), since).Scan(&distinct, &alerted); err != nil {
		return 0, fmt.Errorf("auth: spraying check: %w", err)
	}
	if distinct < s.cfg.SprayThreshold || alerted {
		return 0, nil
	}
	if err := appendEvent(ctx, tx, &Event{Tenant: tenant, Time: now, Kind: EventLoginSpraying, ClientIP: clientIP,
		Detail: fmt.Sprintf("usernames=%d window=%s", distinct, s.cfg.SprayWindow)}); err != nil {
		return 0, err
	}
	return distinct, nil
}

func (s *Service) raisedSpraying(ctx context.Context, tenant string, n int) {
	s.sprays.Add(1)
	s.log.LogAttrs(ctx, slog.LevelWarn, "auth: password spraying suspected", slog.String("tenant", tenant),
		slog.Int("usernames", n), slog.Duration("window", s.cfg.SprayWindow))
	if s.cfg.OnSpraying != nil {
		s.cfg.OnSpraying(tenant, n)
	}
}

// SprayingAlerts returns how many login.spraying events this replica has
// raised since it started: a counter for /metrics.
func (s *Service) SprayingAlerts() uint64 { return s.sprays.Load() }
