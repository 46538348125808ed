package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// The audit trail: events, chain verification and the break-the-glass
// review.

func (x *api) routesAudit() {
	x.handle("GET /api/v1/audit/events", x.auditEvents)
	x.handle("POST /api/v1/audit/verify", x.verify)
	x.handle("GET /api/v1/audit/break-glass", x.breakGlassReview)
}

func (x *api) auditEvents(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	q := r.URL.Query()
	page, err := x.records.SearchAudit(r.Context(), ehr.AuditQuery{ChainID: q.Get("chain"), BreakGlassOnly: q.Get("break_glass") == "true",
		Cursor: q.Get("cursor"), Limit: 100})
	if err != nil {
		return err
	}
	type event struct {
		At         time.Time `json:"at"`
		ChainID    string    `json:"chain_id"`
		Seq        int64     `json:"seq"`
		UserID     string    `json:"user_id"`
		Roles      []string  `json:"roles"`
		Action     string    `json:"action"`
		Kind       string    `json:"kind"`
		RecordID   string    `json:"record_id,omitempty"`
		Outcome    string    `json:"outcome"`
		BreakGlass bool      `json:"break_glass"`
	}
	out := []event{}
	for _, e := range page.Events {
		out = append(out, event{e.OccurredAt, e.ChainID, e.Seq, e.UserID, e.Roles, e.Action, e.Kind, e.RecordID, e.Outcome, e.BreakGlass})
	}
	return reply(w, nil, http.StatusOK, map[string]any{"events": out, "next": page.Next})
}

// verify verifies a chain (a patient's or one lane), or the tenant's own
// chains, all its lanes, when the body names the tenant or none: a broken
// chain is a 200 that says so, and names the chain (the lane) that broke.
// A tenant's answer lists its lanes with their events.
func (x *api) verify(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in struct {
		ChainID string `json:"chain_id"`
	}
	if err := web.DecodeOptional(w, r, 4<<10, &in); err != nil {
		return err
	}
	if in.ChainID == "" {
		in.ChainID = c.TenantID
	}
	st, err := x.records.VerifyChain(r.Context(), in.ChainID)
	var ce *ehr.ChainError
	if errors.As(err, &ce) {
		return reply(w, nil, http.StatusOK, map[string]any{"chain_id": in.ChainID, "ok": false, "problem": ce.Error(), "broken_chain_id": ce.ChainID})
	}
	body := map[string]any{"chain_id": in.ChainID, "ok": true, "events": st.Events}
	if st.Lanes != nil {
		type lane struct {
			ChainID string `json:"chain_id"`
			Events  int64  `json:"events"`
		}
		lanes := make([]lane, 0, len(st.Lanes))
		for _, l := range st.Lanes {
			lanes = append(lanes, lane{l.ChainID, l.Events})
		}
		body["lanes"] = lanes
	}
	return reply(w, err, http.StatusOK, body)
}

func (x *api) breakGlassReview(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	q := r.URL.Query()
	gs, err := x.records.ListBreakGlass(r.Context(), ehr.BreakGlassQuery{PatientID: q.Get("patient"), UserID: q.Get("user"),
		ActiveOnly: q.Get("active") == "true"})
	type grant struct {
		ID        string    `json:"id"`
		PatientID string    `json:"patient_id"`
		UserID    string    `json:"user_id"`
		Reason    string    `json:"reason"`
		GrantedAt time.Time `json:"granted_at"`
		NotAfter  time.Time `json:"not_after"`
		Uses      int       `json:"uses"`
	}
	out := []grant{}
	for _, g := range gs {
		out = append(out, grant{g.ID, g.PatientID, g.UserID, g.Reason, g.GrantedAt, g.NotAfter, g.Uses})
	}
	return reply(w, err, http.StatusOK, map[string]any{"grants": out})
}
