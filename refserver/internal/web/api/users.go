package api

import (
	"net/http"
	"time"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// User accounts of the caller's tenant, through app.Staff (which checks
// the policy: auth's store does not authorize).

func (x *api) routesUsers() {
	x.handle("GET /api/v1/users", x.users)
	x.handle("POST /api/v1/users", x.createUser)
	x.handle("POST /api/v1/users/{id}/disable", x.setEnabled(false))
	x.handle("POST /api/v1/users/{id}/enable", x.setEnabled(true))
	x.handle("POST /api/v1/users/{id}/password", x.resetPassword)
}

// UserJSON is a user account (never its password).
type UserJSON struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	Roles       []string  `json:"roles"`
	PatientID   string    `json:"patient_id,omitempty"`
	Status      string    `json:"status"`
	LastLoginAt time.Time `json:"last_login_at,omitzero"`
}

func userJSON(u auth.User) UserJSON {
	return UserJSON{u.ID, u.Username, u.Roles, u.PatientID, string(u.Status), u.LastLoginAt}
}

// newUserJSON is a user to add (openapi.yaml: NewUser).
type newUserJSON struct {
	Username  string `json:"username"`
	Role      string `json:"role"`
	Password  string `json:"password"`
	PatientID string `json:"patient_id,omitempty"`
	// Practitioner fields, for a medico.
	PractitionerName string `json:"practitioner_name,omitempty"`
	Specialty        string `json:"specialty,omitempty"`
	License          string `json:"license,omitempty"`
}

func (x *api) users(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	users, err := x.staff.List(r.Context())
	out := []UserJSON{}
	for _, u := range users {
		out = append(out, userJSON(u))
	}
	return reply(w, err, http.StatusOK, map[string]any{"users": out})
}

func (x *api) createUser(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in newUserJSON
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	acct, err := x.staff.Create(r.Context(), app.NewStaff{Username: in.Username, Roles: []string{in.Role}, Password: in.Password,
		PatientID: in.PatientID, PractitionerName: in.PractitionerName, Specialty: in.Specialty, License: in.License})
	return reply(w, err, http.StatusCreated, userJSON(acct.User))
}

func (x *api) setEnabled(enable bool) web.Handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		err := x.staff.SetEnabled(r.Context(), r.PathValue("id"), enable)
		return reply(w, err, http.StatusOK, map[string]any{"id": r.PathValue("id"), "enabled": enable})
	}
}

func (x *api) resetPassword(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	// Sensitive action: a recent proof of the password or second factor
	// (web.RecentAuth answers with 401 reauth_required otherwise).
	if ok, err := x.web.RecentAuth(w, r); !ok {
		return err
	}
	var in struct {
		Password string `json:"password"`
	}
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	err := x.staff.ResetPassword(r.Context(), r.PathValue("id"), in.Password)
	return reply(w, err, http.StatusOK, map[string]any{"id": r.PathValue("id"), "reset": true})
}
