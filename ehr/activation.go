package ehr

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/rbac"
)

// KindPortalActivation is the audit kind of a portal activation code:
// its issue (action "create", by the staff member who hands it over) and
// its redemption (action "update", by the patient's new account). Both
// are recorded on the patient's chain and listed in the patient's
// AccessLog.
const KindPortalActivation = "portal-activation"

// ActivationLifetime is how long an activation code can be redeemed.
const ActivationLifetime = 72 * time.Hour

// RuleActivationCode is the audit rule of a redemption: the code, not
// the policy, authorized it.
const RuleActivationCode = "activation-code"

// Activation is a one-time code that links a new portal account to a
// patient. Code is set only by IssueActivation: it is shown once, to be
// handed to the patient, and only its SHA-256 is stored.
type Activation struct {
	ID        string
	PatientID string
	Code      string
	ExpiresAt time.Time
}

// codeAlphabet is Crockford's base32 (no I, L, O, U): read aloud and
// typed by patients.
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newActivationCode returns 20 random characters of codeAlphabet (100
// bits) in groups of five: "7K2QF-9XW4M-...".
func newActivationCode() string {
	var raw [20]byte
	rand.Read(raw[:])
	var b strings.Builder
	for i, c := range raw {
		if i > 0 && i%5 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(codeAlphabet[c&31])
	}
	return b.String()
}

// activationHash returns the stored form of code: SHA-256 (hex) of its
// characters upper-cased, without spaces or hyphens, with O read as 0
// and I, L as 1 (Crockford's decoding).
func activationHash(code string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(code) {
		switch c {
		case ' ', '-', '\t':
			continue
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		b.WriteRune(c)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

const insertActivationSQL = `INSERT INTO portal_activations (code_hash, id, tenant_id, patient_id, issued_by, issued_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`

// IssueActivation issues a one-time code with which patient patientID
// activates a portal account (RedeemActivation). Linking an account to a
// record is an identity check at the registration desk, so the policy
// must allow the actor to update the patient's demographics (rbac
// ActionUpdate on KindDemographics: the admisionista in the default
// policy; not an admin, not the patient). The issue is recorded on the
// patient's chain (action "create", kind KindPortalActivation, the
// activation's id as record) in the same transaction.
//
// It returns ErrInvalid for a malformed id, ErrNotFound when patientID is
// no patient of the actor's tenant, ErrDenied unless the policy allows
// it.
func (r *Repository) IssueActivation(ctx context.Context, patientID string) (Activation, error) {
	const op = "issue activation"
	pid, err := parseID("PatientID", patientID)
	if err != nil {
		return Activation{}, err
	}
	a, err := newAccess(ctx, op, rbac.ActionUpdate, rbac.KindDemographics, pid)
	if err != nil {
		return Activation{}, err
	}
	id := newID()
	a.actionName, a.kindName, a.record = rbac.ActionCreate.String(), KindPortalActivation, id.String()
	if err := r.authorize(ctx, r.db, op, a); err != nil {
		return Activation{}, err
	}
	now := r.clock()
	act := Activation{ID: id.String(), PatientID: a.patientID, Code: newActivationCode(), ExpiresAt: now.Add(ActivationLifetime)}
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.requirePatient(ctx, tx, op, a); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, insertActivationSQL, activationHash(act.Code), id, a.tenant, pid,
			a.actor.Principal.UserID, now, act.ExpiresAt); err != nil {
			return dbError(op, err)
		}
		return r.audit(ctx, tx, a, now)
	})
	if err != nil {
		return Activation{}, err
	}
	return act, nil
}

const (
	lockActivationSQL = `SELECT id, patient_id FROM portal_activations
WHERE code_hash = $1 AND tenant_id = $2 AND used_at IS NULL AND expires_at > $3 FOR UPDATE`
	spendActivationSQL = `UPDATE portal_activations SET used_at = $3, used_by = $4 WHERE code_hash = $1 AND tenant_id = $2`
)

// ErrActivationRefused is wrapped by RedeemActivation's answer to a code
// that is unknown in the tenant, expired or already used: the three are
// not told apart.
var ErrActivationRefused = invalid("Code", CodeInvalid, "unknown, expired or used activation code")

// RedeemActivation spends activation code code of tenant tenantID: it
// calls link with the code's patient, which creates the patient's
// account and returns its user id, and records the redemption on the
// patient's chain (action "update", kind KindPortalActivation, by the new
// user with role "paciente", rule RuleActivationCode). The code stays
// locked while link runs, so two redemptions cannot both succeed; when
// link fails nothing is written and the code can be used again. No actor
// is needed (the patient has no account yet); the context's actor, if
// any, gives the request id and address for the audit event.
//
// It returns ErrActivationRefused (ErrInvalid, field "Code") for a code
// unknown in the tenant, expired or used; link's error unchanged; or a
// database error. When the commit fails after link succeeded, the error
// wraps it and the account exists unlinked in the audit trail: the caller
// disables it.
func (r *Repository) RedeemActivation(ctx context.Context, tenantID, code string,
	link func(ctx context.Context, patientID string) (userID string, err error)) (Activation, error) {
	const op = "redeem activation"
	tenant, err := uuid.Parse(tenantID)
	if err != nil || strings.TrimSpace(code) == "" || len(code) > 64 {
		return Activation{}, ErrActivationRefused
	}
	hash := activationHash(code)
	now := r.clock()
	var act Activation
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		var id, pid uuid.UUID
		if err := tx.QueryRow(ctx, lockActivationSQL, hash, tenant, now).Scan(&id, &pid); errors.Is(err, pgx.ErrNoRows) {
			return ErrActivationRefused
		} else if err != nil {
			return dbError(op, err)
		}
		act = Activation{ID: id.String(), PatientID: pid.String()}
		userID, err := link(ctx, act.PatientID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, spendActivationSQL, hash, tenant, now, userID); err != nil {
			return dbError(op, err)
		}
		meta, _ := ActorFromContext(ctx)
		a := &access{actor: Actor{Principal: rbac.Principal{UserID: userID, TenantID: tenantID, PatientID: act.PatientID,
			Roles: []string{"paciente"}}, RequestID: meta.RequestID, IP: meta.IP},
			action: rbac.ActionUpdate, kind: rbac.KindDemographics, kindName: KindPortalActivation,
			tenant: tenant, tenantID: tenant.String(), record: act.ID,
			decision: rbac.Decision{Allowed: true, Rule: RuleActivationCode}}
		a.setPatient(pid)
		if err := r.audit(ctx, tx, a, now); err != nil {
			return fmt.Errorf("ehr: %s: %w", op, err)
		}
		return nil
	})
	if err != nil {
		return Activation{}, err
	}
	return act, nil
}
