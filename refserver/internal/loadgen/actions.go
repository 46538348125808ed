package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// action is one kind of request of the mix.
type action struct {
	role   string
	name   string // the endpoint as reported
	weight int
	// build makes the request (the session's bearer token is added).
	build func(ctx context.Context, rng *rand.Rand) (*http.Request, error)
	want  int // the status of success
	// noAuth marks a request to a server without sessions (the baseline).
	noAuth bool
}

// Route names of the endpoints driven.
const (
	routeChart     = "GET /api/v1/patients/{id}/chart"
	routeChartPage = "GET /medico/pacientes/{id}"
	routeMine      = "GET /api/v1/my-patients"
	routeNote      = "POST /api/v1/patients/{id}/notes"
	routeSearch    = "GET /api/v1/patients?name="
	routeRegister  = "POST /api/v1/patients"
	routeAgenda    = "GET /api/v1/appointments"
	routeDesk      = "GET /secretaria"
	routePortal    = "GET /paciente/{id}"
	routeBaseline  = "GET /chart/{id}"
)

func getReq(ctx context.Context, u string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
}

func jsonReq(ctx context.Context, u string, v any) (*http.Request, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(b)))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, err
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// chartAction reads a chart of one of the medico's patients at base
// (Historia's API, or the baseline's /chart/{id} when role is "").
func (d *driver) chartAction(base, name, role string) action {
	if role == "" {
		return action{name: name, weight: 1, want: http.StatusOK, noAuth: true,
			build: func(ctx context.Context, rng *rand.Rand) (*http.Request, error) {
				return getReq(ctx, base+"/chart/"+pick(rng, d.patients))
			}}
	}
	return action{role: role, name: name, weight: 1, want: http.StatusOK,
		build: func(ctx context.Context, rng *rand.Rand) (*http.Request, error) {
			return getReq(ctx, base+"/api/v1/patients/"+pick(rng, d.patients)+"/chart")
		}}
}

// mixActions are the actions of the role mix, their weights the role's
// weight times the action's share of the role (see the package comment).
func (d *driver) mixActions() []action {
	b := d.base
	var out []action
	add := func(role string, w int, name string, want int, build func(context.Context, *rand.Rand) (*http.Request, error)) {
		if rw := d.cfg.Mix[role]; rw > 0 {
			out = append(out, action{role: role, name: role + " " + name, weight: rw * w, want: want, build: build})
		}
	}
	patient := func(rng *rand.Rand) string { return pick(rng, d.patients) }
	add(RoleMedico, 4, routeChart, http.StatusOK, func(ctx context.Context, rng *rand.Rand) (*http.Request, error) {
		return getReq(ctx, b+"/api/v1/patients/"+patient(rng)+"/chart")
	})
	add(RoleMedico, 3, routeChartPage, http.StatusOK, func(ctx context.Context, rng *rand.Rand) (*http.Request, error) {
		return getReq(ctx, b+"/medico/pacientes/"+patient(rng))
	})
	add(RoleMedico, 1, routeMine, http.StatusOK, func(ctx context.Context, rng *rand.Rand) (*http.Request, error) {
		return getReq(ctx, b+"/api/v1/my-patients")
	})
	add(RoleMedico, 1, routeNote, http.StatusCreated, func(ctx context.Context, rng *rand.Rand) (*http.Request, error) {
		return jsonReq(ctx, b+"/api/v1/patients/"+patient(rng)+"/notes", map[string]any{
			"title": "Prueba de carga", "body": "Nota sintética escrita por historia load.", "sign": true})
	})
	add(RoleAdmisionista, 4, routeSearch, http.StatusOK, func(ctx context.Context, rng *rand.Rand) (*http.Request, error) {
		return getReq(ctx, b+"/api/v1/patients?name="+url.QueryEscape(pick(rng, d.prefixes)))
	})
	add(RoleAdmisionista, 1, routeRegister, http.StatusCreated, func(ctx context.Context, rng *rand.Rand) (*http.Request, error) {
		n := d.registered.Add(1)
		return jsonReq(ctx, b+"/api/v1/patients", map[string]any{
			"document_type": "CARGA", "document_number": fmt.Sprintf("L%x-%d", time.Now().UnixNano(), n),
			"given_names": "Carga", "family_names": "Prueba", "birth_date": "1980-01-01", "sex": "unknown"})
	})
	add(RoleSecretaria, 3, routeAgenda, http.StatusOK, func(ctx context.Context, rng *rand.Rand) (*http.Request, error) {
		now := time.Now()
		monday := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.Local).AddDate(0, 0, -((int(now.Weekday()) + 6) % 7))
		q := url.Values{"practitioner": {pick(rng, d.practitioners)}, "from": {monday.Format(time.RFC3339)},
			"to": {monday.AddDate(0, 0, 7).Format(time.RFC3339)}}
		return getReq(ctx, b+"/api/v1/appointments?"+q.Encode())
	})
	add(RoleSecretaria, 1, routeDesk, http.StatusOK, func(ctx context.Context, rng *rand.Rand) (*http.Request, error) {
		return getReq(ctx, b+"/secretaria?practitioner="+url.QueryEscape(pick(rng, d.practitioners)))
	})
	add(RolePaciente, 2, routeChart, http.StatusOK, func(ctx context.Context, rng *rand.Rand) (*http.Request, error) {
		return getReq(ctx, b+"/api/v1/patients/"+d.ownPatient+"/chart")
	})
	add(RolePaciente, 1, routePortal, http.StatusOK, func(ctx context.Context, rng *rand.Rand) (*http.Request, error) {
		return getReq(ctx, b+"/paciente/"+d.ownPatient)
	})
	return out
}

// baselinePhase serves the baseline made by start on a loopback listener
// of its own and drives its chart.
func (d *driver) baselinePhase(ctx context.Context, name string, start func(context.Context, string) (http.Handler, error)) (*Phase, error) {
	h, err := start(ctx, d.tenant)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %s: %w", name, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	// The baseline serves the server's patients: check one before the
	// clock starts.
	req, err := getReq(ctx, base+"/chart/"+d.patients[0])
	if err == nil {
		err = d.do(req, http.StatusOK, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("loadgen: %s: %w", name, err)
	}
	// The baseline runs in this process: the server's metrics say
	// nothing of it.
	return d.phase(ctx, name, []action{d.chartAction(base, name+" "+routeBaseline, "")}, false)
}
