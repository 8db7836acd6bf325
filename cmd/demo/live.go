package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// liveFrame is what the live view shows for one second of the run.
type liveFrame struct {
	Second    int    // index of the second shown, from 0
	Phase     int    // index of the phase it belongs to
	Plain     Counts // the plain client during that second
	Resilient Counts // the resilient client during that second
	Breaker   string // the resilient client's breaker state now
}

// liveView prints one frame per second while a run goes on: a small table
// refreshed in place on a terminal, one plain line per second otherwise.
type liveView struct {
	w     io.Writer
	tty   bool
	sc    Scenario
	drawn int // lines of the table on screen, to move back over
}

// run shows frame(i) after each second i until stop is closed.
func (v *liveView) run(start time.Time, stop <-chan struct{}, frame func(i int) liveFrame) {
	for i := 0; ; i++ {
		t := time.NewTimer(time.Until(start.Add(time.Duration(i+1) * bucket)))
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		v.show(frame(i))
	}
}

// show prints f.
func (v *liveView) show(f liveFrame) {
	if v.tty {
		v.table(f)
	} else {
		v.line(f)
	}
}

// line prints f as one line, for logs and pipes.
func (v *liveView) line(f liveFrame) {
	p := v.sc.Phases[f.Phase]
	fmt.Fprintf(v.w, "%3ds %-7s | plain: %s | resilient: %s, breaker %s\n",
		f.Second+1, p.Name, lineCounts(f.Plain), lineCounts(f.Resilient), f.Breaker)
}

func lineCounts(c Counts) string {
	return fmt.Sprintf("%d calls, %d ok, %d at server (x%.2f), p50 %s p99 %s",
		c.Calls, c.OK, c.ServerRequests, c.Amplification(), dur(c.P50), dur(c.P99))
}

// table redraws f as a small table over the previous one.
func (v *liveView) table(f liveFrame) {
	p := v.sc.Phases[f.Phase]
	var names []string
	for i, q := range v.sc.Phases {
		if i == f.Phase {
			names = append(names, "["+strings.ToUpper(q.Name)+"]")
		} else {
			names = append(names, q.Name)
		}
	}
	// Lines stay within 80 columns: a wrapped line would throw the redraw off.
	lines := []string{
		fmt.Sprintf("%4ds / %ds   %s", f.Second+1, int(v.sc.Duration()/time.Second), strings.Join(names, " > ")),
		"  server: " + p.About,
		fmt.Sprintf("  %-10s %6s %6s %12s %7s %10s %8s %8s", "last 1s", "calls", "ok", "server reqs", "amplif.", "breaker", "p50", "p99"),
		tableRow("plain", f.Plain, "none"),
		tableRow("resilient", f.Resilient, f.Breaker),
	}
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.drawn) // cursor up to the table's first line
	}
	for _, l := range lines {
		b.WriteString("\r\x1b[2K") // clear the line
		b.WriteString(l)
		b.WriteByte('\n')
	}
	io.WriteString(v.w, b.String())
	v.drawn = len(lines)
}

func tableRow(name string, c Counts, breaker string) string {
	return fmt.Sprintf("  %-10s %6d %6d %12d %7.2f %10s %8s %8s",
		name, c.Calls, c.OK, c.ServerRequests, c.Amplification(), breaker, dur(c.P50), dur(c.P99))
}

// dur formats a latency with three significant digits or so: 15µs, 4.2ms,
// 1.03s; "-" for none.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
