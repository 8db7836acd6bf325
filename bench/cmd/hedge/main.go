// Command hedge measures hedged requests against a server with a slow
// tail: a share of its answers (1%, then 5%) take 200 times the median.
// It runs the same calls through resilient without hedging, resilient with
// a fixed and with an adaptive hedge delay, failsafe-go's HedgePolicy
// (fixed and quantile delays) and resty v3's Hedging, and writes the
// latency percentiles, the extra requests each sent and the connections
// each opened to a markdown file (bench/HEDGING.md), with a chart of the
// latency distributions (bench/hedging.svg).
//
//	go run ./cmd/hedge -md HEDGING.md -svg hedging.svg   # from bench/
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/hedgepolicy"
	"resty.dev/v3"

	"github.com/resilient-http/resilient"
)

// tail is a server whose answers take about median (uniform within ±20%),
// and, for a share slow of them, 200 times the median. An answer whose
// request is canceled ends at once. It counts requests and connections.
type tail struct {
	median time.Duration
	slow   float64

	requests atomic.Int64
	conns    atomic.Int64
}

func (s *tail) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	d := time.Duration(float64(s.median) * (0.8 + 0.4*rand.Float64()))
	if rand.Float64() < s.slow {
		d = 200 * s.median
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		io.WriteString(w, "ok")
	case <-r.Context().Done():
	}
}

// client is one way of sending the calls.
type client struct {
	name string
	note string
	make func(base *http.Transport) (do func(ctx context.Context, url string) error, closeFn func())
}

func loopback() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 100
	return tr
}

// std wraps an http.RoundTripper as a client.
func std(rt http.RoundTripper, closeFn func()) (func(context.Context, string) error, func()) {
	hc := &http.Client{Transport: rt}
	return func(ctx context.Context, url string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
			return fmt.Errorf("status %d, body %q, %v", resp.StatusCode, b, err)
		}
		return nil
	}, closeFn
}

// scenarios are the shares of slow answers measured.
var scenarios []float64

// noBudget turns resilient's retry budget off, for -nobudget.
var noBudget bool

func budget() resilient.Option {
	return resilient.WithRetry(resilient.Retry{Budget: resilient.RetryBudget{Disabled: noBudget}})
}

func clients(fixed time.Duration, quantile float64) []client {
	return []client{
		{"resilient, no hedging", "the baseline", func(base *http.Transport) (func(context.Context, string) error, func()) {
			t := resilient.NewTransport(base)
			return std(t, func() { t.Close() })
		}},
		{"resilient, fixed delay", fmt.Sprintf("`Hedging{Delay: %v}`", fixed), func(base *http.Transport) (func(context.Context, string) error, func()) {
			t := resilient.NewTransport(base, budget(), resilient.WithHedging(resilient.Hedging{Delay: fixed}))
			return std(t, func() { t.Close() })
		}},
		{"resilient, adaptive delay", fmt.Sprintf("`Hedging{Quantile: %v}` (the default)", quantile), func(base *http.Transport) (func(context.Context, string) error, func()) {
			t := resilient.NewTransport(base, budget(), resilient.WithHedging(resilient.Hedging{Quantile: quantile}))
			return std(t, func() { t.Close() })
		}},
		{"resilient, fixed delay, 3 attempts", fmt.Sprintf("`Hedging{Delay: %v, MaxAttempts: 3}`: a second hedge after another delay", fixed), func(base *http.Transport) (func(context.Context, string) error, func()) {
			t := resilient.NewTransport(base, budget(), resilient.WithHedging(resilient.Hedging{Delay: fixed, MaxAttempts: 3}))
			return std(t, func() { t.Close() })
		}},
		{"resilient, fixed delay, 5% budget", fmt.Sprintf("`Hedging{Delay: %v, MaxAttempts: 3}` with `RetryBudget{Ratio: 0.05}`: hedges and retries add at most 5%%", fixed), func(base *http.Transport) (func(context.Context, string) error, func()) {
			t := resilient.NewTransport(base, resilient.WithRetry(resilient.Retry{Budget: resilient.RetryBudget{Ratio: 0.05, Disabled: noBudget}}),
				resilient.WithHedging(resilient.Hedging{Delay: fixed, MaxAttempts: 3}))
			return std(t, func() { t.Close() })
		}},
		{"resilient, fixed delay, 3 attempts, no budget", fmt.Sprintf("`Hedging{Delay: %v, MaxAttempts: 3}` with `RetryBudget{Disabled: true}`: only MaxAttempts limits hedges", fixed), func(base *http.Transport) (func(context.Context, string) error, func()) {
			t := resilient.NewTransport(base, resilient.WithRetry(resilient.Retry{Budget: resilient.RetryBudget{Disabled: true}}),
				resilient.WithHedging(resilient.Hedging{Delay: fixed, MaxAttempts: 3}))
			return std(t, func() { t.Close() })
		}},
		{"failsafe-go, fixed delay", fmt.Sprintf("`hedgepolicy.NewWithDelay(%v)`", fixed), func(base *http.Transport) (func(context.Context, string) error, func()) {
			rt := failsafehttp.NewRoundTripper(base, hedgepolicy.NewWithDelay[*http.Response](fixed))
			return std(rt, base.CloseIdleConnections)
		}},
		{"failsafe-go, fixed delay, 2 hedges", fmt.Sprintf("`hedgepolicy.NewBuilderWithDelay(%v).WithMaxHedges(2)`", fixed), func(base *http.Transport) (func(context.Context, string) error, func()) {
			rt := failsafehttp.NewRoundTripper(base, hedgepolicy.NewBuilderWithDelay[*http.Response](fixed).WithMaxHedges(2).Build())
			return std(rt, base.CloseIdleConnections)
		}},
		{"failsafe-go, quantile delay", fmt.Sprintf("`hedgepolicy.NewWithDelayQuantile(%v, 1000, 100)`", quantile), func(base *http.Transport) (func(context.Context, string) error, func()) {
			rt := failsafehttp.NewRoundTripper(base, hedgepolicy.NewWithDelayQuantile[*http.Response](quantile, 1000, 100))
			return std(rt, base.CloseIdleConnections)
		}},
		{"resty v3, fixed delay", fmt.Sprintf("`NewHedging().SetDelay(%v).SetMaxRequest(2).SetMaxRequestPerSecond(0)`", fixed), func(base *http.Transport) (func(context.Context, string) error, func()) {
			rc := resty.New().SetTransport(base).SetHedging(resty.NewHedging().SetDelay(fixed).SetMaxRequest(2).SetMaxRequestPerSecond(0))
			return restyDo(rc)
		}},
		{"resty v3, defaults", "`NewHedging()`: 50ms, up to 3 requests, and its 3/s limit, which waits 333ms more before each hedge", func(base *http.Transport) (func(context.Context, string) error, func()) {
			rc := resty.New().SetTransport(base).SetHedging(resty.NewHedging())
			return restyDo(rc)
		}},
	}
}

func restyDo(rc *resty.Client) (func(context.Context, string) error, func()) {
	return func(ctx context.Context, url string) error {
		resp, err := rc.R().SetContext(ctx).Get(url)
		if err != nil {
			return err
		}
		if resp.String() != "ok" {
			return fmt.Errorf("status %d, body %q", resp.StatusCode(), resp.String())
		}
		return nil
	}, func() { rc.Close() }
}

// result is one client's run against one server.
type result struct {
	client  client
	slow    float64
	lat     []time.Duration // sorted, warm-up excluded
	extra   float64         // requests the server received per call, minus 1
	conns   int64           // connections the server accepted
	errors  int64
	elapsed time.Duration
}

func (r *result) q(p float64) time.Duration {
	i := min(int(p*float64(len(r.lat))), len(r.lat)-1)
	return r.lat[i]
}

// run sends calls calls, workers at a time, through cl to a fresh tail
// server, and times each; the first warm calls are left out of the
// percentiles (the adaptive delays need samples first) but not of the
// request count.
func run(cl client, slow float64, median time.Duration, calls, workers, warm int) *result {
	srv := &tail{median: median, slow: slow}
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			srv.conns.Add(1)
		}
	}
	hs.Start()
	defer hs.Close()
	base := loopback()
	do, closeFn := cl.make(base)
	defer closeFn()
	defer base.CloseIdleConnections()

	lat := make([]time.Duration, calls)
	var next atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= calls {
					return
				}
				t0 := time.Now()
				if err := do(context.Background(), hs.URL); err != nil {
					errs.Add(1)
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	r := &result{client: cl, slow: slow, lat: lat[warm:], errors: errs.Load(), elapsed: time.Since(start)}
	slices.Sort(r.lat)
	r.extra = float64(srv.requests.Load())/float64(calls) - 1
	r.conns = srv.conns.Load()
	return r
}

// dialCost measures what a new loopback connection adds to a request:
// n sequential requests without keep-alive against n with it.
func dialCost(n int) (fresh, reused time.Duration) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer hs.Close()
	measure := func(keep bool) time.Duration {
		tr := loopback()
		tr.DisableKeepAlives = !keep
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		start := time.Now()
		for range n {
			resp, err := hc.Get(hs.URL)
			if err != nil {
				log.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return time.Since(start) / time.Duration(n)
	}
	measure(true)
	return measure(false), measure(true)
}

func main() {
	md := flag.String("md", "HEDGING.md", "markdown results `file`")
	svg := flag.String("svg", "hedging.svg", "chart `file`")
	calls := flag.Int("calls", 10000, "calls per client and scenario")
	workers := flag.Int("workers", 16, "calls in flight at once")
	median := flag.Duration("median", 10*time.Millisecond, "the server's median latency; the slow answers take 200 times it")
	fixed := flag.Duration("fixed", 20*time.Millisecond, "the fixed hedge delay")
	quantile := flag.Float64("quantile", 0.95, "the quantile of the adaptive delays")
	warm := flag.Int("warm", 500, "calls left out of the percentiles at the start of each run")
	only := flag.String("only", "", "run only the clients whose name contains this")
	nobudget := flag.Bool("nobudget", false, "turn resilient's retry budget off (to see what it refuses)")
	slowest := flag.Float64("slow", 0, "run only this share of slow answers (default: 0.01, then 0.05)")
	flag.Parse()
	noBudget = *nobudget
	scenarios = []float64{0.01, 0.05}
	if *slowest > 0 {
		scenarios = []float64{*slowest}
	}

	load0 := loadavg()
	var results []*result
	for _, slow := range scenarios {
		for _, cl := range clients(*fixed, *quantile) {
			if !strings.Contains(cl.name, *only) {
				continue
			}
			r := run(cl, slow, *median, *calls, *workers, *warm)
			log.Printf("slow %v%% %-28s p50 %v p99 %v p99.9 %v extra %.2f%% conns %d errors %d in %v",
				slow*100, cl.name, r.q(0.5), r.q(0.99), r.q(0.999), r.extra*100, r.conns, r.errors, r.elapsed.Round(time.Millisecond))
			results = append(results, r)
		}
	}
	fresh, reused := dialCost(2000)
	log.Printf("loopback request: %v on a new connection, %v on a kept one", fresh, reused)

	load := fmt.Sprintf("load average %s at the start, %s at the end", load0, loadavg())
	if err := os.WriteFile(*md, []byte(report(results, fresh, reused, *calls, *workers, *warm, *median, *fixed, *quantile, load)), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*svg, []byte(chart(results)), 0o644); err != nil {
		log.Fatal(err)
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

// loadavg returns the one-minute load average, or "?".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func report(results []*result, fresh, reused time.Duration, calls, workers, warm int, median, fixed time.Duration, quantile float64, load string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Hedged requests: the tail with and without, and against the peers

Generated by `+"`go run ./cmd/hedge`"+` (from bench/) on %s with %s, %d CPUs
shared with other work (%s); do not edit by hand. Chart:
[hedging.svg](hedging.svg).

The server answers in %v ±20%% (uniform), and a share of its answers (1%%,
then 5%%) take 200 times that, %v; an answer whose request is canceled ends
at once. Each client sends %d GETs, %d at a time, to a fresh server; the
first %d calls of each run are left out of the percentiles (the adaptive
delays need samples first), not of the request count. *Extra requests* is
what the server received beyond one per call; *connections* is what it
accepted over the run: on HTTP/1.1, each attempt canceled in flight costs
its connection. All in milliseconds.

`, time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.Version(), runtime.NumCPU(), load, median, 200*median, calls, workers, warm)
	for _, slow := range scenarios {
		fmt.Fprintf(&b, "## %v%% of answers slow\n\n", slow*100)
		b.WriteString("| client | p50 | p99 | p99.9 | max | extra requests | connections | errors |\n|---|---|---|---|---|---|---|---|\n")
		for _, r := range results {
			if r.slow != slow {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.2f%% | %d | %d |\n", r.client.name, ms(r.q(0.5)), ms(r.q(0.99)), ms(r.q(0.999)),
				ms(r.lat[len(r.lat)-1]), r.extra*100, r.conns, r.errors)
		}
		b.WriteString("\n")
	}
	b.WriteString("## The clients\n\n| client | configuration |\n|---|---|\n")
	for _, c := range clients(fixed, quantile) {
		fmt.Fprintf(&b, "| %s | %s |\n", c.name, c.note)
	}
	b.WriteString(`
## Reading the tables

- With two attempts at most, a call is slow when both meet a slow answer:
  for a share s of slow answers, s² of the calls. At 1% that is 0.01%,
  below the p99.9; at 5% it is 0.25%, above it, so no client with one
  hedge can bring the 5% run's p99.9 down: that takes a second hedge
  (MaxAttempts: 3, or failsafe-go's WithMaxHedges(2)), for s³ = 0.0125%.
- The extra requests are about the share of calls still unanswered at the
  delay. To cut the slow 5%, at least 5% more requests must go; the
  retry budget is what keeps that bounded whatever the server does (the
  "5% budget" row: hedges and retries together within 5% of the calls,
  plus the budget's floor of 3 per second); a budget below the share of
  slow answers leaves the rest of them unhedged, as that row shows in
  the 5% run.
- The retry budget (10% of the calls per host over a 1s window, by
  default) refuses hedges in bursts: when the machine stalls, every call
  in flight passes the delay at once and spends it, and a slow answer
  that comes next gets no hedge. The "no budget" row shows what the
  budget costs in the tail, and what it saves in requests.
- The adaptive delays need samples first and then follow the load: on a
  loaded machine the median moves, and so does the delay.
- resty's defaults wait 1/(requests per second) more before each hedge
  (333ms at its 3 per second), on top of the 50ms delay; its winner is
  the first answer, whatever its status, where resilient's and (with
  CancelIf) failsafe-go's is the first that is not a retryable failure.
- The machine was shared with other work (see the load average above):
  the fast answers' own tail moves from run to run, and with it the
  hedges that fire for them. Compare rows of one run.
`)
	fmt.Fprintf(&b, `
## What a canceled attempt costs on HTTP/1.1

HTTP/1.1 cannot abandon a request and keep its connection: the loser's
connection is closed, and a later call dials a new one. On this machine, a
loopback request on a new connection took %.0f µs against %.0f µs on a kept
one (2,000 sequential requests each), so each lost race costs about %.0f µs
of one later call, and a TLS handshake more against a real host. resilient
cancels the losers all the same, as failsafe-go and resty do: the other
choice, letting a loser finish to keep its connection, holds that
connection (and the server's work) for as long as the slow answer takes,
here 200 times the median, to save one dial. On HTTP/2, canceling is a
RST_STREAM and costs nothing.
`, float64(fresh)/1e3, float64(reused)/1e3, float64(fresh-reused)/1e3)
	return b.String()
}
