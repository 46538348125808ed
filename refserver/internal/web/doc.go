// Package web is the reference server's HTTP kernel: the Router (the
// handler of the whole server: middleware, the mux and its routes),
// authentication of a request into an app.Caller, rendering (the layout
// of a page, templ components, JSON) and the one error table (ProblemOf)
// that turns any error into a status, a stable code, a message and the
// fields at fault, for a page, the JSON API or a protocol alike.
//
// The ways in are packages mounted on the Router by the composition root
// (package server): the role pages (web/pages), the JSON API (web/api)
// and, reserved, protocol front-ends (internal/protocol/fhir). Each
// registers routes with Handle, gets the caller, calls ehr and app with
// the request's context, and returns the errors it does not answer itself:
//
//	rt := web.New(web.Config{Logger: log, Metrics: web.NewMetrics(), App: a})
//	rt.Handle("GET /api/v1/thing/{id}", func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
//		t, err := a.Records.Thing(r.Context(), r.PathValue("id"))
//		if err != nil {
//			return err // 404, 403, 422 ... through the error table
//		}
//		web.JSON(w, http.StatusOK, t)
//		return nil
//	})
//
// A request walks: observe (request id, language, security headers, the
// log line and metrics, panics) → cross-origin protection → the query
// check → the mux → Handle (authentication, the caller into the context,
// the role check) → the handler → its answer, or Fail.
package web
