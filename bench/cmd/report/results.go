package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/resilient-http/resilient/bench"
)

// target is one of issue 8's targets, measured.
type target struct {
	What     string
	Measured string
	Met      string // "met", "missed by …", "n/a"
}

func writeResults(b *strings.Builder, m meta, peers, cost stats, ins instr, facts []bench.Fact, outage []bench.OutageResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("# Benchmarks: resilient and its peers\n\n")
	p("Written by `bench/run.sh` (do not edit by hand) on %s. Machine: %d cores, %s, %s, %s. ", m.Date, m.Cores, m.CPU, m.OS, m.Go)
	if m.Rev != "" {
		p("resilient at `%s`. ", m.Rev)
	}
	p("%s interleaved runs of `-benchtime=%s` per benchmark; each figure is benchstat's median with its 95%% confidence interval, ", m.Runs, m.Benchtime)
	p("and *vs bare* is benchstat's comparison with bare net/http (`~`: no significant difference, p ≥ 0.05). ")
	p("The machine is shared and noisy: wall time (ns/op) moves with its neighbours; cpu-ns/op (user + system CPU of the whole process per request, server included on loopback), B/op and allocs/op move much less.\n\n")

	p("## Targets\n\n")
	p("Verdicts use CPU per request (cpu-ns/op), the figure the machine's neighbours disturb least; wall time, and instructions counted by valgrind where there are any, stand beside it.\n\n")
	p("| target | measured | verdict |\n|---|---|---|\n")
	for _, t := range targets(peers, cost, ins, outage) {
		p("| %s | %s | %s |\n", t.What, t.Measured, t.Met)
	}
	p("\n")

	p("## Summary\n\n")
	writeSummary(b, peers)
	p("\n")

	if len(ins) > 0 {
		writeInstr(b, peers, ins)
	}

	p("## Cost per request\n\n")
	p("Every peer on the same transport: the in-memory one answers from memory (no network: the library's own cost), ")
	p("the loopback one is a clone of `http.DefaultTransport` with `MaxIdleConnsPerHost: 100` (as `resilient.New` sets it) to one in-process server. ")
	p("dials/op counts the connections the server accepted per request.\n\n")
	for _, tr := range transports {
		for _, c := range cases {
			row := rowName(c.name, tr.name)
			t := peers["ns/op"]
			if t == nil || t.Rows[row] == nil {
				continue
			}
			p("### %s — %s\n\n", c.title, tr.title)
			hdr := "| peer | ns/op | vs bare | cpu-ns/op | vs bare | B/op | allocs/op |"
			sep := "|---|--:|--:|--:|--:|--:|--:|"
			if tr.name == "loopback" {
				hdr += " dials/op |"
				sep += "--:|"
			}
			p("%s\n%s\n", hdr, sep)
			for _, peer := range t.Cols {
				ns, _ := peers.get("ns/op", row, peer)
				cpu, _ := peers.get("cpu-ns/op", row, peer)
				bo, _ := peers.get("B/op", row, peer)
				al, _ := peers.get("allocs/op", row, peer)
				p("| %s | %s %s | %s | %s %s | %s | %.0f | %.0f |", peer, fmtNs(ns.Center), ns.CI, vsBase(ns),
					fmtNs(cpu.Center), cpu.CI, vsBase(cpu), bo.Center, al.Center)
				if tr.name == "loopback" {
					d, _ := peers.get("dials/op", row, peer)
					p(" %.3f |", d.Center)
				}
				p("\n")
			}
			p("\n")
		}
	}

	if t := cost["ns/op"]; t != nil {
		p("## Where resilient's own cost goes\n\n")
		p("GET 200 on the in-memory transport, `resilient.NewTransport(base, …)` with its defaults taken apart one at a time ")
		p("(`AttemptTimeout: -1`, then `Breaker{Disabled: true}`, then `Retry{Max: -1}`), against bare net/http. ")
		p("With a base that is not an `*http.Transport`, the default 10 s attempt timeout costs a context and a timer per attempt; ")
		p("`resilient.New()` sets it as the transport's `ResponseHeaderTimeout` instead.\n\n")
		p("| variant | ns/op | vs bare | cpu-ns/op | B/op | allocs/op | instructions/op |\n|---|--:|--:|--:|--:|--:|--:|\n")
		for _, row := range slices.Sorted(maps.Keys(t.Rows)) {
			for _, v := range t.Cols {
				ns, _ := cost.get("ns/op", row, v)
				cpu, _ := cost.get("cpu-ns/op", row, v)
				bo, _ := cost.get("B/op", row, v)
				al, _ := cost.get("allocs/op", row, v)
				n := "—"
				if x, ok := ins.get(row, v); ok {
					n = fmtCount(x)
				}
				p("| %s | %s %s | %s | %s %s | %.0f | %.0f | %s |\n", v, fmtNs(ns.Center), ns.CI, vsBase(ns), fmtNs(cpu.Center), cpu.CI, bo.Center, al.Center, n)
			}
		}
		p("\n")
	}

	if len(facts) > 0 {
		p("## Correctness, measured\n\n")
		p("`TestPeers_*` in bench/, each peer with 3 retries on 5xx and waits of 1–2 ms (resty needs a retry condition for that, ")
		p("failsafe-go's and resilient's breakers are kept closed, resilient's retry budget is off), against a server that answers ")
		p("every request with 500 and the body `attempt N`. The caller closes whatever body it gets, as careful code does ")
		p("(including failsafe-go's `ExceededError.LastResult`). Leaks are counted after closing the idle connections of the ")
		p("transport under the peer. ✗ marks a defect.\n\n")
		writeFacts(b, facts)
		p("\n")
	}

	if len(outage) > 0 {
		o := bench.DefaultOutage
		p("## Outage\n\n")
		p("`TestOutage`: every peer at its defaults, side by side, each with its own loopback server and %d callers ", o.Callers)
		p("that make one GET at a time with %v between calls. The servers are healthy for %v, answer every request with 500 for %v, ", o.Think, o.Warm, o.Down)
		p("then are healthy again for %v. *Server requests per call* divides the requests the server failed by the calls started ", o.Healed)
		p("while it was down; *failed call latency* is how long a caller waited to learn of a failure; *recovered* is the time from ")
		p("healing to the first success after which no call failed.\n\n")
		p("| peer | calls started while down | server requests per call | server requests/s while down | call latency p50, all calls started while down | failed call latency p50 / p99 | first success after healing | recovered after healing |\n")
		p("|---|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, r := range outage {
			lat := "— (none failed)"
			if r.FailedDown > 0 {
				lat = fmtDur(r.FailP50) + " / " + fmtDur(r.FailP99)
			}
			p("| %s | %d | %s | %.1f | %s | %s | %s | %s |\n", r.Peer, r.CallsDown, fmtRatio(r.PerCall), r.ServerRate, fmtDur(r.CallP50), lat,
				orNot(r.FirstSuccess, o.Healed), orNot(r.Recovered, o.Healed))
		}
		p("\n")
	}

	p("## Peers\n\n| peer | what and how |\n|---|---|\n")
	for _, pr := range bench.Peers() {
		p("| %s | %s |\n", pr.Name, pr.About)
	}
	p("\nVersions: ")
	var vs []string
	for _, mod := range peerModules {
		if v := m.Versions[mod]; v != "" {
			vs = append(vs, fmt.Sprintf("`%s` %s", mod, v))
		}
	}
	p("%s.\n", strings.Join(vs, ", "))
}

// instrCases are the cases counted under valgrind, in column order.
var instrCases = []struct{ c, tr, title string }{
	{"GET200", "mem", "GET 200 in-memory"},
	{"PUT1KiB", "mem", "PUT 1 KiB in-memory"},
	{"GET500", "mem", "GET 500 in-memory"},
	{"GET200", "loopback", "GET 200 loopback"},
	{"GET500", "loopback", "GET 500 loopback"},
}

// writeInstr writes the instructions per request, and their ratio to bare.
func writeInstr(b *strings.Builder, s stats, ins instr) {
	fmt.Fprintf(b, "## Instructions per request\n\n")
	fmt.Fprintf(b, "Counted by valgrind (callgrind) over the whole process, user space only, one P and the GC off (`GOMAXPROCS=1 GOGC=off`), ")
	fmt.Fprintf(b, "as the difference between two runs of different lengths: unlike time on a shared machine, these repeat within 1%%. ")
	fmt.Fprintf(b, "They count the code and the allocations, not the collection of the garbage (allocs/op stands for that). ")
	fmt.Fprintf(b, "On loopback they include the server and exclude the kernel, so they overstate a client's share of the real cost.\n\n")
	fmt.Fprintf(b, "| peer |")
	for _, c := range instrCases {
		fmt.Fprintf(b, " %s |", c.title)
	}
	fmt.Fprintf(b, "\n|---|%s\n", strings.Repeat("--:|", len(instrCases)))
	var cols []string
	if t := s["ns/op"]; t != nil {
		cols = t.Cols
	}
	for _, peer := range cols {
		fmt.Fprintf(b, "| %s |", peer)
		for _, c := range instrCases {
			row := rowName(c.c, c.tr)
			v, ok := ins.get(row, peer)
			base, bok := ins.get(row, "bare")
			switch {
			case !ok:
				fmt.Fprintf(b, " — |")
			case peer == "bare" || !bok:
				fmt.Fprintf(b, " %s |", fmtCount(v))
			default:
				fmt.Fprintf(b, " %s (×%.2f) |", fmtCount(v), v/base)
			}
		}
		fmt.Fprintf(b, "\n")
	}
	fmt.Fprintf(b, "\n")
}

// fmtCount formats an instruction count.
func fmtCount(v float64) string {
	if v >= 1e4 {
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// writeSummary writes one row per peer with the figures that matter most:
// own cost in memory, and time, CPU and connections on loopback.
func writeSummary(b *strings.Builder, s stats) {
	t := s["ns/op"]
	if t == nil {
		return
	}
	fmt.Fprintf(b, "Medians; the full tables, with confidence intervals and benchstat's comparisons, follow.\n\n")
	fmt.Fprintf(b, "| peer | GET 200 in-memory: time, allocs | GET 200 loopback: time, CPU | PUT 1 KiB loopback: time | GET 500 loopback: time, CPU, new conns/req | 8 parallel GETs loopback: CPU per req |\n")
	fmt.Fprintf(b, "|---|--:|--:|--:|--:|--:|\n")
	val := func(unit, c, tr, peer string) float64 {
		x, _ := s.get(unit, rowName(c, tr), peer)
		return x.Center
	}
	for _, peer := range t.Cols {
		fmt.Fprintf(b, "| %s | %s, %.0f | %s, %s | %s | %s, %s, %.3f | %s |\n", peer,
			fmtNs(val("ns/op", "GET200", "mem", peer)), val("allocs/op", "GET200", "mem", peer),
			fmtNs(val("ns/op", "GET200", "loopback", peer)), fmtNs(val("cpu-ns/op", "GET200", "loopback", peer)),
			fmtNs(val("ns/op", "PUT1KiB", "loopback", peer)),
			fmtNs(val("ns/op", "GET500", "loopback", peer)), fmtNs(val("cpu-ns/op", "GET500", "loopback", peer)), val("dials/op", "GET500", "loopback", peer),
			fmtNs(val("cpu-ns/op", "GETParallel8", "loopback", peer)))
	}
}

func writeFacts(b *strings.Builder, facts []bench.Fact) {
	byPeer := map[string]map[string]bench.Fact{}
	for _, f := range facts {
		if byPeer[f.Peer] == nil {
			byPeer[f.Peer] = map[string]bench.Fact{}
		}
		byPeer[f.Peer][f.Check] = f
	}
	fmt.Fprintf(b, "| peer | %s |\n|---|%s\n", strings.Join(bench.Checks, " | "), strings.Repeat("---|", len(bench.Checks)))
	for _, pr := range bench.Peers() {
		row := byPeer[pr.Name]
		if row == nil {
			continue
		}
		cells := make([]string, len(bench.Checks))
		for i, c := range bench.Checks {
			f, ok := row[c]
			switch {
			case !ok:
				cells[i] = "—"
			case f.Bad:
				cells[i] = "✗ " + f.Value
			default:
				cells[i] = f.Value
			}
		}
		fmt.Fprintf(b, "| %s | %s |\n", pr.Name, strings.Join(cells, " | "))
	}
}

// targets measures issue 8's targets from the run.
func targets(s, cost stats, ins instr, outage []bench.OutageResult) []target {
	var ts []target
	get := func(unit, c, tr, peer string) (cell, bool) { return s.get(unit, rowName(c, tr), peer) }
	// instrVs describes the instructions of peer against base's in one case.
	instrVs := func(c, tr, peer, base string) string {
		a, aok := ins.get(rowName(c, tr), peer)
		b, bok := ins.get(rowName(c, tr), base)
		if !aok || !bok {
			return ""
		}
		return fmt.Sprintf("; valgrind: %+.1fk instructions (%s vs %s, %+.0f%%)", (a-b)/1e3, fmtCount(a), fmtCount(b), 100*(a/b-1))
	}

	// both formats a comparison of CPU per request, the verdict's figure,
	// with wall time beside it.
	both := func(c, tr, peer, base string) (dcpu float64, text string) {
		oc, _ := get("cpu-ns/op", c, tr, peer)
		bc, _ := get("cpu-ns/op", c, tr, base)
		ow, _ := get("ns/op", c, tr, peer)
		bw, _ := get("ns/op", c, tr, base)
		dcpu = oc.Center - bc.Center
		return dcpu, fmt.Sprintf("CPU %s (%s vs %s, %+.0f%%); wall %s (%s vs %s)", fmtSignedNs(dcpu), fmtNs(oc.Center), fmtNs(bc.Center),
			100*(oc.Center/bc.Center-1), fmtSignedNs(ow.Center-bw.Center), fmtNs(ow.Center), fmtNs(bw.Center))
	}

	// 1. Own cost on the in-memory transport, tracing off: over a
	// caller's transport (the attempt timeout a context per attempt), and
	// on New()'s path (the attempt timeout in the base transport; the
	// no-timeout variant of BenchmarkResilientCost). Issue 22's bounds.
	if _, ok := get("cpu-ns/op", "GET200", "mem", "resilient"); ok {
		oa, _ := get("allocs/op", "GET200", "mem", "resilient")
		ba, _ := get("allocs/op", "GET200", "mem", "bare")
		d, text := both("GET200", "mem", "resilient", "bare")
		dal := oa.Center - ba.Center
		t := target{What: "own cost over bare, in-memory GET 200, tracing off, over a caller's transport: ≤ 1.5 µs and ≤ 6 allocs",
			Measured: fmt.Sprintf("%s; %+.0f allocs (%.0f vs %.0f)%s", text, dal, oa.Center, ba.Center, instrVs("GET200", "mem", "resilient", "bare"))}
		var miss []string
		if d > 1500 {
			miss = append(miss, fmt.Sprintf("%s over the 1.5 µs", fmtNs(d-1500)))
		}
		if dal > 6 {
			miss = append(miss, fmt.Sprintf("%.0f allocs over the 6", dal-6))
		}
		t.Met = verdict(miss)
		ts = append(ts, t)
	}
	if t := cost["cpu-ns/op"]; t != nil {
		for row := range t.Rows {
			oc, ok1 := cost.get("cpu-ns/op", row, "no-timeout")
			bc, ok2 := cost.get("cpu-ns/op", row, "bare")
			if !ok1 || !ok2 {
				continue
			}
			oa, _ := cost.get("allocs/op", row, "no-timeout")
			ba, _ := cost.get("allocs/op", row, "bare")
			ow, _ := cost.get("ns/op", row, "no-timeout")
			bw, _ := cost.get("ns/op", row, "bare")
			d, dal := oc.Center-bc.Center, oa.Center-ba.Center
			measured := fmt.Sprintf("CPU %s (%s vs %s); wall %s (%s vs %s); %+.0f allocs (%.0f vs %.0f)", fmtSignedNs(d), fmtNs(oc.Center), fmtNs(bc.Center),
				fmtSignedNs(ow.Center-bw.Center), fmtNs(ow.Center), fmtNs(bw.Center), dal, oa.Center, ba.Center)
			if a, ok := ins.get(row, "no-timeout"); ok {
				if b, ok := ins.get(row, "bare"); ok {
					measured += fmt.Sprintf("; valgrind: %+.1fk instructions (%s vs %s)", (a-b)/1e3, fmtCount(a), fmtCount(b))
				}
			}
			t := target{What: "own cost over bare, in-memory GET 200, tracing off, on New()'s path (attempt timeout in the base): ≤ 1 µs and ≤ 4 allocs", Measured: measured}
			var miss []string
			if d > 1000 {
				miss = append(miss, fmt.Sprintf("%s over the 1 µs", fmtNs(d-1000)))
			}
			if dal > 4 {
				miss = append(miss, fmt.Sprintf("%.0f allocs over the 4", dal-4))
			}
			t.Met = verdict(miss)
			ts = append(ts, t)
		}
	}

	// 2. With the OTel SDK, against otelhttp alone.
	for _, tr := range []string{"mem", "loopback"} {
		if _, ok := get("cpu-ns/op", "GET200", tr, "resilient-otel"); !ok {
			continue
		}
		oa, _ := get("allocs/op", "GET200", tr, "resilient-otel")
		ha, _ := get("allocs/op", "GET200", tr, "otelhttp")
		d, text := both("GET200", tr, "resilient-otel", "otelhttp")
		t := target{What: fmt.Sprintf("OTel SDK on, GET 200 %s: within 1 µs of otelhttp alone", trTitle(tr)),
			Measured: fmt.Sprintf("%s; %+.0f allocs (%.0f vs %.0f)%s", text, oa.Center-ha.Center, oa.Center, ha.Center,
				instrVs("GET200", tr, "resilient-otel", "otelhttp"))}
		var miss []string
		if d > 1000 {
			miss = append(miss, fmt.Sprintf("%s over the 1 µs", fmtNs(d-1000)))
		}
		t.Met = verdict(miss)
		ts = append(ts, t)
	}

	// 3. The 500 path on loopback: one failed attempt per call (retries
	// off, breakers held closed). A connection whose attempt failed is
	// retired, so that a retry behind an L4 balancer reaches another
	// backend: at most one new connection per failed attempt, and so the
	// CPU of a dial per failure. The bound beside it is go-retryablehttp,
	// which dials after every failed call too: resilient's CPU must stay
	// below its.
	if oc, ok := get("cpu-ns/op", "GET500", "loopback", "resilient"); ok {
		dials, _ := get("dials/op", "GET500", "loopback", "resilient")
		_, text := both("GET500", "loopback", "resilient", "bare")
		measured := fmt.Sprintf("%.3f dials/op; %s%s", dials.Center, text, instrVs("GET500", "loopback", "resilient", "bare"))
		rc, haveRC := get("cpu-ns/op", "GET500", "loopback", "retryablehttp")
		if haveRC {
			bc, _ := get("cpu-ns/op", "GET500", "loopback", "bare")
			rd, _ := get("dials/op", "GET500", "loopback", "retryablehttp")
			measured += fmt.Sprintf("; go-retryablehttp: %.3f dials/op, CPU %s (%+.0f%% over bare)", rd.Center, fmtNs(rc.Center), 100*(rc.Center/bc.Center-1))
		}
		t := target{What: "GET 500 on loopback: at most one new connection per failed attempt, CPU below go-retryablehttp's", Measured: measured}
		var miss []string
		if dials.Center > 1.01 {
			miss = append(miss, fmt.Sprintf("%.3f new connections per failed attempt", dials.Center))
		}
		if haveRC && oc.Center >= rc.Center {
			miss = append(miss, fmt.Sprintf("CPU %s over go-retryablehttp's", fmtNs(oc.Center-rc.Center)))
		}
		t.Met = verdict(miss)
		ts = append(ts, t)
	}

	// 4. Parallel GET: CPU per request.
	for _, tr := range []string{"loopback", "mem"} {
		ours, ok := get("cpu-ns/op", "GETParallel8", tr, "resilient")
		if !ok {
			continue
		}
		bare, _ := get("cpu-ns/op", "GETParallel8", tr, "bare")
		t := target{What: fmt.Sprintf("parallel GET (8 goroutines) %s: CPU per request within noise of bare", trTitle(tr)),
			Measured: fmt.Sprintf("%s vs %s cpu-ns/op (%s; benchstat: %s)", fmtNs(ours.Center), fmtNs(bare.Center),
				fmtSignedNs(ours.Center-bare.Center), vsBase(ours))}
		if ours.significant() && ours.deltaPct() > 0 {
			t.Met = fmt.Sprintf("**missed** by %s (%s)", fmtNs(ours.Center-bare.Center), ours.Delta)
		} else {
			t.Met = "met"
		}
		ts = append(ts, t)
	}

	// 5. Outage amplification.
	for _, r := range outage {
		if r.Peer != "resilient" {
			continue
		}
		t := target{What: "outage, defaults: ≤ 1.2 server requests per call",
			Measured: fmt.Sprintf("%s (%d requests for %d calls started while down)", fmtRatio(r.PerCall), r.ServerDown, r.CallsDown)}
		if r.PerCall > 1.2 {
			t.Met = fmt.Sprintf("**missed** by %.2f", r.PerCall-1.2)
		} else {
			t.Met = "met"
		}
		ts = append(ts, t)
	}
	return ts
}

// fmtRatio formats requests per call with two significant decimals at least.
func fmtRatio(v float64) string {
	if v > 0 && v < 0.1 {
		return fmt.Sprintf("%.4f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// orNot formats d, or says that it did not happen within the window.
func orNot(d, window time.Duration) string {
	if d < 0 {
		return fmt.Sprintf("not within %v", window)
	}
	return fmtDur(d)
}

func verdict(miss []string) string {
	if len(miss) == 0 {
		return "met"
	}
	return "**missed** by " + strings.Join(miss, " and ")
}

func trTitle(tr string) string {
	if tr == "mem" {
		return "in-memory"
	}
	return "on loopback"
}
