package web

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// authorizeManage checks the policy for user administration (act on
// KindUser in the caller's tenant). The auth store does not authorize, so
// every user operation of the admin page and the API calls it first.
func (s *Server) authorizeManage(id Identity, act rbac.Action) error {
	return s.app.Policy.Authorize(id.Principal(), act, rbac.KindUser, rbac.Target{TenantID: id.TenantID})
}

// NewUserInput is a user to add, from the admin form or the API.
type NewUserInput struct {
	Username  string `json:"username"`
	Role      string `json:"role"`
	Password  string `json:"password"`
	PatientID string `json:"patient_id,omitempty"`
	// Practitioner fields, for a medico.
	PractitionerName string `json:"practitioner_name,omitempty"`
	Specialty        string `json:"specialty,omitempty"`
	License          string `json:"license,omitempty"`
}

// createUser validates in, creates the user and, for a medico, the
// practitioner linked to it. Field errors are keyed by form field name.
func (s *Server) createUser(ctx context.Context, id Identity, in NewUserInput) (auth.User, views.FieldErrors, error) {
	if err := s.authorizeManage(id, rbac.ActionCreate); err != nil {
		return auth.User{}, nil, err
	}
	errs := views.FieldErrors{}
	in.Role = strings.TrimSpace(in.Role)
	if !slices.Contains(s.app.matrix.Roles, in.Role) {
		errs["role"] = "field.invalid"
	}
	switch in.Role {
	case "paciente":
		if !isUUID(in.PatientID) {
			errs["patient_id"] = "field.required"
		}
	case "medico":
		if strings.TrimSpace(in.PractitionerName) == "" {
			errs["practitioner_name"] = "field.required"
		}
		in.PatientID = ""
	default:
		in.PatientID = ""
	}
	if err := auth.CheckPassword(in.Password, auth.NormalizeUsername(in.Username), id.TenantID); err != nil {
		errs["password"] = "field.weak_password"
	}
	if len(errs) > 0 {
		return auth.User{}, errs, nil
	}
	u, err := s.app.Auth.Users().CreateUser(ctx, auth.NewUser{Tenant: id.TenantID, Username: in.Username, Password: in.Password,
		Roles: []string{in.Role}, PatientID: in.PatientID})
	if err != nil {
		if authFieldErrors(err, "", errs) {
			return auth.User{}, errs, nil
		}
		return auth.User{}, nil, err
	}
	if in.Role == "medico" {
		_, err := s.app.Records.CreatePractitioner(ctx, ehr.Practitioner{UserID: u.ID, Name: in.PractitionerName, Specialty: in.Specialty, License: in.License})
		if err != nil {
			// Without a practitioner record the physician cannot work:
			// disable the account rather than leave it half made.
			_ = s.app.Auth.Users().DisableUser(ctx, id.TenantID, u.ID)
			if mapFieldErrors(err, map[string]string{"Name": "practitioner_name", "Specialty": "specialty", "License": "license"}, "", errs) {
				return auth.User{}, errs, nil
			}
			return auth.User{}, nil, err
		}
	}
	s.log.InfoContext(ctx, "user created", "user_id", u.ID, "by", id.UserID)
	return u, nil, nil
}

// setUserState disables or enables a user of the caller's tenant.
func (s *Server) setUserState(ctx context.Context, id Identity, userID string, enable bool) error {
	if err := s.authorizeManage(id, rbac.ActionManage); err != nil {
		return err
	}
	if enable {
		return s.app.Auth.Users().EnableUser(ctx, id.TenantID, userID)
	}
	if userID == id.UserID {
		return &auth.InvalidError{Fields: []string{"ID"}, Reason: "cannot disable yourself"}
	}
	return s.app.Auth.Users().DisableUser(ctx, id.TenantID, userID)
}

func (s *Server) resetPassword(ctx context.Context, id Identity, userID, password string) error {
	if err := s.authorizeManage(id, rbac.ActionManage); err != nil {
		return err
	}
	return s.app.Auth.Users().ResetPassword(ctx, id.TenantID, userID, password)
}

// adminData builds the user administration page.
func (s *Server) adminData(r *http.Request, id Identity) (views.AdminData, error) {
	users, err := s.app.Auth.Users().ListUsers(r.Context(), id.TenantID)
	if err != nil {
		return views.AdminData{}, err
	}
	d := views.AdminData{Roles: s.app.matrix.Roles, Form: views.Form{"role": "medico"}, Errors: views.FieldErrors{},
		Can: views.Can{"manage": s.app.can(id, rbac.ActionManage, rbac.KindUser)}}
	for _, u := range users {
		last := ""
		if !u.LastLoginAt.IsZero() {
			last = localTime(u.LastLoginAt)
		}
		d.Users = append(d.Users, views.UserRow{ID: u.ID, Username: u.Username, Roles: strings.Join(u.Roles, ", "), Status: string(u.Status),
			LastLogin: last, Disabled: u.Status == auth.StatusDisabled})
	}
	if c := r.URL.Query().Get("created"); c != "" {
		for _, u := range users {
			if u.ID == c {
				d.Created = u.Username
			}
		}
	}
	return d, nil
}

// admin lists the users of the tenant.
func (s *Server) admin(w http.ResponseWriter, r *http.Request, id Identity) {
	d, err := s.adminData(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, views.Admin(s.pageFor(r, id, "admin.title"), d))
}

// adminAgain shows the admin page with the form and its errors.
func (s *Server) adminAgain(w http.ResponseWriter, r *http.Request, id Identity, status int, f views.Form, errs views.FieldErrors, alert string) {
	d, err := s.adminData(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	delete(f, "password")
	d.Form, d.Errors, d.AlertKey = f, errs, alert
	s.render(w, r, status, views.Admin(s.pageFor(r, id, "admin.title"), d))
}

func (s *Server) routesUsers() {
	adm := func(h pageHandler) http.HandlerFunc { return s.page_(h, "admin") }
	s.handle("POST /admin/usuarios", adm(func(w http.ResponseWriter, r *http.Request, id Identity) {
		f, ok := parseForm(w, r)
		if !ok {
			s.renderError(w, r, http.StatusBadRequest)
			return
		}
		u, errs, err := s.createUser(r.Context(), id, NewUserInput{Username: f["username"], Role: f["role"], Password: r.PostFormValue("password"),
			PatientID: f["patient_id"], PractitionerName: f["practitioner_name"], Specialty: f["specialty"], License: f["license"]})
		switch {
		case err != nil:
			s.fail(w, r, err)
		case len(errs) > 0:
			status := http.StatusUnprocessableEntity
			if errs["username"] == "field.username_taken" {
				status = http.StatusConflict
			}
			s.adminAgain(w, r, id, status, f, errs, "error.422")
		default:
			seeOther(w, r, "/admin?created="+u.ID)
		}
	}))
	state := func(enable bool) pageHandler {
		return func(w http.ResponseWriter, r *http.Request, id Identity) {
			if _, ok := parseForm(w, r); !ok {
				s.renderError(w, r, http.StatusBadRequest)
				return
			}
			err := s.setUserState(r.Context(), id, r.PathValue("id"), enable)
			var ie *auth.InvalidError
			switch {
			case err == nil:
				seeOther(w, r, "/admin?saved=1")
			case errors.As(err, &ie):
				s.adminAgain(w, r, id, http.StatusUnprocessableEntity, views.Form{}, nil, "admin.not_yourself")
			default:
				s.fail(w, r, err)
			}
		}
	}
	s.handle("POST /admin/usuarios/{id}/desactivar", adm(state(false)))
	s.handle("POST /admin/usuarios/{id}/activar", adm(state(true)))
	s.handle("POST /admin/usuarios/{id}/clave", adm(func(w http.ResponseWriter, r *http.Request, id Identity) {
		if _, ok := parseForm(w, r); !ok {
			s.renderError(w, r, http.StatusBadRequest)
			return
		}
		uid := r.PathValue("id")
		err := s.resetPassword(r.Context(), id, uid, r.PostFormValue("password"))
		errs := views.FieldErrors{}
		switch {
		case err == nil:
			seeOther(w, r, "/admin?saved=1")
		case authFieldErrors(err, ":"+uid, errs):
			s.adminAgain(w, r, id, http.StatusUnprocessableEntity, views.Form{"form": "reset:" + uid}, errs, "error.422")
		default:
			s.fail(w, r, err)
		}
	}))
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidRE.MatchString(s) }
