package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
)

// Staff manages the user accounts of the caller's tenant. auth's store
// does not authorize, so every method checks the policy first (an action
// on rbac.KindUser in the caller's tenant); the caller comes from the
// context (NewContext).
type Staff struct {
	users   *auth.Store
	records *ehr.Repository
	policy  *rbac.Engine
	roles   []string
	log     *slog.Logger
}

// NewStaff is an account to create, from the admin form, the API, the
// command line or the demo. Field errors name these fields as the form
// and the API do: username, role, password, patient_id,
// practitioner_name, specialty, license (and tenant, when the caller's
// tenant does not exist).
type NewStaff struct {
	Username string
	Password string
	// Roles are the account's roles, each one of the policy's.
	Roles []string
	// PatientID is refused: role paciente is refused too (field "role",
	// CodePatientActivation), as a patient's account is made with an
	// activation code (Activations); for any other role the field is
	// CodePatientOnly.
	PatientID string
	// PractitionerName, Specialty and License make the practitioner
	// record of a medico (the name is required): a physician works
	// through it (care teams, agenda, notes).
	PractitionerName, Specialty, License string
}

// Account is a created account: the user and, for a medico, the
// practitioner linked to it.
type Account struct {
	User         auth.User
	Practitioner *ehr.Practitioner
}

// authorize checks the policy for act on the caller's tenant's users.
func (s *Staff) authorize(ctx context.Context, op string, act rbac.Action) (Caller, error) {
	c, ok := FromContext(ctx)
	if !ok {
		return Caller{}, fmt.Errorf("app: %s: no caller: %w", op, rbac.ErrDenied)
	}
	if err := s.policy.Authorize(c.Principal(), act, rbac.KindUser, rbac.Target{TenantID: c.TenantID}); err != nil {
		return c, fmt.Errorf("app: %s: %w", op, err)
	}
	return c, nil
}

// Check validates in as Create does, all but the password, and writes
// nothing: a command line refuses a mistake before it asks for the
// password. It returns a *ValidationError, or the policy's denial.
func (s *Staff) Check(ctx context.Context, in NewStaff) error {
	_, v, err := s.check(ctx, in)
	if err != nil {
		return err
	}
	return v.orNil()
}

func (s *Staff) check(ctx context.Context, in NewStaff) (NewStaff, *ValidationError, error) {
	if _, err := s.authorize(ctx, "create user", rbac.ActionCreate); err != nil {
		return in, nil, err
	}
	v := Invalid()
	var roles []string
	for _, r := range in.Roles {
		if r = strings.TrimSpace(r); r != "" && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	in.Roles = roles
	switch {
	case len(roles) == 0:
		v.add("role", ehr.CodeRequired)
	case slices.ContainsFunc(roles, func(r string) bool { return !slices.Contains(s.roles, r) }):
		v.add("role", ehr.CodeInvalid)
	}
	in.PatientID = strings.TrimSpace(in.PatientID)
	if slices.Contains(roles, RolePaciente) {
		// Linking a login to a patient's record is the registration
		// desk's identity check, recorded on the patient's chain: it is
		// done with an activation code (Activations), never here.
		v.add("role", CodePatientActivation)
	} else if in.PatientID != "" {
		v.add("patient_id", CodePatientOnly)
	}
	if slices.Contains(roles, RoleMedico) && strings.TrimSpace(in.PractitionerName) == "" {
		v.add("practitioner_name", ehr.CodeRequired)
	}
	if _, err := s.records.GetTenant(ctx); errors.Is(err, ehr.ErrNotFound) {
		v.add("tenant", CodeUnknownTenant)
	} else if err != nil {
		return in, nil, err
	}
	return in, v, nil
}

// Create creates a user of the caller's tenant and, for a medico, the
// practitioner linked to it; when the practitioner cannot be made the
// account is disabled rather than left half made, and the error says so.
// Every field is checked before anything is written.
//
// It returns a *ValidationError (ErrInvalid; ErrConflict for a username
// taken), an error wrapping rbac.ErrDenied unless the caller may create
// users, or the libraries' errors.
func (s *Staff) Create(ctx context.Context, in NewStaff) (Account, error) {
	in, v, err := s.check(ctx, in)
	if err != nil {
		return Account{}, err
	}
	c, _ := FromContext(ctx)
	if auth.CheckPassword(in.Password, auth.NormalizeUsername(in.Username), c.TenantID) != nil {
		v.add("password", CodeWeakPassword)
	}
	if err := v.orNil(); err != nil {
		return Account{}, err
	}
	u, err := s.users.CreateUser(ctx, auth.NewUser{Tenant: c.TenantID, Username: in.Username, Password: in.Password,
		Roles: in.Roles})
	if err != nil {
		return Account{}, authError(err)
	}
	acct := Account{User: u}
	if slices.Contains(in.Roles, RoleMedico) {
		p, err := s.records.CreatePractitioner(ctx, ehr.Practitioner{UserID: u.ID, Name: in.PractitionerName, Specialty: in.Specialty, License: in.License})
		if err != nil {
			_ = s.users.DisableUser(context.WithoutCancel(ctx), c.TenantID, u.ID)
			if fv := fieldsOf(err, map[string]string{"Name": "practitioner_name", "Specialty": "specialty", "License": "license"}); fv != nil {
				return Account{}, fv
			}
			return Account{}, fmt.Errorf("app: practitioner record for user %s (account disabled): %w", u.ID, err)
		}
		acct.Practitioner = &p
	}
	s.log.InfoContext(ctx, "user created", "user_id", u.ID, "by", c.UserID)
	return acct, nil
}

// List returns the users of the caller's tenant, by username.
func (s *Staff) List(ctx context.Context) ([]auth.User, error) {
	c, err := s.authorize(ctx, "list users", rbac.ActionSearch)
	if err != nil {
		return nil, err
	}
	return s.users.ListUsers(ctx, c.TenantID)
}

// SetEnabled enables or disables (revoking their sessions) user userID of
// the caller's tenant. An administrator may not disable themselves (field
// "id", CodeNotYourself).
func (s *Staff) SetEnabled(ctx context.Context, userID string, enable bool) error {
	c, err := s.authorize(ctx, "manage user", rbac.ActionManage)
	if err != nil {
		return err
	}
	if enable {
		return s.users.EnableUser(ctx, c.TenantID, userID)
	}
	if userID == c.UserID {
		return Invalid(FieldError{"id", CodeNotYourself})
	}
	return s.users.DisableUser(ctx, c.TenantID, userID)
}

// ResetPassword sets the password of user userID of the caller's tenant
// (and revokes their sessions). A password the policy refuses is a
// *ValidationError on field "password".
func (s *Staff) ResetPassword(ctx context.Context, userID, password string) error {
	c, err := s.authorize(ctx, "manage user", rbac.ActionManage)
	if err != nil {
		return err
	}
	return authError(s.users.ResetPassword(ctx, c.TenantID, userID, password))
}

// authError turns auth's refusals of a user's fields into a
// *ValidationError; other errors pass unchanged.
func authError(err error) error {
	var pe *auth.PasswordError
	var ie *auth.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return Invalid(FieldError{"password", CodeWeakPassword})
	case errors.As(err, &ie):
		code := ie.Code
		v := Invalid()
		for _, f := range ie.Fields {
			switch strings.ToLower(f) {
			case "username":
				if code == auth.CodeInvalid {
					code = CodeUsername // the alphabet and length of a username
				}
				v.add("username", code)
			case "roles", "role":
				v.add("role", code)
			case "patientid", "patient_id", "patient":
				v.add("patient_id", code)
			case "password":
				v.add("password", CodeWeakPassword)
			}
		}
		if len(v.Fields) == 0 {
			v.add("username", code)
		}
		return v
	case errors.Is(err, auth.ErrConflict):
		return Taken(FieldError{"username", CodeUsernameTaken})
	}
	return err
}
