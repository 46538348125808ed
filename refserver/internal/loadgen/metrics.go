package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serverSample is one scrape of the server's metrics (the Go and process
// collectors' and web.NewPoolCollector's, all without labels).
type serverSample struct {
	rss, heap, goroutines                   float64
	acquired, total, maxConns               float64
	acquires, acquireSeconds, emptyAcquires float64
	newConns                                float64
}

// fields maps the metric names read to the fields of s.
func (s *serverSample) fields() map[string]*float64 {
	return map[string]*float64{
		"process_resident_memory_bytes":                   &s.rss,
		"go_memstats_heap_inuse_bytes":                    &s.heap,
		"go_goroutines":                                   &s.goroutines,
		"historia_db_pool_acquired_conns":                 &s.acquired,
		"historia_db_pool_total_conns":                    &s.total,
		"historia_db_pool_max_conns":                      &s.maxConns,
		"historia_db_pool_acquires_total":                 &s.acquires,
		"historia_db_pool_acquire_duration_seconds_total": &s.acquireSeconds,
		"historia_db_pool_empty_acquires_total":           &s.emptyAcquires,
		"historia_db_pool_new_conns_total":                &s.newConns,
	}
}

// max raises the gauges of s to those of o.
func (s *serverSample) max(o *serverSample) {
	s.rss, s.heap, s.goroutines = max(s.rss, o.rss), max(s.heap, o.heap), max(s.goroutines, o.goroutines)
	s.acquired, s.total, s.maxConns = max(s.acquired, o.acquired), max(s.total, o.total), max(s.maxConns, o.maxConns)
}

// scrape reads the server's metrics endpoint (the Prometheus text
// format; only the unlabelled samples named by serverSample.fields).
func (d *driver) scrape(ctx context.Context) (*serverSample, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.cfg.MetricsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: metrics: %w", err)
	}
	if d.cfg.MetricsToken != "" {
		req.Header.Set("Authorization", "Bearer "+d.cfg.MetricsToken)
	}
	req.Header.Set("Accept", "text/plain")
	res, err := d.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("loadgen: metrics: status %d", res.StatusCode)
	}
	s := &serverSample{}
	want := s.fields()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if p, ok := want[f[0]]; ok {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				*p = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("loadgen: metrics: %w", err)
	}
	return s, nil
}

// ServerStats is what the server's metrics said of a phase: memory and
// goroutines before, after and at the peak of the scrapes made during
// the phase (one per progress line), and the connection pool's use.
type ServerStats struct {
	RSSBefore, RSSAfter, RSSPeak    float64 // bytes
	HeapBefore, HeapAfter, HeapPeak float64 // bytes (heap in use)
	GoroutinesPeak                  float64
	PoolMax                         float64 // the pool's largest size
	PoolOpenPeak, PoolInUsePeak     float64 // connections
	Acquires                        float64 // acquisitions in the phase
	// EmptyAcquires counts the acquisitions that waited because every
	// connection was in use; MeanAcquireWait is the mean time an
	// acquisition took.
	EmptyAcquires   float64
	MeanAcquireWait time.Duration
	NewConns        float64
}

func serverStats(before, after, peak *serverSample) *ServerStats {
	peak.max(after)
	s := &ServerStats{RSSBefore: before.rss, RSSAfter: after.rss, RSSPeak: max(peak.rss, before.rss),
		HeapBefore: before.heap, HeapAfter: after.heap, HeapPeak: max(peak.heap, before.heap),
		GoroutinesPeak: peak.goroutines, PoolMax: after.maxConns, PoolOpenPeak: peak.total, PoolInUsePeak: peak.acquired,
		Acquires: after.acquires - before.acquires, EmptyAcquires: after.emptyAcquires - before.emptyAcquires,
		NewConns: after.newConns - before.newConns}
	if s.Acquires > 0 {
		s.MeanAcquireWait = time.Duration((after.acquireSeconds - before.acquireSeconds) / s.Acquires * float64(time.Second))
	}
	return s
}

// mib writes a size in bytes as MiB.
func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }
