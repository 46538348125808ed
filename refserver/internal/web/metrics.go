package web

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the server's Prometheus metrics, registered on their own
// registry so that tests can run several servers.
type Metrics struct {
	Registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	loginFailures prometheus.Counter
}

// NewMetrics creates the metrics and registers them, with the Go and
// process collectors, on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "historia_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "historia_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		loginFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "historia_login_failures_total",
			Help: "Failed login attempts.",
		}),
	}
	m.Registry.MustRegister(m.requests, m.latency, m.loginFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchSpraying exposes alerts, auth's count of password-spraying alerts
// (auth.Service.SprayingAlerts), as historia_login_spraying_alerts_total.
func (m *Metrics) WatchSpraying(alerts func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "historia_login_spraying_alerts_total",
		Help: "Password-spraying alerts raised (many usernames failing from anywhere within a minute in a tenant).",
	}, func() float64 { return float64(alerts()) }))
}

// LoginFailed counts one failed login.
func (m *Metrics) LoginFailed() { m.loginFailures.Inc() }

func (m *Metrics) observe(route, method string, code int, seconds float64) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(seconds)
}
