package pages

import (
	"errors"
	"net/http"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/views"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// Portal activation: the admissions desk issues a patient's one-time code
// (shown once) and the patient activates their account with it at the
// public page /activar (app.Activations).

func (p *pages) routesActivation() {
	p.handle("POST /admisionista/pacientes/{id}/activacion", app.RoleAdmisionista, p.issueActivation)
	// Public: the patient has no account yet. Cross-origin posts are
	// refused by the router like every form, and attempts are limited
	// per client (app.Activations).
	p.web.HandleFunc("GET /activar", p.activationPage)
	p.web.HandleFunc("POST /activar", p.activate)
}

// issueActivation issues the code of patient {id} and shows it once.
func (p *pages) issueActivation(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	if _, err := web.ParseForm(w, r); err != nil {
		return err
	}
	ctx := r.Context()
	pt, err := p.records.GetPatient(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	act, err := p.app.Activations.Issue(ctx, pt.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	p.web.Render(w, r, http.StatusOK, views.ActivationCode(p.web.Layout(r, c, "activation.issued"),
		views.ActivationIssued{PatientID: pt.ID, Patient: pt.GivenNames + " " + pt.FamilyNames, Code: act.Code, ExpiresAt: web.LocalTime(act.ExpiresAt)}))
	return nil
}

func (p *pages) activationPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	p.web.Render(w, r, http.StatusOK, views.Activate(p.web.Public(r, "activation.title"), views.Form{}, views.FieldErrors{}))
}

// activate is POST /activar: the account is made and the patient is told
// to sign in, or the form comes back with the errors by its fields (the
// password never comes back).
func (p *pages) activate(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	f, err := web.ParseForm(w, r)
	if err != nil {
		p.web.Fail(w, r, err)
		return
	}
	_, err = p.app.Activations.Activate(r.Context(), app.Activate{Tenant: f.Get("tenant"), Code: f.Get("code"),
		Username: f.Get("username"), Password: r.PostForm.Get("password")}, p.app.Auth.ClientIP(r))
	if err == nil {
		p.web.Render(w, r, http.StatusOK, views.Activated(p.web.Public(r, "activation.title")))
		return
	}
	errs := views.FieldErrors{}
	if errors.Is(err, auth.ErrRateLimited) || !web.FormErrors(err, map[string]string{}, "", errs) {
		p.web.Fail(w, r, err)
		return
	}
	status := http.StatusUnprocessableEntity
	if errors.Is(err, app.ErrConflict) {
		status = http.StatusConflict
	}
	form := views.Form{"code": f.Get("code"), "username": f.Get("username")}
	p.web.Render(w, r, status, views.Activate(p.web.Public(r, "activation.title"), form, errs))
}
