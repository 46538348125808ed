package views

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBuildChart(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	series := []Series{
		{LabelKey: "vital.heart_rate", Unit: "/min", Points: []Point{
			{t0.Add(48 * time.Hour), 90}, {t0, 70}, {t0.Add(24 * time.Hour), 80},
		}},
		{LabelKey: "vital.temperature", Unit: "°C"},
		{LabelKey: "vital.spo2", Unit: "%", Points: []Point{{t0, 97}}},
	}
	panels := BuildChart(series)
	if len(panels) != 2 {
		t.Fatalf("%d panels, want 2 (the empty series is left out)", len(panels))
	}
	hr := panels[0]
	// Sorted by time: the first point is at the left edge, the last at the
	// right edge; the highest value is drawn highest (smallest y).
	pts := strings.Split(hr.Polyline, " ")
	if len(pts) != 3 || !strings.HasPrefix(pts[0], itoa(hr.PlotLeft)+",") || !strings.HasPrefix(pts[2], itoa(hr.PlotRight)+",") {
		t.Errorf("polyline %q", hr.Polyline)
	}
	if y0, y2 := atof(t, hr.Dots[0].Y), atof(t, hr.Dots[2].Y); y2 >= y0 {
		t.Errorf("highest value not drawn highest: %v", hr.Dots)
	}
	if hr.Last != "90 /min" || hr.XTicks[0].Label != "01/11" || hr.XTicks[2].Label != "03/11" {
		t.Errorf("last %q ticks %v", hr.Last, hr.XTicks)
	}
	// 70..90 in steps of 5: round ticks from the lowest to the highest
	// value, the lowest at the bottom of the plot.
	if got := tickLabels(hr.YTicks); got != "70 75 80 85 90" {
		t.Errorf("y ticks %s", got)
	}
	if hr.YTicks[0].Pos != itoa(hr.PlotBottom) || hr.YTicks[len(hr.YTicks)-1].Pos != itoa(hr.PlotTop) {
		t.Errorf("y ticks %v do not span the plot %d..%d", hr.YTicks, hr.PlotTop, hr.PlotBottom)
	}
	// One point: no division by zero, a point in the middle of the time
	// axis and inside the plot.
	p := panels[1]
	xy := strings.Split(p.Polyline, ",")
	if mid := (p.PlotLeft + p.PlotRight) / 2; len(xy) != 2 || xy[0] != itoa(mid) {
		t.Errorf("single point at %q, want x %d", p.Polyline, mid)
	} else if y := atof(t, xy[1]); y <= float64(p.PlotTop) || y >= float64(p.PlotBottom) {
		t.Errorf("single point at %q, outside the plot", p.Polyline)
	}
}

// TestChartTicksRound: whatever the data, the y ticks are evenly spaced
// multiples of 1, 2 or 5 times a power of ten, at most five, and they
// cover every value; every label lies inside the viewBox.
func TestChartTicksRound(t *testing.T) {
	t0 := time.Date(2026, 10, 29, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		values []float64
		want   string // the labels, when fixed
	}{
		{"heart rate", []float64{69.7, 93, 81.3, 72}, "60 70 80 90 100"},
		{"temperature", []float64{36.1, 38.2, 37.2}, "36 37 38 39"},
		{"spo2", []float64{98, 100, 99}, "98 98.5 99 99.5 100"},
		{"systolic", []float64{114, 140, 127}, "110 120 130 140"},
		{"one value", []float64{97}, ""},
		{"weight", []float64{70.25, 70.3}, ""},
		{"zero", []float64{0, 0}, ""},
		{"large", []float64{1234, 98765}, ""},
		{"negative", []float64{-3.3, 2.1}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var pts []Point
			for i, v := range c.values {
				pts = append(pts, Point{t0.Add(time.Duration(i) * 24 * time.Hour), v})
			}
			panels := BuildChart([]Series{{LabelKey: "vital.x", Unit: "u", Points: pts}})
			if len(panels) != 1 {
				t.Fatalf("%d panels", len(panels))
			}
			p := panels[0]
			if c.want != "" && tickLabels(p.YTicks) != c.want {
				t.Errorf("y ticks %s, want %s", tickLabels(p.YTicks), c.want)
			}
			if n := len(p.YTicks); n < 2 || n > maxYTicks {
				t.Fatalf("%d y ticks: %v", n, p.YTicks)
			}
			first, last := atof(t, p.YTicks[0].Label), atof(t, p.YTicks[len(p.YTicks)-1].Label)
			step := atof(t, p.YTicks[1].Label) - first
			if !round(step) {
				t.Errorf("step %v is not 1, 2 or 5 times a power of ten (%v)", step, p.YTicks)
			}
			for i, tk := range p.YTicks {
				v := atof(t, tk.Label)
				if d := v - (first + float64(i)*step); math.Abs(d) > step/1000 {
					t.Errorf("tick %d is %v, not a multiple of the step %v", i, v, step)
				}
				if r := v / step; math.Abs(r-math.Round(r)) > 1e-6 {
					t.Errorf("tick %v is not a multiple of the step %v", v, step)
				}
			}
			for _, v := range c.values {
				if v < first-1e-9 || v > last+1e-9 {
					t.Errorf("value %v outside the ticks %v..%v", v, first, last)
				}
			}
			for _, d := range p.Dots {
				if x, y := atof(t, d.X), atof(t, d.Y); x < float64(p.PlotLeft) || x > float64(p.PlotRight) || y < float64(p.PlotTop) || y > float64(p.PlotBottom) {
					t.Errorf("dot %v outside the plot", d)
				}
			}
			// Labels: y labels end 6 units left of the plot; x labels
			// are centred on their tick.
			for _, tk := range p.YTicks {
				if w := labelWidth(tk.Label); float64(p.PlotLeft-6)-w < 0 {
					t.Errorf("y label %q (%v wide) sticks out of the left edge", tk.Label, w)
				}
			}
			seen := map[string]bool{}
			for _, tk := range p.XTicks {
				if seen[tk.Label] {
					t.Errorf("date label %q twice: %v", tk.Label, p.XTicks)
				}
				seen[tk.Label] = true
				x, w := atof(t, tk.Pos), labelWidth(tk.Label)
				if x-w/2 < 0 || x+w/2 > float64(p.Width) {
					t.Errorf("date label %q at %v (%v wide) is cut off by the viewBox 0..%d", tk.Label, x, w, p.Width)
				}
			}
		})
	}
}

func TestNiceStep(t *testing.T) {
	for _, c := range []struct{ raw, want float64 }{
		{0.7, 1}, {1, 1}, {1.2, 2}, {2.5, 5}, {5, 5}, {6, 10}, {23, 50}, {0.013, 0.02}, {4.3e-3, 5e-3},
	} {
		if got := niceStep(c.raw); math.Abs(got-c.want) > c.want*1e-9 {
			t.Errorf("niceStep(%v) = %v, want %v", c.raw, got, c.want)
		}
	}
}

func tickLabels(ts []ChartTick) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Label)
	}
	return strings.Join(s, " ")
}

// labelWidth is a generous estimate of a label's width at the chart's
// font size.
func labelWidth(s string) float64 { return float64(len([]rune(s)) * charWidth) }

// round reports whether step is 1, 2 or 5 times a power of ten.
func round(step float64) bool {
	e := math.Pow(10, math.Floor(math.Log10(step)+1e-9))
	m := step / e
	for _, want := range []float64{1, 2, 5} {
		if math.Abs(m-want) < 1e-6 {
			return true
		}
	}
	return false
}

func TestGoldenVitalsChart(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	golden(t, "vitals_chart", VitalsChart(BuildChart([]Series{
		{LabelKey: "vital.heart_rate", Unit: "/min", Points: []Point{{t0, 72}, {t0.Add(24 * time.Hour), 88}, {t0.Add(72 * time.Hour), 76}}},
		{LabelKey: "vital.temperature", Unit: "°C", Points: []Point{{t0, 36.6}, {t0.Add(24 * time.Hour), 38.2}}},
	})))
	golden(t, "vitals_chart_empty", VitalsChart(nil))
}

func atof(tb testing.TB, s string) float64 {
	tb.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}
