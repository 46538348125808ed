package api

import (
	"net/http"
	"time"

	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// Portal activation (app.Activations): the admissions desk issues a
// patient's one-time code; the patient, who has no account yet, activates
// it (a public route, limited per client).

func (x *api) routesActivation() {
	x.handle("POST /api/v1/patients/{id}/activation-code", x.issueActivation)
	x.web.HandleFunc("POST /api/v1/activate", x.activate)
}

// activationJSON is an issued code (openapi.yaml: ActivationCode).
type activationJSON struct {
	ID        string    `json:"id"`
	PatientID string    `json:"patient_id"`
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (x *api) issueActivation(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	act, err := x.activations.Issue(r.Context(), r.PathValue("id"))
	return reply(w, web.Rename(err, map[string]string{"PatientID": "id"}), http.StatusCreated,
		activationJSON{act.ID, act.PatientID, act.Code, act.ExpiresAt})
}

func (x *api) activate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Tenant   string `json:"tenant"`
		Code     string `json:"code"`
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := web.Decode(w, r, &in); err != nil {
		x.web.Fail(w, r, err)
		return
	}
	u, err := x.activations.Activate(r.Context(), app.Activate{Tenant: in.Tenant, Code: in.Code, Username: in.Username,
		Password: in.Password}, x.clientIP(r))
	if err != nil {
		x.web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, userJSON(u))
}
