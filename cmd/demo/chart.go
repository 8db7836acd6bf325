package main

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// chartFormat returns "svg" or "png" for a chart file name, or an error
// naming the formats the demo writes.
func chartFormat(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg", ".png":
		return ext[1:], nil
	default:
		return "", fmt.Errorf("-chart %q: the file name must end in .svg or .png", path)
	}
}

// Colors: Okabe-Ito, which stay apart for color-blind readers.
var (
	plainColor     = color.RGBA{R: 213, G: 94, A: 255}        // vermilion
	resilientColor = color.RGBA{G: 114, B: 178, A: 255}       // blue
	openColor      = color.RGBA{R: 180, G: 30, B: 30, A: 255} // breaker opens
	probeColor     = color.RGBA{R: 230, G: 159, A: 255}       // a probe fails
	closeColor     = color.RGBA{G: 140, B: 90, A: 255}        // breaker closes
	textColor      = color.RGBA{R: 60, G: 60, B: 60, A: 255}  // phase names
	phaseColors    = map[string]color.Color{
		"healthy": color.RGBA{R: 234, G: 245, B: 234, A: 255},
		"flaky":   color.RGBA{R: 253, G: 243, B: 214, A: 255},
		"down":    color.RGBA{R: 250, G: 222, B: 222, A: 255},
		"healed":  color.RGBA{R: 234, G: 245, B: 234, A: 255},
	}
)

// sansFont is the face of every text of the chart. The SVG names it
// "Liberation Sans", which has the metrics of Arial: writeChart adds Arial
// and sans-serif as fallbacks, so the text fits where the font is missing.
var sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// writeChart writes a chart of s to path, as SVG or PNG after its
// extension: the requests per second that reached the server and the
// successes per second of both clients, the phases shaded, the breaker's
// transitions marked.
func writeChart(path string, s *Summary) error {
	format, err := chartFormat(path)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := renderChart(&buf, format, s); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

// renderChart draws the chart of s in format ("svg" or "png") to w.
func renderChart(w io.Writer, format string, s *Summary) error {
	plot.DefaultFont, plotter.DefaultFont = sansFont, sansFont
	const width, height, legendWidth = 10 * vg.Inch, 4.8 * vg.Inch, 2.1 * vg.Inch

	p := plot.New()
	p.Title.Text = "The same traffic through a plain http.Client and through resilient.New()"
	p.Title.TextStyle.Font.Size = 14
	p.Title.Padding = vg.Points(10)
	p.X.Label.Text = "seconds since start"
	p.Y.Label.Text = "per second"
	p.X.Min, p.X.Max = 0, s.Scenario.Duration().Seconds()
	p.Y.Min = 0
	xstep := niceStep(p.X.Max, 8)
	if ph := s.Scenario.Phases[0]; !s.Scenario.Remote && ph.End%(2*time.Second) == 0 {
		xstep = (ph.End / 2).Seconds() // ticks on the phase boundaries and halfway
	}
	p.X.Tick.Marker = stepTicks(xstep)

	n := int(s.Scenario.Duration() / s.Width) // whole buckets only
	top := 1.0
	// Each second is drawn as a step over its span, so that changes line
	// up with the phase boundaries.
	series := func(c ClientReport, f func(Counts) int) plotter.XYs {
		xy := make(plotter.XYs, 0, n+1)
		for i := 0; i < n && i < len(c.Seconds); i++ {
			v := float64(f(c.Seconds[i])) / s.Width.Seconds()
			xy = append(xy, plotter.XY{X: float64(i) * s.Width.Seconds(), Y: v})
			top = max(top, v)
		}
		if len(xy) > 0 {
			xy = append(xy, plotter.XY{X: float64(len(xy)) * s.Width.Seconds(), Y: xy[len(xy)-1].Y})
		}
		return xy
	}
	server := func(c Counts) int { return c.ServerRequests }
	ok := func(c Counts) int { return c.OK }
	lines := []struct {
		name   string
		xy     plotter.XYs
		color  color.Color
		dashed bool
	}{
		{"plain: at server", series(s.Plain, server), plainColor, false},
		{"plain: successes", series(s.Plain, ok), plainColor, true},
		{"resilient: at server", series(s.Resilient, server), resilientColor, false},
		{"resilient: successes", series(s.Resilient, ok), resilientColor, true},
	}
	p.Y.Max = top * 1.3 // headroom for the phase names and marks
	p.Y.Tick.Marker = stepTicks(niceStep(p.Y.Max, 6))

	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	legend.TextStyle.Font.Size = 11
	legend.ThumbnailWidth = 0.4 * vg.Inch
	legend.Padding = vg.Points(5)

	if !s.Scenario.Remote {
		if err := addPhases(p, s.Scenario, p.Y.Max); err != nil {
			return err
		}
	}
	for _, l := range lines {
		pl, err := plotter.NewLine(l.xy)
		if err != nil {
			return err
		}
		pl.Color = l.color
		pl.Width = vg.Points(2)
		pl.StepStyle = plotter.PostStep
		if l.dashed {
			pl.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(pl)
		legend.Add(l.name, pl)
	}
	if err := addTransitions(p, &legend, s.Transitions, top*1.12); err != nil {
		return err
	}
	if err := addProbeCaption(p, s); err != nil {
		return err
	}
	p.Add(plotter.NewGrid())

	var canvas interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch format {
	case "svg":
		canvas = vgsvg.New(width, height)
	default:
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(144))}
	}
	dc := draw.New(canvas)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	lc := draw.Crop(dc, width-legendWidth+vg.Points(10), 0, 0, -vg.Points(48))
	legend.Draw(lc)

	if format != "svg" {
		_, err := canvas.WriteTo(w)
		return err
	}
	var svg bytes.Buffer
	if _, err := canvas.WriteTo(&svg); err != nil {
		return err
	}
	out := bytes.ReplaceAll(svg.Bytes(), []byte("font-family:Liberation Sans;"),
		[]byte("font-family:Liberation Sans,Arial,Helvetica,sans-serif;"))
	_, err := w.Write(out)
	return err
}

// stepTicks places a labelled tick at every multiple of its value.
type stepTicks float64

// Ticks returns the ticks between lo and hi.
func (t stepTicks) Ticks(lo, hi float64) []plot.Tick {
	step := float64(t)
	var ts []plot.Tick
	for i := math.Ceil(lo / step); i*step <= hi+step*1e-9; i++ {
		v := i * step
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ts
}

// niceStep returns a round step (1, 2 or 5 times a power of ten) that cuts
// span into about n parts.
func niceStep(span float64, n int) float64 {
	raw := span / float64(n)
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// addPhases shades each phase and writes its name at the top.
func addPhases(p *plot.Plot, sc Scenario, ymax float64) error {
	var names plotter.XYLabels
	for _, ph := range sc.Phases {
		x0, x1 := ph.Start.Seconds(), ph.End.Seconds()
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: 0}, {X: x1, Y: 0}, {X: x1, Y: ymax}, {X: x0, Y: ymax}})
		if err != nil {
			return err
		}
		poly.Color = phaseColors[ph.Name]
		poly.LineStyle.Width = 0
		p.Add(poly)
		names.XYs = append(names.XYs, plotter.XY{X: (x0 + x1) / 2, Y: ymax * 0.955})
		names.Labels = append(names.Labels, ph.Name)
	}
	lb, err := plotter.NewLabels(names)
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].XAlign = draw.XCenter
		lb.TextStyle[i].Font.Size = 12
		lb.TextStyle[i].Color = textColor
	}
	p.Add(lb)
	return nil
}

// mark is a breaker event drawn on the chart: one transition, or an
// open → half-open → open/closed pair that happened at once.
type mark struct {
	at    time.Duration
	label string
	color color.Color
	dash  []vg.Length
}

// marks turns transitions into the events a reader cares about: the
// breaker opens, a probe fails (half-open and back to open), it closes.
func marks(ts []Transition) []mark {
	var out []mark
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		switch {
		case t.To == "open" && t.From == "closed":
			out = append(out, mark{t.At, "opens", openColor, []vg.Length{vg.Points(6), vg.Points(3)}})
		case t.To == "half-open" && i+1 < len(ts) && ts[i+1].From == "half-open":
			next := ts[i+1]
			i++
			if next.To == "open" {
				out = append(out, mark{next.At, "probe fails", probeColor, []vg.Length{vg.Points(2), vg.Points(2)}})
			} else {
				out = append(out, mark{next.At, "closes", closeColor, []vg.Length{vg.Points(6), vg.Points(3)}})
			}
		case t.To == "half-open":
			out = append(out, mark{t.At, "half-open", probeColor, []vg.Length{vg.Points(2), vg.Points(2)}})
		case t.To == "closed":
			out = append(out, mark{t.At, "closes", closeColor, []vg.Length{vg.Points(6), vg.Points(3)}})
		case t.To == "open":
			out = append(out, mark{t.At, "probe fails", probeColor, []vg.Length{vg.Points(2), vg.Points(2)}})
		}
	}
	return out
}

// addTransitions draws a vertical line for each breaker event, labelled
// next to its top at y, and adds one legend entry per kind of event.
func addTransitions(p *plot.Plot, legend *plot.Legend, ts []Transition, y float64) error {
	var labels plotter.XYLabels
	seen := map[string]bool{}
	for _, m := range marks(ts) {
		x := m.at.Seconds()
		ln, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: y}})
		if err != nil {
			return err
		}
		ln.Color, ln.Width, ln.Dashes = m.color, vg.Points(1.5), m.dash
		p.Add(ln)
		labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: y})
		labels.Labels = append(labels.Labels, " "+m.label)
		if !seen[m.label] {
			seen[m.label] = true
			legend.Add("breaker "+m.label, ln)
		}
	}
	if len(labels.Labels) == 0 {
		return nil
	}
	lb, err := plotter.NewLabels(labels)
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Font.Size = 10
		lb.TextStyle[i].YAlign = draw.YCenter
		lb.TextStyle[i].Color = textColor
	}
	p.Add(lb)
	return nil
}

// addProbeCaption labels the resilient client's busiest second of the
// outage: the breaker's quick probes (fastProbes in the library), which
// otherwise read as a burst of traffic to a server that is down.
func addProbeCaption(p *plot.Plot, s *Summary) error {
	i := s.phaseIndex("down")
	if s.Scenario.Remote || i < 0 {
		return nil
	}
	n, at := s.quickProbes(i)
	if n == 0 {
		return nil
	}
	y := float64(n) / s.Width.Seconds()
	lb, err := plotter.NewLabels(plotter.XYLabels{
		XYs:    []plotter.XY{{X: (at + s.Width).Seconds(), Y: y}},
		Labels: []string{" ← breaker's quick probes"},
	})
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Font.Size = 10
		lb.TextStyle[i].YAlign = draw.YCenter
		lb.TextStyle[i].Color = resilientColor
	}
	p.Add(lb)
	return nil
}
