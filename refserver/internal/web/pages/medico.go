package pages

import (
	"net/http"
	"strings"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// The physician's home (/medico): the patients on their care team and a
// search of the tenant's patients. Their chart of a patient is chart.go.

func (p *pages) routesMedico() {
	p.handle("GET /medico", app.RoleMedico, p.medico)
}

func (p *pages) medico(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	mine, err := p.records.MyPatients(r.Context())
	if err != nil {
		return err
	}
	d := views.MedicoData{Mine: rows(mine), Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	if d.Query != "" {
		page, err := p.records.SearchPatients(r.Context(), ehr.PatientQuery{Name: d.Query, Limit: 50})
		if err != nil {
			return err
		}
		d.Searched, d.Results = true, rows(page.Patients)
	}
	p.web.Render(w, r, http.StatusOK, views.Medico(p.web.Layout(r, c, "medico.title"), d))
	return nil
}
