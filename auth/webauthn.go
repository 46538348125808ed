package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MFAMethodWebAuthn is the passkey (WebAuthn) second factor, as listed in
// an mfa_required answer.
const MFAMethodWebAuthn = "webauthn"

// PasskeyCeremonyTTL bounds a passkey registration begun and not
// finished.
const PasskeyCeremonyTTL = 5 * time.Minute

// ErrPasskeysDisabled: Config.WebAuthn names no relying party, so
// passkeys are off.
var ErrPasskeysDisabled = errors.New("auth: passkeys are not configured")

// WebAuthnConfig is the relying party of passkeys (WebAuthn). Passkeys
// are off while RPID is empty.
//
// RPID is the host name the credentials are scoped to ("historia.example.org",
// or "localhost" for a server on the loopback: browsers treat
// http://localhost as a secure context, and an IP address is never an RP
// ID). Origins are the exact origins the browser may report
// ("https://historia.example.org"); an assertion from any other origin is
// refused, which is what makes a passkey phishing-resistant. Take both
// from the server's configured public origin, never from a request's Host.
type WebAuthnConfig struct {
	RPID          string
	RPDisplayName string // default Config.MFAIssuer
	Origins       []string
}

// Passkey is a registered WebAuthn credential as the account page lists
// it (no key material).
type Passkey struct {
	ID         []byte // the credential id
	AAGUID     []byte // the authenticator model, zeros when not attested
	Transports []string
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// newWebAuthn builds the library's relying party from c; nil when
// passkeys are off.
func newWebAuthn(c WebAuthnConfig, issuer string) (*webauthn.WebAuthn, error) {
	if c.RPID == "" {
		return nil, nil
	}
	if len(c.Origins) == 0 {
		return nil, errors.New("auth: WebAuthn.Origins is required with WebAuthn.RPID")
	}
	name := c.RPDisplayName
	if name == "" {
		name = issuer
	}
	w, err := webauthn.New(&webauthn.Config{RPID: c.RPID, RPDisplayName: name, RPOrigins: c.Origins,
		AttestationPreference: protocol.PreferNoAttestation})
	if err != nil {
		return nil, fmt.Errorf("auth: webauthn config: %w", err)
	}
	return w, nil
}

// PasskeysEnabled reports whether passkeys are configured.
func (s *Service) PasskeysEnabled() bool { return s.webauthn != nil }

// waUser is a user as the WebAuthn library sees it. The user handle is
// the user's id (a UUID: no name, mail or other personal data).
type waUser struct {
	id       uuid.UUID
	username string
	creds    []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return u.id[:] }
func (u *waUser) WebAuthnName() string                       { return u.username }
func (u *waUser) WebAuthnDisplayName() string                { return u.username }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// loadWAUser reads user id (locked with FOR UPDATE when lock) and their
// passkeys not revoked.
func loadWAUser(ctx context.Context, tx pgx.Tx, userID string) (*waUser, error) {
	var u waUser
	if err := tx.QueryRow(ctx, `SELECT id, username FROM users WHERE id::text = $1`, userID).Scan(&u.id, &u.username); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT credential_id, public_key, sign_count, clone_warning, transports, aaguid,
		attestation_type, attestation_format, flags FROM auth_webauthn_credentials
		WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at FOR UPDATE`, u.id)
	if err != nil {
		return nil, err
	}
	u.creds, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (webauthn.Credential, error) {
		var (
			c          webauthn.Credential
			count      int64
			transports []string
			flags      int16
		)
		err := r.Scan(&c.ID, &c.PublicKey, &count, &c.Authenticator.CloneWarning, &transports, &c.Authenticator.AAGUID,
			&c.AttestationType, &c.AttestationFormat, &flags)
		c.Authenticator.SignCount = uint32(count)
		for _, t := range transports {
			c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
		}
		c.Flags = webauthn.CredentialFlagsFromMsgpByte(byte(flags))
		return c, err
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func hasPasskey(ctx context.Context, tx pgx.Tx, userID string) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth_webauthn_credentials WHERE user_id = $1 AND revoked_at IS NULL)`, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("auth: mfa: %w", err)
	}
	return ok, nil
}

// Passkeys lists the user's passkeys in force, oldest first.
func (s *Service) Passkeys(ctx context.Context, tenant, userID string) ([]Passkey, error) {
	rows, err := s.db.Query(ctx, `SELECT c.credential_id, c.aaguid, c.transports, c.created_at, c.last_used_at
		FROM auth_webauthn_credentials c JOIN users u ON u.id = c.user_id
		WHERE u.id::text = $1 AND u.tenant_id = $2 AND c.revoked_at IS NULL ORDER BY c.created_at`, userID, tenant)
	if err != nil {
		return nil, fmt.Errorf("auth: passkeys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Passkey, error) {
		var p Passkey
		return p, r.Scan(&p.ID, &p.AAGUID, &p.Transports, &p.CreatedAt, &p.LastUsedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("auth: passkeys: %w", err)
	}
	return out, nil
}

// BeginPasskeyRegistration starts the registration of a passkey for a
// logged-in user: it returns the options for the browser's
// navigator.credentials.create (JSON, {"publicKey": …}) and keeps the
// ceremony's challenge on the server, bound to the session of id, for
// PasskeyCeremonyTTL. The user's passkeys are excluded (an authenticator
// is registered once). The server should demand RequireRecentAuth first.
// Errors: ErrPasskeysDisabled, ErrNotFound.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, id Identity) ([]byte, error) {
	if s.webauthn == nil {
		return nil, ErrPasskeysDisabled
	}
	sid, err := uuid.Parse(id.SessionID)
	if err != nil {
		return nil, ErrNotFound
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: passkey register: %w", err)
	}
	defer tx.Rollback(ctx)
	var tenant string
	if err := tx.QueryRow(ctx, `SELECT tenant_id FROM users WHERE id::text = $1 AND tenant_id = $2`, id.UserID, id.Tenant).Scan(&tenant); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("auth: passkey register: %w", err)
	}
	u, err := loadWAUser(ctx, tx, id.UserID)
	if err != nil {
		return nil, fmt.Errorf("auth: passkey register: %w", err)
	}
	creation, session, err := s.webauthn.BeginRegistration(u,
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationPreferred}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	if err != nil {
		return nil, fmt.Errorf("auth: passkey register: %w", err)
	}
	sd, err := json.Marshal(session)
	if err != nil {
		return nil, err
	}
	opts, err := json.Marshal(creation)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO auth_webauthn_registrations (session_id, tenant_id, user_id, session_data, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id) DO UPDATE SET tenant_id = excluded.tenant_id, user_id = excluded.user_id,
		session_data = excluded.session_data, created_at = excluded.created_at, expires_at = excluded.expires_at, used_at = NULL`,
		sid, tenant, u.id, sd, now, now.Add(PasskeyCeremonyTTL)); err != nil {
		return nil, fmt.Errorf("auth: passkey register: %w", err)
	}
	if err := appendEvent(ctx, tx, &Event{Tenant: tenant, Time: now, Kind: EventPasskeyChallenged, UserID: id.UserID,
		SessionID: id.SessionID, Detail: "register"}); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("auth: passkey register: %w", err)
	}
	return opts, nil
}

// FinishPasskeyRegistration completes BeginPasskeyRegistration with the
// browser's answer (the PublicKeyCredential as JSON, base64url fields):
// the attestation is checked against the challenge kept for this
// session, the RP ID and the configured origins, and the credential is
// stored. The challenge is spent, right or wrong. From then on the user's
// logins ask for a second factor, which the passkey answers.
// Errors: ErrPasskeysDisabled; ErrInvalidCredentials for an answer that
// does not verify or no registration under way; ErrConflict for a
// credential registered already.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, id Identity, response []byte, clientIP string) error {
	if s.webauthn == nil {
		return ErrPasskeysDisabled
	}
	sid, err := uuid.Parse(id.SessionID)
	if err != nil {
		return ErrInvalidCredentials
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("auth: passkey register: %w", err)
	}
	defer tx.Rollback(ctx)
	var (
		tenant, userID string
		sd             []byte
		expires        time.Time
		used           *time.Time
	)
	err = tx.QueryRow(ctx, `SELECT tenant_id, user_id::text, session_data, expires_at, used_at FROM auth_webauthn_registrations
		WHERE session_id = $1 FOR UPDATE`, sid).Scan(&tenant, &userID, &sd, &expires, &used)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrInvalidCredentials
	}
	if err != nil {
		return fmt.Errorf("auth: passkey register: %w", err)
	}
	fail := func(detail string, result error) error {
		if err := appendEvent(ctx, tx, &Event{Tenant: tenant, Time: now, Kind: EventMFAFailed, UserID: userID,
			SessionID: id.SessionID, ClientIP: clientIP, Detail: detail}); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("auth: passkey register: %w", err)
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "auth: passkey registration refused", slog.String("tenant", tenant),
			slog.String("user_id", userID), slog.String("reason", detail))
		return result
	}
	switch {
	case userID != id.UserID || tenant != id.Tenant:
		return ErrInvalidCredentials
	case used != nil:
		return fail("webauthn_register_reused", ErrInvalidCredentials)
	case !now.Before(expires):
		return fail("webauthn_register_expired", ErrInvalidCredentials)
	}
	if _, err := tx.Exec(ctx, `UPDATE auth_webauthn_registrations SET used_at = $2 WHERE session_id = $1`, sid, now); err != nil {
		return fmt.Errorf("auth: passkey register: %w", err)
	}
	var session webauthn.SessionData
	if err := json.Unmarshal(sd, &session); err != nil {
		return fmt.Errorf("auth: passkey register: %w", err)
	}
	u, err := loadWAUser(ctx, tx, userID)
	if err != nil {
		return fmt.Errorf("auth: passkey register: %w", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return fail("webauthn_register_malformed", ErrInvalidCredentials)
	}
	cred, err := s.webauthn.CreateCredential(u, session, parsed)
	if err != nil {
		return fail("webauthn_register_invalid", ErrInvalidCredentials)
	}
	transports := make([]string, 0, len(cred.Transport))
	for _, t := range cred.Transport {
		transports = append(transports, string(t))
	}
	aaguid := cred.Authenticator.AAGUID
	if aaguid == nil {
		aaguid = []byte{}
	}
	tag, err := tx.Exec(ctx, `INSERT INTO auth_webauthn_credentials (credential_id, user_id, tenant_id, public_key, sign_count,
		transports, aaguid, attestation_type, attestation_format, flags, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (credential_id) DO NOTHING`,
		cred.ID, u.id, tenant, cred.PublicKey, int64(cred.Authenticator.SignCount), transports, aaguid,
		cred.AttestationType, cred.AttestationFormat, int16(cred.Flags.MsgpByte()), now)
	if err != nil {
		return fmt.Errorf("auth: passkey register: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fail("webauthn_register_duplicate", fmt.Errorf("%w: passkey registered already", ErrConflict))
	}
	if err := appendEvent(ctx, tx, &Event{Tenant: tenant, Time: now, Kind: EventMFAEnrolled, UserID: userID,
		SessionID: id.SessionID, ClientIP: clientIP, Detail: MFAMethodWebAuthn}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("auth: passkey register: %w", err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "auth: passkey registered", slog.String("tenant", tenant), slog.String("user_id", userID))
	return nil
}

// BeginPasskeyLogin starts a passkey answer to the second step of a login
// (an MFARequiredError whose Methods hold MFAMethodWebAuthn): it returns
// the options for navigator.credentials.get (JSON, {"publicKey": …})
// listing the user's passkeys, and keeps the challenge on the mfa_token's
// row. The mfa_token is not spent: LoginPasskey spends it (or LoginMFA,
// should the user type a code instead). Errors: ErrPasskeysDisabled;
// ErrInvalidMFAToken for an unknown, spent, expired or foreign token, or
// a user without a passkey.
func (s *Service) BeginPasskeyLogin(ctx context.Context, mfaToken, clientIP string) ([]byte, error) {
	if s.webauthn == nil {
		return nil, ErrPasskeysDisabled
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: passkey login: %w", err)
	}
	defer tx.Rollback(ctx)
	cid, c, _, err := s.lockChallenge(ctx, tx, mfaToken, clientIP, now)
	if err != nil {
		return nil, err
	}
	u, err := loadWAUser(ctx, tx, c.userID)
	if err != nil {
		return nil, fmt.Errorf("auth: passkey login: %w", err)
	}
	if len(u.creds) == 0 {
		return nil, ErrInvalidMFAToken
	}
	assertion, session, err := s.webauthn.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("auth: passkey login: %w", err)
	}
	sd, err := json.Marshal(session)
	if err != nil {
		return nil, err
	}
	opts, err := json.Marshal(assertion)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE auth_mfa_challenges SET webauthn_session = $2 WHERE id = $1`, cid, sd); err != nil {
		return nil, fmt.Errorf("auth: passkey login: %w", err)
	}
	if err := appendEvent(ctx, tx, &Event{Tenant: c.tenant, Time: now, Kind: EventPasskeyChallenged, UserID: c.userID,
		ClientIP: clientIP, Detail: "login"}); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("auth: passkey login: %w", err)
	}
	return opts, nil
}

// LoginPasskey is the second step of a login answered with a passkey: the
// mfa_token and the browser's assertion (the PublicKeyCredential as JSON).
// Like LoginMFA it spends the mfa_token, right or wrong, and a refused
// assertion counts toward the account's lock-out. The assertion must
// answer the challenge of BeginPasskeyLogin for this token, come from a
// configured origin, be signed by one of the user's passkeys, and carry a
// signature counter above the stored one (when either is non-zero):
// otherwise the authenticator may be cloned, the credential is marked and
// the login refused. A right one opens the session as Login does. Every
// outcome is a security event.
//
// Errors: ErrPasskeysDisabled; ErrRateLimited; ErrInvalidMFAToken;
// ErrInvalidCredentials.
func (s *Service) LoginPasskey(ctx context.Context, mfaToken string, response []byte, clientIP string) (Tokens, error) {
	if s.webauthn == nil {
		return Tokens{}, ErrPasskeysDisabled
	}
	if !s.cfg.Limiter.Allow(ClientKey(clientIP)) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth: login rate limited", slog.String("client_ip", clientIP))
		return Tokens{}, ErrRateLimited
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: passkey login: %w", err)
	}
	defer tx.Rollback(ctx)
	cid, c, why, err := s.lockChallenge(ctx, tx, mfaToken, clientIP, now)
	fail := func(detail string, result error) (Tokens, error) {
		return s.refuseSecondFactor(ctx, tx, c, now, clientIP, "passkey login", detail, result)
	}
	if why != "" {
		return fail(why, err)
	}
	if err != nil {
		return Tokens{}, err
	}
	var sd []byte
	if err := tx.QueryRow(ctx, `SELECT webauthn_session FROM auth_mfa_challenges WHERE id = $1`, cid).Scan(&sd); err != nil {
		return Tokens{}, fmt.Errorf("auth: passkey login: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE auth_mfa_challenges SET used_at = $2, webauthn_session = NULL WHERE id = $1`, cid, now); err != nil {
		return Tokens{}, fmt.Errorf("auth: passkey login: %w", err)
	}
	cur, why, err := lockSecondFactorUser(ctx, tx, c, now)
	switch {
	case err != nil:
		return Tokens{}, fmt.Errorf("auth: passkey login: %w", err)
	case why != "":
		return fail(why, ErrInvalidCredentials)
	case len(sd) == 0:
		return fail("webauthn_no_challenge", ErrInvalidMFAToken)
	}
	var session webauthn.SessionData
	if err := json.Unmarshal(sd, &session); err != nil {
		return Tokens{}, fmt.Errorf("auth: passkey login: %w", err)
	}
	u, err := loadWAUser(ctx, tx, c.userID)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: passkey login: %w", err)
	}
	refuse := func(detail string) (Tokens, error) {
		if err := s.recordFailure(ctx, tx, cur, cur.Tenant, clientIP, now); err != nil {
			return Tokens{}, err
		}
		return fail(detail, ErrInvalidCredentials)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return refuse("webauthn_malformed")
	}
	cred, err := s.webauthn.ValidateLogin(u, session, parsed)
	if err != nil {
		return refuse("webauthn_invalid")
	}
	if cred.Authenticator.CloneWarning {
		if _, err := tx.Exec(ctx, `UPDATE auth_webauthn_credentials SET clone_warning = true WHERE credential_id = $1`, cred.ID); err != nil {
			return Tokens{}, fmt.Errorf("auth: passkey login: %w", err)
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth: passkey signature counter did not grow: possible clone",
			slog.String("tenant", cur.Tenant), slog.String("user_id", cur.ID))
		return refuse("webauthn_clone")
	}
	if _, err := tx.Exec(ctx, `UPDATE auth_webauthn_credentials SET sign_count = $2, flags = $3, last_used_at = $4 WHERE credential_id = $1`,
		cred.ID, int64(cred.Authenticator.SignCount), int16(cred.Flags.MsgpByte()), now); err != nil {
		return Tokens{}, fmt.Errorf("auth: passkey login: %w", err)
	}
	if err := appendEvent(ctx, tx, &Event{Tenant: cur.Tenant, Time: now, Kind: EventMFASucceeded, UserID: cur.ID,
		ClientIP: clientIP, Detail: MFAMethodWebAuthn}); err != nil {
		return Tokens{}, err
	}
	return s.openSession(ctx, tx, cur, "", "mfa="+MFAMethodWebAuthn, clientIP, now)
}
