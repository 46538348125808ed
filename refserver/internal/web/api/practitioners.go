package api

import (
	"net/http"

	"github.com/historiaehr/historia/refserver/internal/app"
)

func (x *api) routesPractitioners() {
	x.handle("GET /api/v1/practitioners", x.practitioners)
}

// PractitionerJSON is a practitioner.
type PractitionerJSON struct {
	ID        string `json:"id"`
	UserID    string `json:"user_id"`
	Name      string `json:"name"`
	Specialty string `json:"specialty,omitempty"`
	License   string `json:"license,omitempty"`
	Active    bool   `json:"active"`
}

func (x *api) practitioners(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	ps, err := x.records.ListPractitioners(r.Context(), r.URL.Query().Get("active") == "true")
	out := []PractitionerJSON{}
	for _, p := range ps {
		out = append(out, PractitionerJSON{p.ID, p.UserID, p.Name, p.Specialty, p.License, p.Active})
	}
	return reply(w, err, http.StatusOK, map[string]any{"practitioners": out})
}
