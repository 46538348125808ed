package fhir

import (
	"net/http"

	"github.com/historiaehr/historia/refserver/internal/app"
)

// routesAll registers every interaction: per resource type read, vread,
// instance history, search (GET, and POST _search), create, update; the
// refusal of delete; Patient/{id}/$everything; the bulk $export at the
// system, Patient and Group levels, with its status and file URLs
// (export.go); the system batch and transaction; and the unauthenticated
// capability statement.
func (x *server) routesAll() {
	x.handlePublic("GET", "/metadata", x.metadata)
	x.handle("POST", "", "", "transaction", x.bundle)
	x.handle("POST", "/{$}", "", "transaction", x.bundle)
	for _, t := range types {
		base := "/" + t.Name
		x.handle("GET", base+"/{id}", t.Name, "read", x.read(t))
		if t.Kind != 0 {
			x.handle("GET", base+"/{id}/_history/{vid}", t.Name, "vread", x.vread(t))
			x.handle("GET", base+"/{id}/_history", t.Name, "history-instance", x.history(t))
		}
		x.handle("GET", base, t.Name, "search-type", x.search(t))
		x.handle("POST", base+"/_search", t.Name, "search-type", x.search(t))
		x.handle("POST", base, t.Name, "create", x.create(t))
		x.handle("PUT", base+"/{id}", t.Name, "update", x.update(t))
		x.handle("DELETE", base+"/{id}", t.Name, "delete", x.refuseDelete)
	}
	x.handle("GET", "/Patient/{id}/$everything", "Patient", "operation", x.everything)
	x.handle("GET", "/$export", "", "export", x.exportKickOff(levelSystem))
	x.handle("GET", "/Patient/$export", "Patient", "export", x.exportKickOff(levelPatient))
	x.handle("GET", "/Group/{id}/$export", "Group", "export", x.exportKickOff(levelGroup))
	x.handleExport("GET", "/$export-status/{job}", x.exportStatus)
	x.handleExport("DELETE", "/$export-status/{job}", x.exportDelete)
	x.handleExport("GET", "/$export-file/{job}/{file}", x.exportFile)
	x.handlePublic("", "/", x.noRoute)
	if x.web != nil {
		x.web.HandleFunc("OPTIONS "+Root+"/", x.preflight)
	}
}

// refuseDelete answers DELETE: records are never destroyed. A record
// entered in error is updated with status entered-in-error (and kept,
// with its versions and audit trail).
func (x *server) refuseDelete(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	return fail(http.StatusMethodNotAllowed, "not-supported",
		"records are never deleted: update the resource with status entered-in-error instead")
}

// noRoute answers a path or method under Root that is not routed.
func (x *server) noRoute(w http.ResponseWriter, r *http.Request) error {
	return fail(http.StatusNotFound, "not-supported", "no such FHIR interaction: see %s/metadata", Root)
}
