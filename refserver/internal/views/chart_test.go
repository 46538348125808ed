package views

import (
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
	if len(pts) != 3 || !strings.HasPrefix(pts[0], "52,") || !strings.HasPrefix(pts[2], "626,") {
		t.Errorf("polyline %q", hr.Polyline)
	}
	if y0, y2 := atof(t, hr.Dots[0].Y), atof(t, hr.Dots[2].Y); y2 >= y0 {
		t.Errorf("highest value not drawn highest: %v", hr.Dots)
	}
	if hr.Last != "90 /min" || hr.XTicks[0].Label != "01/11" || hr.XTicks[2].Label != "03/11" {
		t.Errorf("last %q ticks %v", hr.Last, hr.XTicks)
	}
	if hr.YTicks[0].Label != "70" || hr.YTicks[2].Label != "90" {
		t.Errorf("y ticks %v", hr.YTicks)
	}
	// One point: no division by zero, a point in the middle.
	if p := panels[1]; p.Polyline != "339,77" {
		t.Errorf("single point at %q", p.Polyline)
	}
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
