package web

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolCollector exports pgxpool's statistics (pool.Stat()) as Prometheus
// metrics, read at each scrape.
type PoolCollector struct {
	stat  func() *pgxpool.Stat
	descs map[string]*prometheus.Desc
}

type poolMetric struct {
	name, help string
	counter    bool
	value      func(*pgxpool.Stat) float64
}

var poolMetrics = []poolMetric{
	{"historia_db_pool_acquired_conns", "Connections currently in use.", false, func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }},
	{"historia_db_pool_idle_conns", "Idle connections.", false, func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }},
	{"historia_db_pool_constructing_conns", "Connections being opened.", false, func(s *pgxpool.Stat) float64 { return float64(s.ConstructingConns()) }},
	{"historia_db_pool_total_conns", "Open connections.", false, func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }},
	{"historia_db_pool_max_conns", "Largest size of the pool.", false, func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }},
	{"historia_db_pool_acquires_total", "Successful connection acquisitions.", true, func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }},
	{"historia_db_pool_acquire_duration_seconds_total", "Time spent acquiring connections.", true, func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }},
	{"historia_db_pool_empty_acquires_total", "Acquisitions that waited for a connection because the pool was empty.", true, func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }},
	{"historia_db_pool_canceled_acquires_total", "Acquisitions canceled by their context.", true, func(s *pgxpool.Stat) float64 { return float64(s.CanceledAcquireCount()) }},
	{"historia_db_pool_new_conns_total", "Connections opened.", true, func(s *pgxpool.Stat) float64 { return float64(s.NewConnsCount()) }},
	{"historia_db_pool_max_lifetime_destroys_total", "Connections closed for exceeding their lifetime.", true, func(s *pgxpool.Stat) float64 { return float64(s.MaxLifetimeDestroyCount()) }},
	{"historia_db_pool_max_idle_destroys_total", "Connections closed for being idle too long.", true, func(s *pgxpool.Stat) float64 { return float64(s.MaxIdleDestroyCount()) }},
}

// NewPoolCollector returns a collector over stat (normally pool.Stat).
func NewPoolCollector(stat func() *pgxpool.Stat) *PoolCollector {
	c := &PoolCollector{stat: stat, descs: map[string]*prometheus.Desc{}}
	for _, m := range poolMetrics {
		c.descs[m.name] = prometheus.NewDesc(m.name, m.help, nil, nil)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range poolMetrics {
		ch <- c.descs[m.name]
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stat()
	for _, m := range poolMetrics {
		t := prometheus.GaugeValue
		if m.counter {
			t = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[m.name], t, m.value(st))
	}
}
