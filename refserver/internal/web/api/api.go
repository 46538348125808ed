package api

import (
	"net/http"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// api is the JSON API and what it uses.
type api struct {
	web     *web.Router
	records *ehr.Repository
	staff   *app.Staff
	// activations links portal accounts to patients.
	activations *app.Activations
	// clientIP is the client address of a request (auth's, behind
	// the configured proxy).
	clientIP func(*http.Request) string
}

// Mount registers the JSON API of a on rt.
func Mount(rt *web.Router, a *app.App) {
	x := &api{web: rt, records: a.Records, staff: a.Staff, activations: a.Activations, clientIP: a.Auth.ClientIP}
	x.routesMe()
	x.routesPatients()
	x.routesChart()
	x.routesNotes()
	x.routesRecords()
	x.routesAppointments()
	x.routesAdmissions()
	x.routesPractitioners()
	x.routesUsers()
	x.routesAudit()
	x.routesActivation()
}

// handle registers an API route.
func (x *api) handle(pattern string, h web.Handler) { x.web.Handle(pattern, h) }

// reply answers err, or status with v.
func reply(w http.ResponseWriter, err error, status int, v any) error {
	if err != nil {
		return err
	}
	web.JSON(w, status, v)
	return nil
}

// invalid is a request field the handler itself refuses (before the
// library sees it), with the stable code of the rule.
func invalid(field, code string) error { return app.Invalid(app.FieldError{Field: field, Code: code}) }

// versionJSON is a record's new version.
type versionJSON struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
}
