package pages

import (
	"errors"
	"net/http"
	"strings"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/views"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// User administration (/admin): the tenant's accounts, adding one (a
// medico with their practitioner record), disabling, enabling and
// resetting a password. The rules are app.Staff's.

func (p *pages) routesAdmin() {
	adm := func(pattern string, h web.Handler) { p.handle(pattern, app.RoleAdmin, h) }
	adm("GET /admin", p.admin)
	adm("POST /admin/usuarios", p.createUser)
	adm("POST /admin/usuarios/{id}/desactivar", p.setEnabled(false))
	adm("POST /admin/usuarios/{id}/activar", p.setEnabled(true))
	adm("POST /admin/usuarios/{id}/clave", p.resetPassword)
}

// adminData builds the user administration page.
func (p *pages) adminData(r *http.Request, c app.Caller) (views.AdminData, error) {
	users, err := p.staff.List(r.Context())
	if err != nil {
		return views.AdminData{}, err
	}
	d := views.AdminData{Roles: p.app.Roles(), Form: views.Form{"role": app.RoleMedico}, Errors: views.FieldErrors{},
		Can: views.Can{"manage": p.app.Can(c, rbac.ActionManage, rbac.KindUser)}}
	for _, u := range users {
		d.Users = append(d.Users, views.UserRow{ID: u.ID, Username: u.Username, Roles: strings.Join(u.Roles, ", "), Status: string(u.Status),
			LastLogin: web.LocalTime(u.LastLoginAt), Disabled: u.Status == auth.StatusDisabled})
	}
	if created := r.URL.Query().Get("created"); created != "" {
		for _, u := range users {
			if u.ID == created {
				d.Created = u.Username
			}
		}
	}
	return d, nil
}

// admin lists the users of the tenant.
func (p *pages) admin(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	d, err := p.adminData(r, c)
	if err != nil {
		return err
	}
	p.web.Render(w, r, http.StatusOK, views.Admin(p.web.Layout(r, c, "admin.title"), d))
	return nil
}

// adminAgain shows the admin page with the form and its errors (never
// the password typed).
func (p *pages) adminAgain(w http.ResponseWriter, r *http.Request, c app.Caller, status int, f views.Form, errs views.FieldErrors, alert string) error {
	d, err := p.adminData(r, c)
	if err != nil {
		return err
	}
	delete(f, "password")
	d.Form, d.Errors, d.AlertKey = f, errs, alert
	p.web.Render(w, r, status, views.Admin(p.web.Layout(r, c, "admin.title"), d))
	return nil
}

// createUser handles the add-user form: 303 to the list naming the new
// user, or the form again with 422 (409 for a username taken) and the
// errors next to the fields.
func (p *pages) createUser(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	f, err := web.ParseForm(w, r)
	if err != nil {
		return err
	}
	acct, err := p.staff.Create(r.Context(), app.NewStaff{Username: f["username"], Roles: []string{f["role"]}, Password: r.PostFormValue("password"),
		PatientID: f["patient_id"], PractitionerName: f["practitioner_name"], Specialty: f["specialty"], License: f["license"]})
	errs := views.FieldErrors{}
	switch {
	case err == nil:
		web.SeeOther(w, r, "/admin?created="+acct.User.ID)
		return nil
	case web.FormErrors(err, nil, "", errs):
		status := http.StatusUnprocessableEntity
		if errors.Is(err, app.ErrConflict) {
			status = http.StatusConflict
		}
		return p.adminAgain(w, r, c, status, f, errs, "error.422")
	}
	return err
}

// setEnabled handles the disable and enable buttons.
func (p *pages) setEnabled(enable bool) web.Handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		if _, err := web.ParseForm(w, r); err != nil {
			return err
		}
		err := p.staff.SetEnabled(r.Context(), r.PathValue("id"), enable)
		var ve *app.ValidationError
		switch {
		case err == nil:
			web.SeeOther(w, r, "/admin?saved=1")
			return nil
		case errors.As(err, &ve):
			return p.adminAgain(w, r, c, http.StatusUnprocessableEntity, views.Form{}, nil, "admin.not_yourself")
		}
		return err
	}
}

// resetPassword handles a user's reset form.
func (p *pages) resetPassword(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	// Sensitive action: a recent proof of the password or second factor
	// (web.RecentAuth answers with the re-authentication form otherwise).
	if ok, err := p.web.RecentAuth(w, r); !ok {
		return err
	}
	if _, err := web.ParseForm(w, r); err != nil {
		return err
	}
	uid := r.PathValue("id")
	err := p.staff.ResetPassword(r.Context(), uid, r.PostFormValue("password"))
	errs := views.FieldErrors{}
	switch {
	case err == nil:
		web.SeeOther(w, r, "/admin?saved=1")
		return nil
	case web.FormErrors(err, nil, ":"+uid, errs):
		return p.adminAgain(w, r, c, http.StatusUnprocessableEntity, views.Form{"form": "reset:" + uid}, errs, "error.422")
	}
	return err
}
