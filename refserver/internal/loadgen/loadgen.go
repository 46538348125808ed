package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The demo roles the mix drives (the usernames of the demo accounts).
const (
	RoleMedico       = "medico"
	RoleAdmisionista = "admisionista"
	RoleSecretaria   = "secretaria"
	RolePaciente     = "paciente"
)

// Roles are the roles of a mix, in the order reports list them.
var Roles = []string{RoleMedico, RoleAdmisionista, RoleSecretaria, RolePaciente}

// DefaultMix is the role mix of a hospital's day: physicians read and
// write most, the admissions and front desks less, patients least.
var DefaultMix = Mix{RoleMedico: 50, RoleAdmisionista: 20, RoleSecretaria: 20, RolePaciente: 10}

// Mix weighs the roles: a role of weight 0 (or absent) is not driven.
type Mix map[string]int

// ParseMix reads a mix written "medico=50,admisionista=20,...".
func ParseMix(s string) (Mix, error) {
	m := Mix{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		role, w, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(strings.TrimSpace(w))
		role = strings.TrimSpace(role)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("mix %q: want role=weight, a weight of 0 or more", part)
		}
		if !slices.Contains(Roles, role) {
			return nil, fmt.Errorf("mix: unknown role %q (roles: %s)", role, strings.Join(Roles, ", "))
		}
		m[role] = n
	}
	if m.total() == 0 {
		return nil, errors.New("mix: every weight is 0")
	}
	return m, nil
}

func (m Mix) total() int {
	t := 0
	for _, r := range Roles {
		t += m[r]
	}
	return t
}

// String writes m as ParseMix reads it.
func (m Mix) String() string {
	var parts []string
	for _, r := range Roles {
		if m[r] > 0 {
			parts = append(parts, r+"="+strconv.Itoa(m[r]))
		}
	}
	return strings.Join(parts, ",")
}

// Config configures a run.
type Config struct {
	// URL is the server's base URL (http://127.0.0.1:8080). Required.
	URL string
	// Tenant is the tenant to sign into; empty is the server's default
	// tenant (the only one, or serve's --tenant).
	Tenant string
	// Password is the demo users' password. Required.
	Password string
	// Concurrency is the number of virtual users (default 16).
	Concurrency int
	// Duration bounds each phase; Requests bounds it by a count of
	// requests. At least one must be set; with both, the first reached
	// ends the phase.
	Duration time.Duration
	Requests int
	// Mix weighs the roles (DefaultMix when nil). SkipMix leaves the role
	// mix out (only the comparison with the baseline runs).
	Mix     Mix
	SkipMix bool
	// Think is a pause after each request of a virtual user.
	Think time.Duration
	// MetricsURL is the server's Prometheus endpoint (serve's
	// --metrics-addr, http://127.0.0.1:9090/metrics), scraped before,
	// during and after each phase; MetricsToken is its bearer token when
	// it is served with --metrics-token-file. Empty: no server figures.
	MetricsURL   string
	MetricsToken string
	// Baseline, when set, starts the baseline server for the tenant the
	// run signed into (package baseline's Server); the run then adds the
	// comparison phases. BaselineAudited adds a third phase against a
	// baseline made by BaselineAudited (the baseline with its audit
	// append).
	Baseline        func(ctx context.Context, tenant string) (http.Handler, error)
	BaselineAudited func(ctx context.Context, tenant string) (http.Handler, error)
	// Progress receives a progress line every ProgressEvery (default
	// 2 s); a terminal (Terminal) gets one line rewritten in place.
	Progress      io.Writer
	ProgressEvery time.Duration
	Terminal      bool
	// AllowRemote lets the driver load a server outside the loopback
	// addresses.
	AllowRemote bool
	// Client is the HTTP client (default: keep-alive with an idle
	// connection per virtual user, 30 s timeout).
	Client *http.Client
}

// Run signs in, discovers the targets, and runs the phases: the role mix,
// then, with Config.Baseline, the chart comparison.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.URL == "" || cfg.Password == "" {
		return nil, errors.New("loadgen: the server URL and the demo password are required")
	}
	if cfg.Duration <= 0 && cfg.Requests <= 0 {
		return nil, errors.New("loadgen: a duration or a number of requests is required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Mix == nil {
		cfg.Mix = DefaultMix
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 2 * time.Second
	}
	base, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("loadgen: %q is not an http(s) URL", cfg.URL)
	}
	if !cfg.AllowRemote {
		if err := loopback(ctx, base.Hostname()); err != nil {
			return nil, err
		}
	}
	if cfg.Client == nil {
		cfg.Client = newClient(cfg.Concurrency)
	}
	d := &driver{cfg: cfg, base: base.String(), sessions: map[string]*session{}}
	if err := d.discover(ctx); err != nil {
		return nil, err
	}
	rep := &Report{Concurrency: cfg.Concurrency, Patients: len(d.patients)}
	if !cfg.SkipMix {
		rep.Mix = cfg.Mix
	}
	if !cfg.SkipMix {
		ph, err := d.phase(ctx, "mix", d.mixActions(), true)
		if err != nil {
			return rep, err
		}
		rep.Phases = append(rep.Phases, ph)
	}
	if cfg.Baseline == nil || ctx.Err() != nil {
		return rep, nil
	}
	chart := []action{d.chartAction(d.base, "historia "+routeChart, RoleMedico)}
	ph, err := d.phase(ctx, "historia chart", chart, true)
	if err != nil {
		return rep, err
	}
	rep.Phases = append(rep.Phases, ph)
	for _, b := range []struct {
		name  string
		start func(context.Context, string) (http.Handler, error)
	}{{"baseline", cfg.Baseline}, {"baseline-audited", cfg.BaselineAudited}} {
		if b.start == nil || ctx.Err() != nil {
			continue
		}
		ph, err := d.baselinePhase(ctx, b.name, b.start)
		if err != nil {
			return rep, err
		}
		rep.Phases = append(rep.Phases, ph)
	}
	return rep, nil
}

// loopback refuses a host that is not, or does not resolve only to, a
// loopback address.
func loopback(ctx context.Context, host string) error {
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("loadgen: %s: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return fmt.Errorf("loadgen: %s is not a loopback address: load a server of your own, or set --allow-remote", host)
		}
	}
	return nil
}

func newClient(c int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 2*c + 8
	t.MaxIdleConnsPerHost = 2*c + 8
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: 30 * time.Second,
		// A redirect is an answer to count, not to follow (a page that
		// sends to /login has refused the session).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
