package pages

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/i18n"
	"github.com/historiaehr/historia/refserver/internal/views"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// The auditor's page (/auditor): audit search, chain verification and
// the break-the-glass review.

func (p *pages) routesAuditor() {
	p.handle("GET /auditor", app.RoleAuditor, p.auditor)
	p.handle("POST /auditor/verify", app.RoleAuditor, p.verifyChain)
}

// auditData builds the auditor's page (and the names it shows).
func (p *pages) auditData(r *http.Request, c app.Caller, chain string, bgOnly bool) (views.AuditorData, app.Names, error) {
	ctx := r.Context()
	d := views.AuditorData{Chain: chain, BreakGlassOnly: bgOnly, Errors: views.FieldErrors{}}
	page, err := p.records.SearchAudit(ctx, ehr.AuditQuery{ChainID: chain, BreakGlassOnly: bgOnly, Limit: 100})
	if err != nil {
		return d, app.Names{}, err
	}
	for _, e := range page.Events {
		d.Events = append(d.Events, views.AuditRow{At: e.OccurredAt.Format("2006-01-02 15:04:05"), User: e.UserID,
			Roles: strings.Join(e.Roles, ", "), Action: e.Action, Kind: e.Kind, Chain: e.ChainID, Record: e.RecordID,
			Outcome: e.Outcome, BreakGlass: e.BreakGlass, Reason: e.Reason})
	}
	grants, err := p.records.ListBreakGlass(ctx, ehr.BreakGlassQuery{Limit: 100})
	if err != nil {
		return d, app.Names{}, err
	}
	users := make([]string, 0, len(grants))
	for _, g := range grants {
		users = append(users, g.UserID)
	}
	nm := p.names.Names(ctx, c, users, nil)
	now := time.Now()
	for _, g := range grants {
		d.Grants = append(d.Grants, views.GrantView{At: web.LocalTime(g.GrantedAt), User: nm.Username(g.UserID), PatientID: g.PatientID, Reason: g.Reason,
			Until: web.LocalTime(g.NotAfter), Uses: g.Uses, Active: g.NotAfter.After(now)})
	}
	return d, nm, nil
}

// auditor shows the audit search.
func (p *pages) auditor(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	q := r.URL.Query()
	d, nm, err := p.auditData(r, c, strings.TrimSpace(q.Get("chain")), q.Get("breakglass") == "1")
	status := http.StatusOK
	switch {
	case err == nil:
	case errors.Is(err, ehr.ErrInvalid):
		status, d.Errors["chain"] = http.StatusUnprocessableEntity, i18n.FieldKey(ehr.CodeInvalid)
		nm = p.names.Names(r.Context(), c, nil, nil)
	default:
		return err
	}
	p.web.Render(w, r, status, views.Auditor(p.web.LayoutNamed(r, c, "auditor.title", nm), d))
	return nil
}

// verifyChain verifies one chain (a patient's, or one lane), or the
// tenant's own chains, all its lanes, when the field is empty or the
// tenant id (ehr.Repository.VerifyChain); the events shown are then the
// lanes' sum, and a broken lane is named in the detail.
func (p *pages) verifyChain(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	f, err := web.ParseForm(w, r)
	if err != nil {
		return err
	}
	chain := f["chain"]
	if chain == "" {
		chain = c.TenantID
	}
	st, err := p.records.VerifyChain(r.Context(), chain)
	var ce *ehr.ChainError
	res := &views.VerifyResult{Chain: chain}
	switch {
	case err == nil:
		res.OK, res.Events = true, st.Events
	case errors.As(err, &ce):
		res.Detail = ce.Error()
	case errors.Is(err, ehr.ErrInvalid):
		d, nm, derr := p.auditData(r, c, "", false)
		if derr != nil {
			nm = p.names.Names(r.Context(), c, nil, nil)
		}
		d.Chain, d.Errors["chain"] = chain, i18n.FieldKey(ehr.CodeInvalid)
		p.web.Render(w, r, http.StatusUnprocessableEntity, views.Auditor(p.web.LayoutNamed(r, c, "auditor.title", nm), d))
		return nil
	default:
		return err
	}
	d, nm, err := p.auditData(r, c, "", false)
	if err != nil {
		return err
	}
	d.Chain, d.Verified = chain, res
	p.web.Render(w, r, http.StatusOK, views.Auditor(p.web.LayoutNamed(r, c, "auditor.title", nm), d))
	return nil
}
