package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequireRecentAuth returns ErrReauthRequired unless id's user proved
// possession of a factor (logged in, passed the second factor, or
// Reauthenticate) within maxAge, by the access token's auth_time. The
// server calls it before sensitive actions — a password change or reset,
// a role change, an MFA enrolment, break-the-glass — and on
// ErrReauthRequired asks for the password or a code and calls
// Reauthenticate.
func (s *Service) RequireRecentAuth(id Identity, maxAge time.Duration) error {
	if id.AuthTime.IsZero() || s.clock.Now().Sub(id.AuthTime) > maxAge {
		return ErrReauthRequired
	}
	return nil
}

// Reauthenticate renews the proof of possession of id's session: secret
// is the user's password, or a TOTP code (six digits) for a user with a
// confirmed second factor. On success the session's auth_time is now and
// the returned Tokens hold a new access token carrying it (no refresh
// token: the session's refresh token stays valid; a browser gets the new
// access cookie with SetSessionCookies). A wrong secret counts toward the
// account's lock-out. Both outcomes are security events
// (reauth.succeeded, reauth.failed).
//
// Errors: ErrRateLimited; ErrInvalidCredentials for a wrong secret, a
// disabled or locked account; ErrInvalidToken (with ErrSessionRevoked)
// when the session has ended.
func (s *Service) Reauthenticate(ctx context.Context, id Identity, secret, clientIP string) (Tokens, error) {
	if !s.cfg.Limiter.Allow(ClientKey(clientIP)) {
		return Tokens{}, ErrRateLimited
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: reauthenticate: %w", err)
	}
	defer tx.Rollback(ctx)
	var (
		revoked *time.Time
		expires time.Time
	)
	err = tx.QueryRow(ctx, `SELECT revoked_at, expires_at FROM auth_sessions WHERE id::text = $1 AND tenant_id = $2 AND user_id::text = $3 FOR UPDATE`,
		id.SessionID, id.Tenant, id.UserID).Scan(&revoked, &expires)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && (revoked != nil || !now.Before(expires)) {
		return Tokens{}, errSessionRevoked
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: reauthenticate: %w", err)
	}
	var hash string
	cur, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE id::text = $1 FOR UPDATE`, id.UserID), &hash)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: reauthenticate: %w", err)
	}
	fail := func(detail string) (Tokens, error) {
		if err := appendEvent(ctx, tx, &Event{Tenant: cur.Tenant, Time: now, Kind: EventReauthFailed, UserID: cur.ID,
			SessionID: id.SessionID, ClientIP: clientIP, Detail: detail}); err != nil {
			return Tokens{}, err
		}
		if err := tx.Commit(ctx); err != nil {
			return Tokens{}, fmt.Errorf("auth: reauthenticate: %w", err)
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "auth: re-authentication failed", slog.String("tenant", cur.Tenant),
			slog.String("user_id", cur.ID), slog.String("session_id", id.SessionID), slog.String("reason", detail))
		return Tokens{}, ErrInvalidCredentials
	}
	switch {
	case cur.Status != StatusActive:
		return fail("disabled")
	case now.Before(cur.LockedUntil):
		return fail("locked")
	}
	method := ""
	if otp := normalizeOTP(secret); isOTP(otp) {
		if method, _, err = s.checkSecondFactor(ctx, tx, cur, false, otp, "", now); err != nil {
			return Tokens{}, err
		}
	} else if ok, _, herr := s.hasher.Verify(secret, hash); herr == nil && ok {
		method = "password"
	}
	if method == "" {
		if err := s.recordFailure(ctx, tx, cur, cur.Tenant, clientIP, now); err != nil {
			return Tokens{}, err
		}
		return fail("bad_secret")
	}
	if _, err := tx.Exec(ctx, `UPDATE auth_sessions SET auth_time = $2 WHERE id::text = $1`, id.SessionID, now); err != nil {
		return Tokens{}, fmt.Errorf("auth: reauthenticate: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = $1`, cur.ID); err != nil {
		return Tokens{}, fmt.Errorf("auth: reauthenticate: %w", err)
	}
	if err := appendEvent(ctx, tx, &Event{Tenant: cur.Tenant, Time: now, Kind: EventReauth, UserID: cur.ID,
		SessionID: id.SessionID, ClientIP: clientIP, Detail: method}); err != nil {
		return Tokens{}, err
	}
	nid := Identity{UserID: cur.ID, Tenant: cur.Tenant, Roles: cur.Roles, PatientID: cur.PatientID, SessionID: id.SessionID, AuthTime: now}
	t, err := s.tokens(nid, "", expires)
	if err != nil {
		return Tokens{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Tokens{}, fmt.Errorf("auth: reauthenticate: %w", err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "auth: re-authenticated", slog.String("tenant", cur.Tenant),
		slog.String("user_id", cur.ID), slog.String("session_id", id.SessionID))
	return t, nil
}
