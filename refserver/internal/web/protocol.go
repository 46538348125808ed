package web

import (
	"errors"
	"net/http"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/refserver/internal/app"
)

// ProblemWriter answers a Problem in a protocol's own error shape (a FHIR
// OperationOutcome, say), with p.Status.
type ProblemWriter func(w http.ResponseWriter, r *http.Request, p Problem)

// HandleBearer registers h for pattern behind bearer authentication only,
// for protocol front-ends (FHIR): the Authorization header must carry an
// access token from POST /auth; session cookies are not accepted, so a
// page a clinician has open cannot be made to reach the protocol across
// sites. Every error, the refusals of authentication included, is
// answered through the error table (ProblemOf) and written by answer; an
// anonymous request also gets the bearer challenge (RFC 6750). Every
// answer is private (Cache-Control: no-store).
func (rt *Router) HandleBearer(pattern string, h Handler, answer ProblemWriter) {
	rt.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if rt.app == nil || len(r.Header.Values("Authorization")) == 0 {
			auth.WriteBearerChallenge(&discardWriter{header: w.Header()}, http.StatusUnauthorized, "", "")
			answer(w, r, problemUnauthenticated)
			return
		}
		aid, err := rt.app.Auth.Authenticate(w, r)
		if err != nil && errors.Is(err, auth.ErrUnavailable) {
			w.Header().Set("Retry-After", "5")
			answer(w, r, ProblemOf(r.Context(), err))
			return
		}
		if err != nil {
			p := problemUnauthenticated
			code, desc := "", ""
			if errors.Is(err, auth.ErrInvalidToken) {
				p = ProblemOf(r.Context(), err)
				code, desc = "invalid_token", "invalid or expired token"
			}
			auth.WriteBearerChallenge(&discardWriter{header: w.Header()}, http.StatusUnauthorized, code, desc)
			answer(w, r, p)
			return
		}
		c := app.CallerOf(aid, RequestID(r.Context()), rt.app.Auth.ClientIP(r))
		r = r.WithContext(auth.NewContext(app.NewContext(r.Context(), c), aid))
		if err := h(w, r, c); err != nil {
			p := rt.problem(r, err)
			answer(w, r, p)
		}
	})
}

// HandlePublic registers h for pattern without authentication, its errors
// written by answer (a protocol's capability statement, its unknown
// routes).
func (rt *Router) HandlePublic(pattern string, h func(w http.ResponseWriter, r *http.Request) error, answer ProblemWriter) {
	rt.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			answer(w, r, rt.problem(r, err))
		}
	})
}

// problem is ProblemOf err, logged when it is a server error, with the
// field names a Rename gave.
func (rt *Router) problem(r *http.Request, err error) Problem {
	p := ProblemOf(r.Context(), err)
	if p.Status >= http.StatusInternalServerError {
		rt.log.ErrorContext(r.Context(), "request failed", "error", err)
	}
	var rn *renamed
	if errors.As(err, &rn) {
		for i, f := range p.Fields {
			if n, ok := rn.names[f.Field]; ok {
				p.Fields[i].Field = n
			}
		}
	}
	return p
}
