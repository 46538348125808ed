package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MFA settings.
const (
	// DefaultMFATokenTTL is the life of an mfa_token (Config.MFATokenTTL).
	DefaultMFATokenTTL = 5 * time.Minute
	// RecoveryCodeCount recovery codes are issued at enrolment.
	RecoveryCodeCount = 10
)

// Second-factor methods, as listed in an mfa_required answer.
const (
	MFAMethodTOTP         = "totp"
	MFAMethodRecoveryCode = "recovery_code"
)

// MFAPolicy says which roles must use a second factor. A user holding any
// role in Required must: one without a confirmed TOTP is asked to enrol at
// login (MFARequiredError.Enroll). A user who enrolled of their own accord
// is always asked for the second factor.
type MFAPolicy struct {
	Required map[string]bool
}

// RequiredFor reports whether a user with roles must use a second factor.
func (p MFAPolicy) RequiredFor(roles []string) bool {
	for _, r := range roles {
		if p.Required[r] {
			return true
		}
	}
	return false
}

// MFARequired reports whether a user of tenant with roles must use a
// second factor: Config.TenantMFAPolicies[tenant] if present, else
// Config.MFAPolicy.
func (s *Service) MFARequired(tenant string, roles []string) bool {
	if p, ok := s.cfg.TenantMFAPolicies[tenant]; ok {
		return p.RequiredFor(roles)
	}
	return s.cfg.MFAPolicy.RequiredFor(roles)
}

// MFARequiredError is Login's answer when the password was right and a
// second factor is due: no session is open yet. Token is the mfa_token
// to present, within ExpiresIn, to LoginMFA (or the token endpoint's
// mfa-otp grant) with a TOTP code or a recovery code. When Enroll is set,
// the user has no confirmed TOTP and must enrol first: MFAAssociate with
// the token gives the secret, and LoginMFA with its first code confirms
// it. It matches ErrMFARequired.
type MFARequiredError struct {
	Token     string
	Methods   []string
	Enroll    bool
	ExpiresIn time.Duration
}

// Error says a second factor is required (never the token).
func (e *MFARequiredError) Error() string { return ErrMFARequired.Error() }

// Is reports whether target is ErrMFARequired.
func (e *MFARequiredError) Is(target error) bool { return target == ErrMFARequired }

// TOTPEnrollment is a TOTP secret to show once, as text and as a QR code
// of URI.
type TOTPEnrollment struct {
	Secret string // base32
	URI    string // otpauth://totp/...
}

func totpConfirmed(ctx context.Context, tx pgx.Tx, userID string) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT confirmed_at IS NOT NULL AND length(secret) > 0 FROM auth_mfa_totp WHERE user_id = $1`, userID).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("auth: mfa: %w", err)
	}
	return ok, nil
}

// challengeMFA ends a login whose password was right with an mfa_token.
// The failure count is not reset: only the second factor completes a
// login.
// The methods offered are the factors the user has (TOTP with its
// recovery codes, passkeys); a user with none must enrol a TOTP.
func (s *Service) challengeMFA(ctx context.Context, tx pgx.Tx, cur User, newHash string, totp, passkey bool, clientIP string, now time.Time) (Tokens, error) {
	enroll := !totp && !passkey
	if newHash != "" {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, cur.ID, newHash); err != nil {
			return Tokens{}, fmt.Errorf("auth: login: %w", err)
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Tokens{}, err
	}
	tok, hash, err := newRefreshToken(id)
	if err != nil {
		return Tokens{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO auth_mfa_challenges (id, token_hash, tenant_id, user_id, client_key, enroll, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, hash, cur.Tenant, cur.ID, ClientKey(clientIP), enroll, now, now.Add(s.cfg.MFATokenTTL)); err != nil {
		return Tokens{}, fmt.Errorf("auth: login: %w", err)
	}
	detail := ""
	var methods []string
	if totp {
		methods = append(methods, MFAMethodTOTP, MFAMethodRecoveryCode)
	}
	if passkey {
		methods = append(methods, MFAMethodWebAuthn)
	}
	if enroll {
		detail, methods = "enroll", []string{MFAMethodTOTP}
	}
	if err := appendEvent(ctx, tx, &Event{Tenant: cur.Tenant, Time: now, Kind: EventMFAChallenged, UserID: cur.ID,
		Username: cur.Username, ClientIP: clientIP, Detail: detail}); err != nil {
		return Tokens{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Tokens{}, fmt.Errorf("auth: login: %w", err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "auth: second factor required", slog.String("tenant", cur.Tenant),
		slog.String("user_id", cur.ID), slog.Bool("enroll", enroll), slog.String("client_ip", clientIP))
	return Tokens{}, &MFARequiredError{Token: tok, Methods: methods, Enroll: enroll, ExpiresIn: s.cfg.MFATokenTTL}
}

type challengeRow struct {
	tenant, userID, clientKey string
	enroll                    bool
	expires                   time.Time
	used                      *time.Time
}

// lockChallenge finds and locks the challenge of an mfa_token, and checks
// it is unused, unexpired and presented by the client it was issued to.
// A refused token that exists gets an mfa.failed event (committed by the
// caller through fail).
func (s *Service) lockChallenge(ctx context.Context, tx pgx.Tx, mfaToken, clientIP string, now time.Time) (uuid.UUID, challengeRow, string, error) {
	var c challengeRow
	id, hash, ok := parseRefreshToken(mfaToken)
	if !ok {
		return id, c, "", ErrInvalidMFAToken
	}
	err := tx.QueryRow(ctx, `SELECT tenant_id, user_id::text, client_key, enroll, expires_at, used_at FROM auth_mfa_challenges
		WHERE id = $1 AND token_hash = $2 FOR UPDATE`, id, hash).Scan(&c.tenant, &c.userID, &c.clientKey, &c.enroll, &c.expires, &c.used)
	if errors.Is(err, pgx.ErrNoRows) {
		return id, c, "", ErrInvalidMFAToken
	}
	if err != nil {
		return id, c, "", fmt.Errorf("auth: mfa: %w", err)
	}
	switch {
	case c.used != nil:
		return id, c, "mfa_token_reused", ErrInvalidMFAToken
	case !now.Before(c.expires):
		return id, c, "mfa_token_expired", ErrInvalidMFAToken
	case c.clientKey != ClientKey(clientIP):
		return id, c, "mfa_token_other_client", ErrInvalidMFAToken
	}
	return id, c, "", nil
}

// LoginMFA is the second step of a login that answered
// MFARequiredError: the mfa_token with a TOTP code (otp) or one of the
// user's recovery codes. The mfa_token is spent by this call, right or
// wrong (single use: after a wrong code the client starts again with the
// password). A right code opens the session as Login does; for an
// enrolment challenge the first code confirms the TOTP and
// Tokens.RecoveryCodes holds the recovery codes, shown once. A TOTP code
// is accepted once per user and step (replay protection). A wrong code
// counts toward the account's lock-out like a wrong password. Every
// outcome is a security event.
//
// Errors: ErrRateLimited; ErrInvalidMFAToken for an unknown, spent or
// expired mfa_token or one issued to another client; ErrInvalidCredentials
// for a wrong code or a disabled or locked account.
func (s *Service) LoginMFA(ctx context.Context, mfaToken, otp, recoveryCode, clientIP string) (Tokens, error) {
	if !s.cfg.Limiter.Allow(ClientKey(clientIP)) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth: login rate limited", slog.String("client_ip", clientIP))
		return Tokens{}, ErrRateLimited
	}
	otp, recoveryCode = normalizeOTP(otp), normalizeRecoveryCode(recoveryCode)
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: mfa: %w", err)
	}
	defer tx.Rollback(ctx)
	cid, c, why, err := s.lockChallenge(ctx, tx, mfaToken, clientIP, now)
	fail := func(detail string, result error) (Tokens, error) {
		return s.refuseSecondFactor(ctx, tx, c, now, clientIP, "mfa", detail, result)
	}
	if why != "" {
		return fail(why, err)
	}
	if err != nil {
		return Tokens{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE auth_mfa_challenges SET used_at = $2 WHERE id = $1`, cid, now); err != nil {
		return Tokens{}, fmt.Errorf("auth: mfa: %w", err)
	}
	cur, why, err := lockSecondFactorUser(ctx, tx, c, now)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: mfa: %w", err)
	}
	if why != "" {
		return fail(why, ErrInvalidCredentials)
	}
	method, codes, err := s.checkSecondFactor(ctx, tx, cur, c.enroll, otp, recoveryCode, now)
	if err != nil {
		return Tokens{}, err
	}
	if method == "" {
		if err := s.recordFailure(ctx, tx, cur, cur.Tenant, clientIP, now); err != nil {
			return Tokens{}, err
		}
		return fail("bad_code", ErrInvalidCredentials)
	}
	if codes != nil {
		if err := appendEvent(ctx, tx, &Event{Tenant: cur.Tenant, Time: now, Kind: EventMFAEnrolled, UserID: cur.ID,
			ClientIP: clientIP, Detail: "totp"}); err != nil {
			return Tokens{}, err
		}
	}
	if err := appendEvent(ctx, tx, &Event{Tenant: cur.Tenant, Time: now, Kind: EventMFASucceeded, UserID: cur.ID,
		ClientIP: clientIP, Detail: method}); err != nil {
		return Tokens{}, err
	}
	t, err := s.openSession(ctx, tx, cur, "", "mfa="+method, clientIP, now)
	t.RecoveryCodes = codes
	return t, err
}

// refuseSecondFactor records a refused answer to the MFA step of
// challenge c (detail says why) as a security event, commits tx, which
// keeps the challenge spent, and returns result. op names the step in
// errors.
func (s *Service) refuseSecondFactor(ctx context.Context, tx pgx.Tx, c challengeRow, now time.Time, clientIP, op, detail string, result error) (Tokens, error) {
	if err := appendEvent(ctx, tx, &Event{Tenant: c.tenant, Time: now, Kind: EventMFAFailed, UserID: c.userID,
		ClientIP: clientIP, Detail: detail}); err != nil {
		return Tokens{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Tokens{}, fmt.Errorf("auth: %s: %w", op, err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "auth: second factor failed", slog.String("tenant", c.tenant),
		slog.String("user_id", c.userID), slog.String("client_ip", clientIP), slog.String("reason", detail))
	return Tokens{}, result
}

// lockSecondFactorUser reads and locks the user of challenge c; why is
// "disabled" or "locked" when that user may not sign in now.
func lockSecondFactorUser(ctx context.Context, tx pgx.Tx, c challengeRow, now time.Time) (u User, why string, err error) {
	u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, c.userID), nil)
	switch {
	case err != nil:
		return u, "", err
	case u.Status != StatusActive:
		return u, "disabled", nil
	case now.Before(u.LockedUntil):
		return u, "locked", nil
	}
	return u, "", nil
}

// checkSecondFactor checks otp or recoveryCode for cur inside tx and
// returns the method that passed ("" for none). For an enrolment, otp is
// checked against the pending secret, which it confirms, and the new
// recovery codes are returned.
func (s *Service) checkSecondFactor(ctx context.Context, tx pgx.Tx, cur User, enroll bool, otp, recoveryCode string, now time.Time) (string, []string, error) {
	var (
		secret    []byte
		confirmed *time.Time
		lastStep  int64
	)
	err := tx.QueryRow(ctx, `SELECT secret, confirmed_at, last_step FROM auth_mfa_totp WHERE user_id = $1 FOR UPDATE`, cur.ID).
		Scan(&secret, &confirmed, &lastStep)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("auth: mfa: %w", err)
	}
	usable := len(secret) > 0 && (confirmed != nil) != enroll
	switch {
	case usable && otp != "":
		st := matchTOTP(secret, otp, now, lastStep)
		if st == 0 {
			return "", nil, nil
		}
		if _, err := tx.Exec(ctx, `UPDATE auth_mfa_totp SET last_step = $2, confirmed_at = coalesce(confirmed_at, $3) WHERE user_id = $1`,
			cur.ID, st, now); err != nil {
			return "", nil, fmt.Errorf("auth: mfa: %w", err)
		}
		if !enroll {
			return MFAMethodTOTP, nil, nil
		}
		codes, err := newRecoveryCodes(ctx, tx, cur.ID, now)
		return MFAMethodTOTP, codes, err
	case usable && !enroll && recoveryCode != "":
		ok, err := useRecoveryCode(ctx, tx, cur.ID, recoveryCode, now)
		if err != nil || !ok {
			return "", nil, err
		}
		return MFAMethodRecoveryCode, nil, nil
	}
	return "", nil, nil
}

// Recovery codes are 12 base32 characters (60 bits) shown as
// xxxx-xxxx-xxxx; stored as sha256(salt || code) with a 128-bit random
// salt each (ASVS 2.6.2: under 112 bits, salted and hashed).
func newRecoveryCodes(ctx context.Context, tx pgx.Tx, userID string, now time.Time) ([]string, error) {
	// Codes issued before are void.
	if _, err := tx.Exec(ctx, `UPDATE auth_recovery_codes SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`, userID, now); err != nil {
		return nil, fmt.Errorf("auth: recovery codes: %w", err)
	}
	codes := make([]string, RecoveryCodeCount)
	for i := range codes {
		var b [8]byte
		var salt [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		if _, err := rand.Read(salt[:]); err != nil {
			return nil, err
		}
		c := strings.ToLower(b32.EncodeToString(b[:]))[:12]
		codes[i] = c[:4] + "-" + c[4:8] + "-" + c[8:]
		if _, err := tx.Exec(ctx, `INSERT INTO auth_recovery_codes (user_id, salt, code_hash, created_at) VALUES ($1, $2, $3, $4)`,
			userID, salt[:], recoveryHash(salt[:], c), now); err != nil {
			return nil, fmt.Errorf("auth: recovery codes: %w", err)
		}
	}
	return codes, nil
}

func recoveryHash(salt []byte, code string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(code))
	return h.Sum(nil)
}

// normalizeRecoveryCode drops dashes and spaces and lower-cases.
func normalizeRecoveryCode(s string) string {
	return strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(s))
}

func useRecoveryCode(ctx context.Context, tx pgx.Tx, userID, code string, now time.Time) (bool, error) {
	rows, err := tx.Query(ctx, `SELECT salt, code_hash FROM auth_recovery_codes WHERE user_id = $1 AND used_at IS NULL FOR UPDATE`, userID)
	if err != nil {
		return false, fmt.Errorf("auth: recovery codes: %w", err)
	}
	type rc struct{ salt, hash []byte }
	rcs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rc, error) {
		var v rc
		return v, r.Scan(&v.salt, &v.hash)
	})
	if err != nil {
		return false, fmt.Errorf("auth: recovery codes: %w", err)
	}
	var match []byte
	for _, v := range rcs {
		if subtle.ConstantTimeCompare(recoveryHash(v.salt, code), v.hash) == 1 {
			match = v.hash
		}
	}
	if match == nil {
		return false, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE auth_recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2`, userID, match, now); err != nil {
		return false, fmt.Errorf("auth: recovery codes: %w", err)
	}
	return true, nil
}

// upsertPendingTOTP stores a new unconfirmed secret for the user,
// replacing a pending one; it refuses (ErrConflict) when a confirmed one
// exists.
func (s *Service) upsertPendingTOTP(ctx context.Context, tx pgx.Tx, tenant, userID, username string, now time.Time) (TOTPEnrollment, error) {
	if ok, err := totpConfirmed(ctx, tx, userID); err != nil {
		return TOTPEnrollment{}, err
	} else if ok {
		return TOTPEnrollment{}, fmt.Errorf("%w: second factor already enrolled", ErrConflict)
	}
	secret, err := NewTOTPSecret()
	if err != nil {
		return TOTPEnrollment{}, err
	}
	key, _ := decodeTOTPSecret(secret)
	if _, err := tx.Exec(ctx, `INSERT INTO auth_mfa_totp (user_id, tenant_id, secret, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, confirmed_at = NULL, last_step = 0`,
		userID, tenant, key, now); err != nil {
		return TOTPEnrollment{}, fmt.Errorf("auth: mfa enrol: %w", err)
	}
	return TOTPEnrollment{Secret: secret, URI: TOTPURI(s.cfg.MFAIssuer, username, secret)}, nil
}

// MFAAssociate gives the TOTP secret for an enrolment challenge (an
// MFARequiredError with Enroll): the mfa_token is not spent, so the
// client then calls LoginMFA with it and the first code. Each call makes
// a new pending secret. Errors: ErrInvalidMFAToken (also for a
// challenge that is no enrolment), ErrConflict.
func (s *Service) MFAAssociate(ctx context.Context, mfaToken, clientIP string) (TOTPEnrollment, error) {
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return TOTPEnrollment{}, fmt.Errorf("auth: mfa: %w", err)
	}
	defer tx.Rollback(ctx)
	_, c, _, err := s.lockChallenge(ctx, tx, mfaToken, clientIP, now)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	if !c.enroll {
		return TOTPEnrollment{}, ErrInvalidMFAToken
	}
	var username string
	if err := tx.QueryRow(ctx, `SELECT username FROM users WHERE id = $1`, c.userID).Scan(&username); err != nil {
		return TOTPEnrollment{}, fmt.Errorf("auth: mfa: %w", err)
	}
	en, err := s.upsertPendingTOTP(ctx, tx, c.tenant, c.userID, username, now)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return TOTPEnrollment{}, fmt.Errorf("auth: mfa: %w", err)
	}
	return en, nil
}

// EnrollTOTP starts a TOTP enrolment for a logged-in user: it stores a
// new pending secret and returns it to show once (text and QR code of
// URI). The second factor is not in force until ConfirmTOTP. The server
// should demand RequireRecentAuth first. ErrConflict when the user has a
// confirmed TOTP already (an admin removes it with Store.ResetMFA).
func (s *Service) EnrollTOTP(ctx context.Context, id Identity) (TOTPEnrollment, error) {
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return TOTPEnrollment{}, fmt.Errorf("auth: mfa enrol: %w", err)
	}
	defer tx.Rollback(ctx)
	var username string
	if err := tx.QueryRow(ctx, `SELECT username FROM users WHERE id::text = $1 AND tenant_id = $2`, id.UserID, id.Tenant).Scan(&username); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return TOTPEnrollment{}, ErrNotFound
		}
		return TOTPEnrollment{}, fmt.Errorf("auth: mfa enrol: %w", err)
	}
	en, err := s.upsertPendingTOTP(ctx, tx, id.Tenant, id.UserID, username, now)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return TOTPEnrollment{}, fmt.Errorf("auth: mfa enrol: %w", err)
	}
	return en, nil
}

// ConfirmTOTP completes EnrollTOTP with the first code from the user's
// app and returns the RecoveryCodeCount recovery codes, to show once (only
// their salted hashes are kept). From then on every login asks for the
// second factor. ErrInvalidCredentials for a wrong code (counted toward
// lock-out), ErrNotFound without a pending enrolment.
func (s *Service) ConfirmTOTP(ctx context.Context, id Identity, code string) ([]string, error) {
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: mfa confirm: %w", err)
	}
	defer tx.Rollback(ctx)
	cur, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id::text = $1 AND tenant_id = $2 FOR UPDATE`, id.UserID, id.Tenant), nil)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("auth: mfa confirm: %w", err)
	}
	if ok, err := totpConfirmed(ctx, tx, cur.ID); err != nil {
		return nil, err
	} else if ok {
		return nil, fmt.Errorf("%w: second factor already enrolled", ErrConflict)
	}
	method, codes, err := s.checkSecondFactor(ctx, tx, cur, true, normalizeOTP(code), "", now)
	if err != nil {
		return nil, err
	}
	if method == "" {
		if err := s.recordFailure(ctx, tx, cur, cur.Tenant, "", now); err != nil {
			return nil, err
		}
		if err := appendEvent(ctx, tx, &Event{Tenant: cur.Tenant, Time: now, Kind: EventMFAFailed, UserID: cur.ID,
			SessionID: id.SessionID, Detail: "enroll_bad_code"}); err != nil {
			return nil, err
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, fmt.Errorf("auth: mfa confirm: %w", err)
		}
		return nil, ErrInvalidCredentials
	}
	if err := appendEvent(ctx, tx, &Event{Tenant: cur.Tenant, Time: now, Kind: EventMFAEnrolled, UserID: cur.ID,
		SessionID: id.SessionID, Detail: "totp"}); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("auth: mfa confirm: %w", err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "auth: second factor enrolled", slog.String("tenant", cur.Tenant), slog.String("user_id", cur.ID))
	return codes, nil
}

// MFAEnrolled reports whether the user has a confirmed TOTP.
func (s *Service) MFAEnrolled(ctx context.Context, tenant, userID string) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth_mfa_totp m JOIN users u ON u.id = m.user_id
		WHERE u.id::text = $1 AND u.tenant_id = $2 AND m.confirmed_at IS NOT NULL AND length(m.secret) > 0)`, userID, tenant).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("auth: mfa: %w", err)
	}
	return ok, nil
}

// ResetMFA removes a user's second factor (TOTP and passkeys) and voids their recovery codes
// (for a lost phone, after checking who asks), and revokes all their
// sessions. If their roles require MFA they enrol again at the next login.
// ErrNotFound for an unknown user.
func (s *Store) ResetMFA(ctx context.Context, tenant, id string) error {
	return s.updateRevoking(ctx, "reset mfa", tenant, id, Event{Kind: EventMFAReset}, func(tx pgx.Tx, u User, _ string, now time.Time) ([]string, error) {
		if _, err := tx.Exec(ctx, `UPDATE auth_mfa_totp SET secret = '\x', confirmed_at = NULL, last_step = 0 WHERE user_id = $1`, u.ID); err != nil {
			return nil, fmt.Errorf("auth: reset mfa: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE auth_recovery_codes SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`, u.ID, now); err != nil {
			return nil, fmt.Errorf("auth: reset mfa: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE auth_webauthn_credentials SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, u.ID, now); err != nil {
			return nil, fmt.Errorf("auth: reset mfa: %w", err)
		}
		return revokeUserSessions(ctx, tx, u.ID, now, "mfa_reset")
	})
}
