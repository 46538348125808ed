package views

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Series is one vital sign over time, the input of the chart.
type Series struct {
	// LabelKey is the catalog key of the sign's name (vital.heart_rate).
	LabelKey string
	Unit     string
	Points   []Point
}

// Point is one measurement.
type Point struct {
	At    time.Time
	Value float64
}

// ChartPanel is one drawn series: coordinates already computed, so the
// template only places them. The chart is plain SVG: no script, no style
// attribute (the CSP allows neither), colours from style.css classes.
type ChartPanel struct {
	LabelKey string
	Unit     string
	Class    int // colour class 0..4
	Width    int
	Height   int
	Polyline string // "x,y x,y ..."
	Dots     []ChartDot
	YTicks   []ChartTick
	XTicks   []ChartTick
	Last     string // the latest value with its unit
	// PlotLeft, PlotRight, PlotTop and PlotBottom bound the plot area.
	PlotLeft, PlotRight, PlotTop, PlotBottom int
}

// ChartDot is one measurement's marker.
type ChartDot struct {
	X, Y  string
	Title string
}

// ChartTick is an axis tick: its position and its label.
type ChartTick struct {
	Pos   string
	Label string
}

const (
	chartW, chartH = 640, 170
	// The margins leave room for the y labels on the left, half a date
	// label on the right and the date labels below the plot.
	marginL, marginR, marginT, marginB = 58, 30, 14, 32
	// maxYTicks bounds the number of horizontal grid lines of a panel.
	maxYTicks = 5
	// charWidth is the width of one label character in viewBox units, a
	// generous estimate for the 13px font of style.css.
	charWidth = 8
)

// BuildChart lays out each non-empty series as a panel with its own
// vertical scale, over the time span of its points. The vertical scale
// runs between round numbers, with ticks 1, 2 or 5 times a power of ten
// apart.
func BuildChart(series []Series) []ChartPanel {
	var out []ChartPanel
	for i, s := range series {
		if len(s.Points) == 0 {
			continue
		}
		pts := append([]Point(nil), s.Points...)
		sort.Slice(pts, func(a, b int) bool { return pts[a].At.Before(pts[b].At) })
		t0, t1 := pts[0].At, pts[len(pts)-1].At
		if !t1.After(t0) {
			t0, t1 = t0.Add(-12*time.Hour), t1.Add(12*time.Hour)
		}
		lo, hi := pts[0].Value, pts[0].Value
		for _, p := range pts {
			lo, hi = math.Min(lo, p.Value), math.Max(hi, p.Value)
		}
		lo, hi, step := niceScale(lo, hi, maxYTicks)
		left, right, top, bottom := marginL, chartW-marginR, marginT, chartH-marginB
		x := func(t time.Time) float64 {
			return float64(left) + float64(t.Sub(t0))/float64(t1.Sub(t0))*float64(right-left)
		}
		y := func(v float64) float64 {
			return float64(top) + (hi-v)/(hi-lo)*float64(bottom-top)
		}
		p := ChartPanel{LabelKey: s.LabelKey, Unit: s.Unit, Class: i % 5, Width: chartW, Height: chartH,
			PlotLeft: left, PlotRight: right, PlotTop: top, PlotBottom: bottom}
		var b strings.Builder
		for j, pt := range pts {
			if j > 0 {
				b.WriteByte(' ')
			}
			xs, ys := num(x(pt.At)), num(y(pt.Value))
			b.WriteString(xs + "," + ys)
			p.Dots = append(p.Dots, ChartDot{X: xs, Y: ys, Title: pt.At.Format("2006-01-02 15:04") + ": " + value(pt.Value) + " " + s.Unit})
		}
		p.Polyline = b.String()
		dec := decimals(step)
		for k := 0; ; k++ {
			v := lo + float64(k)*step
			if v > hi+step/2 {
				break
			}
			p.YTicks = append(p.YTicks, ChartTick{Pos: num(y(v)), Label: tickLabel(v, dec)})
		}
		mid := t0.Add(t1.Sub(t0) / 2)
		for _, t := range []time.Time{t0, mid, t1} {
			l := t.Format("02/01")
			if l == t0.Format("02/01") && t != t0 || l == t1.Format("02/01") && t != t1 {
				continue // the middle of a short span: the same day again
			}
			p.XTicks = append(p.XTicks, ChartTick{Pos: num(x(t)), Label: l})
		}
		p.Last = value(pts[len(pts)-1].Value) + " " + s.Unit
		out = append(out, p)
	}
	return out
}

// niceScale widens lo..hi to multiples of a round step (1, 2 or 5 times a
// power of ten) chosen so that at most maxTicks ticks cover the range. A
// range of one value is widened around it first.
func niceScale(lo, hi float64, maxTicks int) (from, to, step float64) {
	if hi-lo < 1e-9 {
		d := math.Max(math.Abs(hi)*0.05, 1)
		lo, hi = lo-d, hi+d
	}
	step = niceStep((hi - lo) / float64(maxTicks-1))
	from, to = math.Floor(lo/step+1e-9)*step, math.Ceil(hi/step-1e-9)*step
	// Rounding both ends outwards can need one tick more than maxTicks.
	for (to-from)/step > float64(maxTicks-1)+1e-9 {
		step = niceStep(step * 1.0001)
		from, to = math.Floor(lo/step+1e-9)*step, math.Ceil(hi/step-1e-9)*step
	}
	return from, to, step
}

// niceStep returns the smallest of 1, 2 or 5 times a power of ten that is
// at least raw.
func niceStep(raw float64) float64 {
	e := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*e >= raw*(1-1e-9) {
			return m * e
		}
	}
	return 10 * e
}

// tickLabel formats v rounded to dec decimals, without trailing zeros.
func tickLabel(v float64, dec int) string {
	p := math.Pow(10, float64(dec))
	v = math.Round(v*p) / p
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// decimals is how many decimals the labels of ticks step apart need.
func decimals(step float64) int {
	return max(0, int(-math.Floor(math.Log10(step)+1e-9)))
}

func num(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

func value(v float64) string {
	if v == math.Trunc(v) || math.Abs(v) >= 100 {
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func viewBox(p ChartPanel) string { return "0 0 " + itoa(p.Width) + " " + itoa(p.Height) }

func seriesClass(prefix string, i int) string { return prefix + itoa(i) }
