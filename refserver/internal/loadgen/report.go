package loadgen

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the result of a run.
type Report struct {
	Concurrency int
	Mix         Mix // nil when the role mix was not run
	Patients    int // the medico's patients the charts were drawn from
	Phases      []*Phase
}

// Phase returns the phase called name, or nil.
func (r *Report) Phase(name string) *Phase {
	for _, p := range r.Phases {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Total is the sum of the phase's counts, its throughput and failures.
func (p *Phase) Total() (count uint64, rate float64, failed uint64) {
	for _, e := range p.Endpoints {
		count += e.Count
		failed += e.ErrorCount()
	}
	return count, float64(count) / p.Elapsed.Seconds(), failed
}

func (r *Report) mixName() string {
	if r.Mix == nil {
		return "no role mix"
	}
	return "mix " + r.Mix.String()
}

// ms writes a latency in milliseconds.
func ms(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", d.Seconds()*1e3)
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", d.Seconds()*1e3)
	}
	return fmt.Sprintf("%.2f ms", d.Seconds()*1e3)
}

func errorsCell(e Endpoint) string {
	if len(e.Errors) == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", e.ErrorCount(), sortedErrors(e.Errors))
}

// WriteText writes the report as aligned tables.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%d virtual users, %s, charts of %d patients\n", r.Concurrency, r.mixName(), r.Patients)
	for _, p := range r.Phases {
		n, rate, failed := p.Total()
		fmt.Fprintf(w, "\n== %s: %d requests in %.1fs, %.1f req/s, %d failed\n", p.Name, n, p.Elapsed.Seconds(), rate, failed)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "endpoint\tcount\treq/s\tp50\tp95\tp99\tmax\terrors\t")
		for _, e := range p.Endpoints {
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", e.Name, e.Count, e.Rate, ms(e.P50), ms(e.P95), ms(e.P99), ms(e.Max), errorsCell(e))
		}
		tw.Flush()
		if s := p.Server; s != nil {
			fmt.Fprintf(w, "server: RSS %s → %s (peak %s), heap in use %s → %s (peak %s), goroutines peak %.0f\n",
				mib(s.RSSBefore), mib(s.RSSAfter), mib(s.RSSPeak), mib(s.HeapBefore), mib(s.HeapAfter), mib(s.HeapPeak), s.GoroutinesPeak)
			fmt.Fprintf(w, "pool: max %.0f, open peak %.0f, in use peak %.0f (at the scrapes); %.0f acquires, %.0f waited for a connection, mean acquire %s, %.0f new connections\n",
				s.PoolMax, s.PoolOpenPeak, s.PoolInUsePeak, s.Acquires, s.EmptyAcquires, ms(s.MeanAcquireWait), s.NewConns)
		}
	}
	r.writeComparison(w, false)
}

// WriteMarkdown writes the report as markdown tables, for
// docs/performance.md.
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "%d virtual users, %s, charts of %d patients.\n", r.Concurrency, r.mixName(), r.Patients)
	for _, p := range r.Phases {
		n, rate, failed := p.Total()
		fmt.Fprintf(w, "\n**%s**: %d requests in %.1f s, %.1f req/s, %d failed.\n\n", p.Name, n, p.Elapsed.Seconds(), rate, failed)
		fmt.Fprintln(w, "| endpoint | count | req/s | p50 | p95 | p99 | max | errors |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---|")
		for _, e := range p.Endpoints {
			fmt.Fprintf(w, "| %s | %d | %.1f | %s | %s | %s | %s | %s |\n", strings.ReplaceAll(e.Name, "|", `\|`), e.Count, e.Rate,
				ms(e.P50), ms(e.P95), ms(e.P99), ms(e.Max), errorsCell(e))
		}
		if s := p.Server; s != nil {
			fmt.Fprintf(w, "\nServer: RSS %s → %s (peak %s); heap in use %s → %s (peak %s); pool max %.0f, in use at most %.0f at the scrapes, %.0f of %.0f acquires waited, mean acquire %s.\n",
				mib(s.RSSBefore), mib(s.RSSAfter), mib(s.RSSPeak), mib(s.HeapBefore), mib(s.HeapAfter), mib(s.HeapPeak),
				s.PoolMax, s.PoolInUsePeak, s.EmptyAcquires, s.Acquires, ms(s.MeanAcquireWait))
		}
	}
	r.writeComparison(w, true)
}

// writeComparison writes Historia's chart beside the baselines', when the
// run compared them.
func (r *Report) writeComparison(w io.Writer, markdown bool) {
	h := r.Phase("historia chart")
	if h == nil || len(h.Endpoints) == 0 {
		return
	}
	he := h.Endpoints[0]
	rows := [][]string{{"historia", fmt.Sprintf("%.1f", he.Rate), ms(he.P50), ms(he.P95), ms(he.P99), "1"}}
	for _, name := range []string{"baseline", "baseline-audited"} {
		b := r.Phase(name)
		if b == nil || len(b.Endpoints) == 0 || he.Rate == 0 {
			continue
		}
		be := b.Endpoints[0]
		rows = append(rows, []string{name, fmt.Sprintf("%.1f", be.Rate), ms(be.P50), ms(be.P95), ms(be.P99),
			fmt.Sprintf("%.2f", be.Rate/he.Rate)})
	}
	if len(rows) == 1 {
		return
	}
	head := []string{"chart server", "req/s", "p50", "p95", "p99", "throughput / historia's"}
	if markdown {
		fmt.Fprintln(w, "\n| "+strings.Join(head, " | ")+" |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
		for _, row := range rows {
			fmt.Fprintln(w, "| "+strings.Join(row, " | ")+" |")
		}
		return
	}
	fmt.Fprintln(w, "\n== the chart, side by side")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
}
