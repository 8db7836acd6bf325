package scenario

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// Markdown writes r as a markdown report: the settings, whether the load
// generator held its schedule (DefaultSchedule), the verdicts of l (and of
// IssueSickLimits for the sick-backend scenario), the whole-run and outage
// summaries, then one table per scenario.
func Markdown(w io.Writer, r *Result, l Limits) error {
	b := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	t := r.Timing
	p("# Scenario matrix\n\n")
	if r.Rev != "" {
		p("resilient at %s.\n\n", r.Rev)
	}
	p("Open loop: %.0f calls/s per client, every client's calls started at the same instants, each with a %v deadline; "+
		"seed %d; %s, GOMAXPROCS %d. Every client has its own loopback server following the same fault schedule; "+
		"a call's first request draws the same fault for every client (common random numbers), retries draw afresh.\n\n",
		t.Rate, t.Deadline, r.Seed, r.GoVersion, r.Procs)
	for _, c := range r.Clients {
		p("- **%s**: %s\n", c.Name, c.About)
	}
	p("\nColumns: **success** = calls that got a 2xx and read its body / calls started in the phase; " +
		"**req/call** = requests the server received in the phase / calls started in it; " +
		"**refused** = calls whose error is the client's own breaker-open error; **p50, p99** = latency of all the phase's calls. " +
		"Healed phases only: **first ok** = healing to the end of the first successful call; " +
		"**full traffic** = healing to the start of the first 100 ms bucket from which on no call is refused locally and the server " +
		"receives ≥ 90%% of the calls started in each bucket within 50 ms of their start; **lost** = calls started after healing that were refused " +
		"locally, or failed while plain's call of the same index succeeded.\n\n")

	writeSchedule(p, r, DefaultSchedule)
	writeVerdicts(p, append(Check(r, l), CheckSick(r.Sick, IssueSickLimits)...), l)
	writeTotals(p, r)
	writeSummary(p, r)
	writeSickSummary(p, r)
	for _, sc := range r.Scenarios {
		writeScenario(p, r, sc)
	}
	writeSickDetail(p, r)
	return b.Flush()
}

type printf func(format string, a ...any)

// writeSchedule says how late the calls started behind their schedule,
// and whether that was within b: if not, the run is not a measurement.
// The sick-backend scenario's closed loops have no schedule.
func writeSchedule(p printf, r *Result, b ScheduleBound) {
	if len(r.Scenarios) == 0 {
		return
	}
	if late := r.lateScenarios(b); late != nil {
		p("**Could not hold the schedule on this machine: not a measurement.** %s. "+
			"The verdicts below judge the machine as much as the clients.\n\n", strings.Join(late, "; "))
		return
	}
	var p99, most ScenarioResult
	for _, sc := range r.Scenarios {
		if sc.LagP99 >= p99.LagP99 {
			p99 = sc
		}
		if sc.LagMax >= most.LagMax {
			most = sc
		}
	}
	p("Schedule held: calls started behind it by at most %s at the 99th percentile (scenario %d) and %s at most (scenario %d), "+
		"within the bound of %s and %s.\n\n", fmtDur(p99.LagP99), p99.ID, fmtDur(most.LagMax), most.ID, fmtDur(b.P99), fmtDur(b.Max))
}

func writeVerdicts(p printf, vs []Verdict, l Limits) {
	p("## Targets: %s against %s\n\n", l.Subject, l.Baseline)
	if len(vs) == 0 {
		p("Not judged: the run needs both %s and %s.\n\n", l.Subject, l.Baseline)
		return
	}
	var order []Target
	checks, failed := map[Target]int{}, map[Target]int{}
	for _, v := range vs {
		if checks[v.Target] == 0 {
			order = append(order, v.Target)
		}
		checks[v.Target]++
		if !v.Pass {
			failed[v.Target]++
		}
	}
	p("| target | checks | failed |\n|---|--:|--:|\n")
	for _, t := range order {
		p("| %s | %d | %d |\n", t, checks[t], failed[t])
	}
	p("\n")
	if len(failed) == 0 {
		return
	}
	p("Failed checks:\n\n| target | where | got | limit |\n|---|---|--:|--:|\n")
	for _, v := range vs {
		if !v.Pass {
			p("| %s | %s | %s | %s |\n", v.Target, v.Where, v.Got, v.Limit)
		}
	}
	p("\n")
}

func writeTotals(p printf, r *Result) {
	p("## Whole run\n\n| client | calls | server requests | req/call |\n|---|--:|--:|--:|\n")
	for _, t := range r.Totals {
		p("| %s | %d | %d | %.3f |\n", t.Client, t.Calls, t.ServerRequests, t.Amplification())
	}
	p("\n")
	for _, sc := range r.Scenarios {
		for _, ph := range sc.Phases {
			if ph.Fault.Kind != Outage {
				continue
			}
			plain, hasPlain := ph.Client("plain")
			p("Total outage (%s, %v): server load against plain's, and latency of the calls refused locally.\n\n", ph.Name, ph.End-ph.Start)
			p("| client | server requests | %% of plain's | refused | p99 refused |\n|---|--:|--:|--:|--:|\n")
			for _, c := range ph.Clients {
				share := "–"
				if hasPlain {
					share = fmt.Sprintf("%.1f%%", 100*ratio(c.ServerRequests, plain.ServerRequests))
				}
				refusedP99 := "–"
				if c.Refused > 0 {
					refusedP99 = fmtDur(c.RefusedP99)
				}
				p("| %s | %d | %s | %d | %s |\n", c.Client, c.ServerRequests, share, c.Refused, refusedP99)
			}
			p("\n")
		}
	}
}

// writeSummary writes one row per faulty phase, and per window of a
// capacity-bound scenario, with every client side by side: success, and
// server requests per call.
func writeSummary(p printf, r *Result) {
	p("## Phase by phase\n\nSuccess, and server requests per call in brackets; for the window after a storm's trigger, "+
		"the time to recover (≥ %.0f%% of the calls of every 250 ms bucket from then on succeed).\n\n| scenario / phase |", 100*RecoveredShare)
	for _, c := range r.Clients {
		p(" %s |", c.Name)
	}
	p("\n|---|")
	for range r.Clients {
		p("--:|")
	}
	p("\n")
	for _, sc := range r.Scenarios {
		for _, ph := range sc.Phases {
			if !ph.Fault.Faulty() && sc.Capacity == nil {
				continue
			}
			p("| %d %s / %s |", sc.ID, sc.Name, ph.Name)
			for _, c := range ph.Clients {
				p(" %.1f%% (%.2f)", 100*c.Success(), c.PerCall())
				if ph.Healed && sc.Storm() {
					p(", %s", fmtDur(c.Recovery))
				}
				p(" |")
			}
			p("\n")
		}
	}
	p("\n")
}

func writeScenario(p printf, r *Result, sc ScenarioResult) {
	p("## %d. %s\n\n", sc.ID, sc.Name)
	if sc.Capacity != nil {
		writeCapacityScenario(p, sc)
		return
	}
	p("| phase | client | success | req/call | refused | p50 | p99 | first ok | full traffic | lost |\n")
	p("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, ph := range sc.Phases {
		label := fmt.Sprintf("%s (%v)", ph.Name, ph.End-ph.Start)
		for _, c := range ph.Clients {
			first, full, lost := "", "", ""
			if ph.Healed {
				first, full, lost = fmtDur(c.FirstSuccess), fmtDur(c.FullTraffic), fmt.Sprint(c.OwnFailures)
			}
			p("| %s | %s | %.1f%% | %.3f | %d | %s | %s | %s | %s | %s |\n", label, c.Client, 100*c.Success(), c.PerCall(),
				c.Refused, fmtDur(c.P50), fmtDur(c.P99), first, full, lost)
			label = ""
		}
	}
	p("\nCalls started behind schedule by %s at the 99th percentile, %s at most.\n", fmtDur(sc.LagP99), fmtDur(sc.LagMax))
	if sc.Note != "" {
		p("\n%s\n", sc.Note)
	}
	p("\n")
}

// writeCapacityScenario writes a scenario with a capacity-bound server:
// per window, the share of the server's work done for callers already
// gone, and after the trigger the time to recover.
func writeCapacityScenario(p printf, sc ScenarioResult) {
	p("| window | client | success | req/call | wasted work | refused | p50 | p99 | recovered | full traffic |\n")
	p("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, ph := range sc.Phases {
		label := fmt.Sprintf("%s (%v)", ph.Name, ph.End-ph.Start)
		for _, c := range ph.Clients {
			rec, full := "", ""
			if ph.Healed {
				rec, full = fmtDur(c.Recovery), fmtDur(c.FullTraffic)
			}
			p("| %s | %s | %.1f%% | %.3f | %.1f%% | %d | %s | %s | %s | %s |\n", label, c.Client, 100*c.Success(), c.PerCall(),
				100*c.WastedShare(), c.Refused, fmtDur(c.P50), fmtDur(c.P99), rec, full)
			label = ""
		}
	}
	p("\nCalls started behind schedule by %s at the 99th percentile, %s at most. "+
		"**wasted work** = the server's work (serving and rejecting) that ended in the window and served a caller already gone; "+
		"**recovered** = from the trigger's end to the first 250 ms bucket from which on ≥ %.0f%% of the calls started in every bucket succeed.\n",
		fmtDur(sc.LagP99), fmtDur(sc.LagMax), 100*RecoveredShare)
	if sc.Note != "" {
		p("\n%s\n", sc.Note)
	}
	p("\n")
}

// fmtDur prints d for a table: "never" for a negative d, µs below a
// millisecond, ms below ten seconds.
func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "never"
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
