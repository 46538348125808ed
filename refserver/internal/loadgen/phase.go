package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Phase is the result of one phase of a run.
type Phase struct {
	Name      string
	Elapsed   time.Duration
	Endpoints []Endpoint
	// Server is what the metrics endpoint said; nil without one.
	Server *ServerStats
}

// Endpoint is the result of one endpoint in a phase.
type Endpoint struct {
	Name string
	// Count is the number of requests answered (failures included;
	// requests cut short by the end of the phase are not counted), and
	// the latencies are theirs.
	Count         uint64
	Rate          float64 // requests per second
	Mean          time.Duration
	P50, P95, P99 time.Duration
	Max           time.Duration
	// Errors counts the failed requests by status ("500", "401"; "net"
	// for no answer).
	Errors map[string]uint64
}

// ErrorCount is the number of failed requests.
func (e Endpoint) ErrorCount() uint64 {
	var n uint64
	for _, c := range e.Errors {
		n += c
	}
	return n
}

// stats is the running count of one endpoint.
type stats struct {
	mu     sync.Mutex
	h      histogram
	errors map[string]uint64
}

// phase runs actions with cfg.Concurrency virtual users until the
// duration or the count of requests is reached, or ctx ends; with
// scrape, it reads the server's metrics (when there is a MetricsURL).
func (d *driver) phase(ctx context.Context, name string, actions []action, scrape bool) (*Phase, error) {
	if len(actions) == 0 {
		return nil, errors.New("loadgen: nothing to drive")
	}
	cfg := d.cfg
	sched := newScheduler(actions)
	st := make([]*stats, len(actions))
	for i := range actions {
		st[i] = &stats{errors: map[string]uint64{}}
	}
	var before *serverSample
	scrape = scrape && cfg.MetricsURL != ""
	if scrape {
		s, err := d.scrape(ctx)
		if err != nil {
			return nil, err
		}
		before = s
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var tickets atomic.Int64
	tickets.Store(int64(cfg.Requests))
	var done, failed atomic.Uint64
	start := time.Now()
	var wg sync.WaitGroup
	for v := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(v)+1, uint64(start.UnixNano())))
			for ctx.Err() == nil {
				if cfg.Requests > 0 && tickets.Add(-1) < 0 {
					return
				}
				i := sched.next()
				switch d.request(ctx, actions[i], rng, st[i]) {
				case cutShort:
					return
				case failure:
					failed.Add(1)
				}
				done.Add(1)
				if cfg.Think > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(cfg.Think):
					}
				}
			}
		}()
	}
	stopProgress := d.progress(ctx, name, start, &done, &failed, scrape)
	wg.Wait()
	elapsed := time.Since(start)
	peak := stopProgress()
	ph := &Phase{Name: name, Elapsed: elapsed}
	for i, a := range actions {
		h := &st[i].h
		ph.Endpoints = append(ph.Endpoints, Endpoint{Name: a.name, Count: h.n, Rate: float64(h.n) / elapsed.Seconds(),
			Mean: h.mean(), P50: h.quantile(0.50), P95: h.quantile(0.95), P99: h.quantile(0.99), Max: h.max,
			Errors: st[i].errors})
	}
	if before != nil {
		after, err := d.scrape(context.WithoutCancel(ctx))
		if err != nil {
			return ph, err
		}
		ph.Server = serverStats(before, after, peak)
	}
	return ph, nil
}

// scheduler deals the actions to the virtual users by smooth weighted
// round robin (nginx's): over every run of as many requests as the sum of
// the weights, each action is picked exactly its weight's number of
// times, and the picks of an action are spread out, not bunched.
type scheduler struct {
	mu      sync.Mutex
	weights []int
	current []int
	total   int
}

func newScheduler(actions []action) *scheduler {
	s := &scheduler{weights: make([]int, len(actions)), current: make([]int, len(actions))}
	g := 0
	for _, a := range actions {
		g = gcd(g, a.weight)
	}
	for i, a := range actions {
		s.weights[i] = a.weight / max(g, 1)
		s.total += s.weights[i]
	}
	return s
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// next returns the index of the next action.
func (s *scheduler) next() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := 0
	for i, w := range s.weights {
		s.current[i] += w
		if s.current[i] > s.current[best] {
			best = i
		}
	}
	s.current[best] -= s.total
	return best
}

// outcome is how a request ended.
type outcome int

const (
	success outcome = iota
	failure
	cutShort // by the end of the phase: not counted
)

// request sends one request of a and records its latency (successes and
// refusals alike) and, when it fails, its status.
func (d *driver) request(ctx context.Context, a action, rng *rand.Rand, s *stats) outcome {
	req, err := a.build(ctx, rng)
	if err != nil {
		s.fail("build")
		return failure
	}
	if !a.noAuth {
		tok, err := d.sessions[a.role].bearer(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return cutShort
			}
			s.fail("login")
			return failure
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	t0 := time.Now()
	res, err := d.cfg.Client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	lat := time.Since(t0)
	switch {
	case err != nil && ctx.Err() != nil:
		return cutShort
	case err != nil:
		s.record(lat, "net")
		return failure
	case res.StatusCode != a.want:
		s.record(lat, strconv.Itoa(res.StatusCode))
		return failure
	}
	s.record(lat, "")
	return success
}

func (s *stats) record(d time.Duration, failure string) {
	s.mu.Lock()
	s.h.record(d)
	if failure != "" {
		s.errors[failure]++
	}
	s.mu.Unlock()
}

func (s *stats) fail(failure string) {
	s.mu.Lock()
	s.errors[failure]++
	s.mu.Unlock()
}

// progress writes a progress line every cfg.ProgressEvery until the
// returned function is called; that function returns the peaks the
// scrapes of the metrics endpoint saw meanwhile.
func (d *driver) progress(ctx context.Context, name string, start time.Time, done, failed *atomic.Uint64, scrape bool) func() *serverSample {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	peak := &serverSample{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d.cfg.ProgressEvery)
		defer t.Stop()
		last, lastAt := uint64(0), start
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				n := done.Load()
				line := fmt.Sprintf("%s %5.1fs  %d req  %.0f req/s  %d failed", name, now.Sub(start).Seconds(), n,
					float64(n-last)/now.Sub(lastAt).Seconds(), failed.Load())
				last, lastAt = n, now
				if scrape {
					if s, err := d.scrape(ctx); err == nil {
						peak.max(s)
						line += fmt.Sprintf("  server %s RSS, pool %.0f/%.0f in use", mib(s.rss), s.acquired, s.maxConns)
					}
				}
				d.printProgress(line)
			}
		}
	}()
	return func() *serverSample {
		close(stop)
		wg.Wait()
		if d.cfg.Progress != nil && d.cfg.Terminal {
			fmt.Fprint(d.cfg.Progress, "\r\033[K")
		}
		return peak
	}
}

func (d *driver) printProgress(line string) {
	if d.cfg.Progress == nil {
		return
	}
	if d.cfg.Terminal {
		fmt.Fprint(d.cfg.Progress, "\r\033[K"+line)
		return
	}
	fmt.Fprintln(d.cfg.Progress, line)
}

// sortedErrors writes errors as "500×3, net×1".
func sortedErrors(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
