package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
)

// Activations links portal accounts to patients the way patient portals
// do: the registration desk, having checked the patient's identity,
// issues a one-time code (Issue) that is handed to the patient; the
// patient activates their account with it (Activate), choosing a username
// and password. Both steps are on the patient's audit chain and in their
// access log. An administrator cannot link an account to a patient
// (Staff refuses role paciente).
type Activations struct {
	users   *auth.Store
	records *ehr.Repository
	limiter auth.Limiter
	tenant  string
	log     *slog.Logger
}

// ActivationAttempts is how many activations a client may attempt in a
// minute (refused codes included).
const ActivationAttempts = 5

// Issue issues an activation code for patient patientID, as the caller of
// ctx (ehr.Repository.IssueActivation: the policy must allow updating the
// patient's demographics, which the admisionista may and an admin may
// not). The code is in the result only: show it once.
//
// It returns ehr's errors: ErrDenied, ErrNotFound, ErrInvalid.
func (x *Activations) Issue(ctx context.Context, patientID string) (ehr.Activation, error) {
	act, err := x.records.IssueActivation(ctx, patientID)
	if err != nil {
		return act, err
	}
	c, _ := FromContext(ctx)
	x.log.InfoContext(ctx, "activation code issued", "activation_id", act.ID, "patient_id", act.PatientID, "by", c.UserID)
	return act, nil
}

// Activate is a patient's activation: the code they were given, and the
// username and password they choose. Tenant is the tenant of the code;
// empty is the server's default tenant (as at login).
type Activate struct {
	Tenant   string
	Code     string
	Username string
	Password string
}

// Activate creates the account of the patient whose code in.Code is: a
// user with role paciente linked to that patient. The code, the username
// and the password are checked before anything is written, and a refused
// account (a username taken or malformed) leaves the code unspent; a code that is unknown in the tenant,
// expired or used is one answer. Attempts are limited per client
// (clientIP; ActivationAttempts a minute).
//
// It returns a *ValidationError (ErrInvalid: fields code, username,
// password; ErrConflict for a username taken), an error wrapping
// auth.ErrRateLimited, or the libraries' errors.
func (x *Activations) Activate(ctx context.Context, in Activate, clientIP string) (auth.User, error) {
	if !x.limiter.Allow(auth.ClientKey(clientIP)) {
		return auth.User{}, fmt.Errorf("app: activate: %w", auth.ErrRateLimited)
	}
	tenant := strings.TrimSpace(in.Tenant)
	if tenant == "" {
		tenant = x.tenant
	}
	code := strings.TrimSpace(in.Code)
	v := Invalid()
	if code == "" {
		v.add("code", ehr.CodeRequired)
	}
	username := auth.NormalizeUsername(in.Username)
	if username == "" {
		v.add("username", ehr.CodeRequired)
	}
	if auth.CheckPassword(in.Password, username, tenant) != nil {
		v.add("password", CodeWeakPassword)
	}
	if err := v.orNil(); err != nil {
		return auth.User{}, err
	}
	var u auth.User
	act, err := x.records.RedeemActivation(ctx, tenant, code, func(ctx context.Context, patientID string) (string, error) {
		var err error
		u, err = x.users.CreateUser(ctx, auth.NewUser{Tenant: tenant, Username: username, Password: in.Password,
			Roles: []string{RolePaciente}, PatientID: patientID})
		if err != nil {
			return "", authError(err)
		}
		return u.ID, nil
	})
	switch {
	case errors.Is(err, ehr.ErrActivationRefused):
		return auth.User{}, Invalid(FieldError{"code", CodeActivationCode})
	case err != nil && u.ID != "":
		// The account was made but the code not spent: it must not
		// stay usable.
		_ = x.users.DisableUser(context.WithoutCancel(ctx), tenant, u.ID)
		return auth.User{}, fmt.Errorf("app: activate (account %s disabled): %w", u.ID, err)
	case err != nil:
		return auth.User{}, err
	}
	x.log.InfoContext(ctx, "portal account activated", "activation_id", act.ID, "user_id", u.ID, "tenant_id", tenant)
	return u, nil
}

// activationLimiter is the default per-client limit of Activate.
func activationLimiter() auth.Limiter {
	return auth.NewRateLimiter(ActivationAttempts, time.Minute, nil)
}
