package scenario

// This file writes the sick-backend scenario's part of the Markdown
// report: a summary with every client side by side (which RESULTS.md
// repeats), and a table per variant.

import (
	"fmt"
	"time"
)

// writeSickSummary writes the variants, one row each, the clients side by
// side.
func writeSickSummary(p printf, r *Result) {
	if len(r.Sick) == 0 {
		return
	}
	one, many, v0 := sickOne(r.Sick), sickMany(r.Sick), r.Sick[0].Variant
	p("## One sick backend behind an L4 balancer\n\n")
	p("Four backends behind a TCP balancer that picks a backend per connection, round robin (as kube-proxy, an AWS NLB or IPVS do); "+
		"one answers every request 503, three answer 200: the service is 75%% healthy. Every client at once, each with its own balancer and backends. "+
		"HTTP/2 is TLS (httptest's certificate, trusted as a system root, so that `resilient.New()` builds its own transport). "+
		"Closed loops: one goroutine making %d calls at %.0f/s, or %d goroutines × %d calls with %v of think time; "+
		"a call's deadline is %v; after %v no call starts. The first call goes alone, the other goroutines start when it has ended. "+
		"*sick first*: each client's first connection (over HTTP/2, the one every call then shares) goes to the sick backend; *sick second*: to a healthy one. go-retryablehttp's waits are cut to %v–%v, as the issue's measurement cut them.\n\n",
		one.Calls, float64(time.Second)/float64(one.Interval), many.Goroutines, many.Calls, many.Think,
		v0.Deadline, v0.Limit, RetryableSickWaits[0], RetryableSickWaits[1])
	p("Success, then server requests per call · connections opened · breaker opens (– without a breaker).\n\n| variant |")
	for _, c := range r.Sick[0].Clients {
		p(" %s |", c.Client)
	}
	p("\n|---|")
	for range r.Sick[0].Clients {
		p("--:|")
	}
	p("\n")
	for _, s := range r.Sick {
		p("| %s |", s.Variant.Name)
		for _, c := range s.Clients {
			p(" %.1f%% (%.2f · %d · %s) |", 100*c.Success(), c.PerCall(), c.Conns, fmtOpens(c.BreakerOpens))
		}
		p("\n")
	}
	p("\nEvery variant in detail: [the end of SCENARIOS.md](SCENARIOS.md#one-sick-backend-in-detail).\n\n")
}

// writeSickDetail writes one table per variant.
func writeSickDetail(p printf, r *Result) {
	if len(r.Sick) == 0 {
		return
	}
	p("## One sick backend, in detail\n\n")
	p("**calls** = calls started (of those planned: a client slowed by backoffs or refusals makes fewer before the run's limit); " +
		"**req/call** = requests the backends received / calls; **to sick** = requests the sick backend answered 503 (failed attempts); " +
		"**conns** = connections the balancer accepted, **to sick** of them handed to the sick backend; **opens** = the breaker's opens; " +
		"**refused** = calls whose error is the client's own breaker-open error.\n\n")
	for _, s := range r.Sick {
		p("### %s\n\n", s.Variant.Name)
		p("| client | calls | success | req/call | to sick | conns | to sick | opens | refused | p50 | p99 |\n")
		p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, c := range s.Clients {
			p("| %s | %d/%d | %.1f%% | %.3f | %d | %d | %d | %s | %d | %s | %s |\n", c.Client, c.Calls, s.Variant.Planned(), 100*c.Success(),
				c.PerCall(), c.SickRequests, c.Conns, c.ConnsSick, fmtOpens(c.BreakerOpens), c.Refused, fmtDur(c.P50), fmtDur(c.P99))
		}
		p("\nRan %s.\n\n", fmtDur(s.Duration))
	}
}

func fmtOpens(n int) string {
	if n < 0 {
		return "–"
	}
	return fmt.Sprint(n)
}

// sickOne and sickMany return a one-goroutine variant and a variant with
// several goroutines of rs, for the report's settings.
func sickOne(rs []SickResult) SickVariant {
	for _, r := range rs {
		if r.Variant.Goroutines == 1 {
			return r.Variant
		}
	}
	return SickVariant{Interval: time.Second}
}

func sickMany(rs []SickResult) SickVariant {
	for _, r := range rs {
		if r.Variant.Goroutines > 1 {
			return r.Variant
		}
	}
	return SickVariant{}
}
