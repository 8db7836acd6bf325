package main

// This file draws the chart: for each scenario, the share of calls slower
// than a latency (the complementary CDF), on log scales, one line per
// client, as a self-contained SVG.

import (
	"fmt"
	"math"
	"strings"
	"time"
)

var colors = []string{"#444444", "#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#1f77b4", "#17becf", "#aec7e8", "#2ca02c", "#9467bd"}

func chart(results []*result) string {
	const (
		panelW, panelH = 520, 360
		left, top      = 70, 40
		plotW, plotH   = 420, 260
	)
	width := panelW*len(scenarios) + 20
	height := panelH + 30*4
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	// x: 1ms .. 2s on log10; y: share slower, 1 .. 1e-4 on log10.
	xMin, xMax := math.Log10(1), math.Log10(2000)
	yMin, yMax := -4.0, 0.0
	for p, slow := range scenarios {
		ox := p*panelW + left
		x := func(d time.Duration) float64 {
			v := math.Log10(math.Max(float64(d)/1e6, 1))
			return float64(ox) + (v-xMin)/(xMax-xMin)*plotW
		}
		y := func(share float64) float64 {
			v := math.Log10(math.Max(share, 1e-4))
			return float64(top) + (yMax-v)/(yMax-yMin)*plotH
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="14" font-weight="bold">%v%% of answers 200× slower</text>`+"\n", ox, top-15, slow*100)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", ox, top, plotW, plotH)
		for _, ms := range []float64{1, 10, 100, 1000} {
			xx := x(time.Duration(ms * 1e6))
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", xx, top, xx, top+plotH)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%g ms</text>`+"\n", xx, top+plotH+16, ms)
		}
		for _, s := range []float64{1, 0.1, 0.01, 0.001, 0.0001} {
			yy := y(s)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", ox, yy, ox+plotW, yy)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", ox-6, yy+4, s)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">latency (log)</text>`+"\n", ox+plotW/2, top+plotH+34)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" transform="rotate(-90 %d %d)">share of calls slower (log)</text>`+"\n",
			ox-50, top+plotH/2, ox-50, top+plotH/2)
		i := 0
		for _, r := range results {
			if r.slow != slow {
				continue
			}
			var pts []string
			n := float64(len(r.lat))
			// One point per distinct step, thinned to about 400.
			step := max(1, len(r.lat)/400)
			for j := 0; j < len(r.lat); j += step {
				share := 1 - float64(j)/n
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(r.lat[j]), y(share)))
			}
			for j := max(0, len(r.lat)-step); j < len(r.lat); j++ { // the tail, every point
				share := 1 - float64(j)/n
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(r.lat[j]), y(share)))
			}
			dash := ""
			if strings.HasPrefix(r.client.name, "resilient") {
				dash = ` stroke-width="2.5"`
			} else {
				dash = ` stroke-width="1.5" stroke-dasharray="5,3"`
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s"%s points="%s"/>`+"\n", colors[i%len(colors)], dash, strings.Join(pts, " "))
			i++
		}
	}
	// Legend.
	ly := panelH + 20
	i := 0
	for _, r := range results {
		if r.slow != scenarios[0] {
			continue
		}
		lx := 20 + (i%3)*340
		yy := ly + (i/3)*22
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", lx, yy, lx+30, yy, colors[i%len(colors)])
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+36, yy+4, r.client.name)
		i++
	}
	b.WriteString("</svg>\n")
	return b.String()
}
