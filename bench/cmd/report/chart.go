package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/resilient-http/resilient/bench"
)

var (
	colorOurs   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colorBare   = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	colorOthers = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
)

func barColor(peer string) color.Color {
	switch {
	case strings.HasPrefix(peer, "resilient"):
		return colorOurs
	case peer == "bare":
		return colorBare
	}
	return colorOthers
}

// writeChart draws two panels side by side: the time per GET on the
// in-memory transport, and the server requests per call in the outage.
func writeChart(path string, m meta, s stats, outage []bench.OutageResult) error {
	var plots []*plot.Plot
	// CPU per request, the figure the targets and the README quote (wall
	// time moves with the machine's neighbours); wall time where no CPU
	// was measured.
	unit, what := "cpu-ns/op", "CPU"
	if s[unit] == nil {
		unit, what = "ns/op", "time"
	}
	if t := s[unit]; t != nil {
		row := rowName("GET200", "mem")
		var names []string
		var vals []float64
		var labels []string
		for _, peer := range t.Cols {
			c, ok := s.get(unit, row, peer)
			if !ok {
				continue
			}
			al, _ := s.get("allocs/op", row, peer)
			names = append(names, peer)
			vals = append(vals, c.Center/1e3)
			labels = append(labels, fmt.Sprintf("%.2f µs, %.0f allocs", c.Center/1e3, al.Center))
		}
		p, err := barPlot("GET 200, in-memory transport: "+what+" per request", "µs of "+what+" per request (lower is better)", names, vals, labels)
		if err != nil {
			return err
		}
		plots = append(plots, p)
	}
	if len(outage) > 0 {
		var names []string
		var vals []float64
		var labels []string
		for _, r := range outage {
			names = append(names, r.Peer)
			vals = append(vals, r.PerCall)
			rec := fmt.Sprintf("recovered %s after healing", fmtDur(r.Recovered))
			if r.Recovered < 0 {
				rec = fmt.Sprintf("not recovered %v after healing", bench.DefaultOutage.Healed)
			}
			labels = append(labels, fmtRatio(r.PerCall)+"; "+rec)
		}
		p, err := barPlot(fmt.Sprintf("Outage, defaults: %v of 500s, %d callers", bench.DefaultOutage.Down, bench.DefaultOutage.Callers),
			"server requests per call (lower is gentler)", names, vals, labels)
		if err != nil {
			return err
		}
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return fmt.Errorf("nothing to chart")
	}

	w, h := vg.Length(len(plots))*6*vg.Inch, 3.6*vg.Inch
	img := vgsvg.New(w, h)
	dc := draw.New(img)
	title := fmt.Sprintf("resilient and its peers — %d cores, %s, %s, %s", m.Cores, m.CPU, m.Go, m.Date)
	fnt := plot.DefaultFont
	fnt.Size = 10
	dc.FillText(draw.TextStyle{Color: color.Gray{Y: 0x44}, Font: fnt, Handler: plot.DefaultTextHandler,
		XAlign: draw.XCenter, YAlign: draw.YTop}, vg.Point{X: w / 2, Y: h - 4}, title)
	dc = draw.Crop(dc, 0, 0, 0, -0.3*vg.Inch)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: 0.3 * vg.Inch, PadTop: 0.1 * vg.Inch, PadBottom: 0.1 * vg.Inch,
		PadLeft: 0.5 * vg.Inch, PadRight: 0.3 * vg.Inch}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := img.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// barPlot draws one horizontal bar per name, the first at the top, each
// labelled with its text.
func barPlot(title, xlabel string, names []string, vals []float64, text []string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.X.Min = 0
	p.X.Max = slices.Max(vals) * 1.6
	if p.X.Max <= 0 || math.IsNaN(p.X.Max) {
		p.X.Max = 1
	}
	n := len(names)
	var xys plotter.XYs
	for i, v := range vals {
		y := float64(n - 1 - i) // the first name at the top
		bar, err := plotter.NewBarChart(plotter.Values{v}, 12)
		if err != nil {
			return nil, err
		}
		bar.Horizontal = true
		bar.XMin = y
		bar.Color = barColor(names[i])
		bar.LineStyle.Width = 0
		p.Add(bar)
		xys = append(xys, plotter.XY{X: v, Y: y})
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: text})
	if err != nil {
		return nil, err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].YAlign = draw.YCenter
		labels.TextStyle[i].Font.Size = 8
	}
	labels.Offset = vg.Point{X: 4}
	p.Add(labels)
	rev := slices.Clone(names)
	slices.Reverse(rev)
	p.NominalY(rev...)
	p.Y.Tick.Label.Font.Size = 9
	p.X.Tick.Label.Font.Size = 9
	p.X.Label.TextStyle.Font.Size = 10
	p.Title.TextStyle.Font.Size = 11
	return p, nil
}
