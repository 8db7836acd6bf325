package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/resilient-http/resilient"
)

// TestMain fails the tests if a goroutine outlives them: a server, a
// connection or a call of the demo that was not shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// shortRun is one run of the demo's scenario in phases of 1.5 s but for a
// down phase of 5 s, shared by the tests that read its summary. The
// breaker's window and cooldown are scaled down with the phases, so that it
// can open during the outage and close after it within the run; everything
// else is the client's defaults.
//
// The outage is longer than the other phases because a host that was
// flaky before it went down gets 50 to 100 quick probes when its breaker
// opens (fastProbes in breaker.go), one per call at this rate: a degraded
// host is found alive again at once, at the price of those requests if it
// is down. At 50 calls/s they take 1 to 2 s of the outage, so a 1.5 s
// outage cannot show the server spared; 5 s (250 calls) can.
var shortRun = sync.OnceValues(func() (*Summary, error) {
	return Run(context.Background(), Config{
		Phase: 1500 * time.Millisecond, Down: 5 * time.Second, Rate: 50, Concurrency: 200, Seed: 7,
		Options: []resilient.Option{resilient.WithBreaker(resilient.Breaker{
			Window: time.Second, Cooldown: 400 * time.Millisecond,
		})},
	})
})

func outage(t *testing.T) *Summary {
	t.Helper()
	s, err := shortRun()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return s
}

// The checks below hold on a loaded machine too (go test -race next to
// other tests on two cores): a call counts in the phase it started in, but
// a starved process may send it a little later, into the next phase, so
// the per-phase checks are on ratios, not exact counts.
func TestRun_outage_summaryIsConsistent(t *testing.T) {
	s := outage(t)
	var out bytes.Buffer
	s.Print(&out)
	t.Log("\n" + out.String())

	names := []string{"healthy", "flaky", "down", "healed"}
	if len(s.Scenario.Phases) != len(names) {
		t.Fatalf("phases = %d, want %d", len(s.Scenario.Phases), len(names))
	}
	for i, name := range names {
		if s.Scenario.Phases[i].Name != name {
			t.Errorf("phase %d is %q, want %q", i, s.Scenario.Phases[i].Name, name)
		}
		for _, c := range []Counts{s.Plain.Phases[i], s.Resilient.Phases[i]} {
			if got := c.OK + c.Failed + c.Refused + c.Broken; got != c.Calls {
				t.Errorf("%s: outcomes add up to %d, want the %d calls", name, got, c.Calls)
			}
		}
	}
	// 50 calls/s for 9.5 s on a fixed schedule, the same for both clients.
	for _, c := range []ClientReport{s.Plain, s.Resilient} {
		if c.Total.Calls != 475 {
			t.Errorf("%s: %d calls, want 475", c.Name, c.Total.Calls)
		}
		if c.Total.Broken != 0 {
			t.Errorf("%s: %d calls got no response at all; the embedded server always answers", c.Name, c.Total.Broken)
		}
	}
	if p := s.Plain.Total; p.ServerRequests != p.Calls || p.Refused != 0 {
		t.Errorf("plain: %d server requests, %d refused, for %d calls; a plain client sends each call once", p.ServerRequests, p.Refused, p.Calls)
	}

	const healthy, flaky, down, healed = 0, 1, 2, 3
	ratio := func(c ClientReport, phase int) float64 { return c.Phases[phase].SuccessRatio() }
	if r := ratio(s.Plain, healthy); r < 0.8 {
		t.Errorf("healthy: plain success %.2f, want about 1", r)
	}
	if r := ratio(s.Plain, flaky); r < 0.4 || r > 0.95 {
		t.Errorf("flaky: plain success %.2f, want about 0.7", r)
	}
	if r := ratio(s.Plain, down); r > 0.2 {
		t.Errorf("down: plain success %.2f, want about 0", r)
	}
	if r := ratio(s.Plain, healed); r < 0.8 {
		t.Errorf("healed: plain success %.2f, want about 1", r)
	}
	if c := s.Resilient.Phases[flaky]; c.ServerRequests <= c.Calls {
		t.Errorf("flaky: resilient sent %d requests for %d calls; want some retries", c.ServerRequests, c.Calls)
	}

	// The point of the demo: during the outage the resilient client spares
	// the server, because its breaker opens, and it recovers after. What it
	// sends: the failures that open the breaker (about 25, retries
	// included), the quick probes of a host that was flaky (50 here, at
	// most 100), then a probe per hold of a quarter of the outage's age, at
	// most Cooldown (a dozen): under 100 of the plain client's 250. Without
	// the breaker it would send up to four per call.
	p, r := s.Plain.Phases[down], s.Resilient.Phases[down]
	if 2*r.ServerRequests > p.ServerRequests {
		t.Errorf("down: the resilient client sent %d requests to the failing server, the plain one %d; want at most half", r.ServerRequests, p.ServerRequests)
	}
	if r.Refused == 0 {
		t.Errorf("down: no call was refused by the breaker")
	}
	if !s.Opened() || !s.Closed() {
		t.Errorf("breaker transitions %+v; want it to open, then close again", s.Transitions)
	}
	if i := s.indexTo("open", 0); i >= 0 {
		if at := s.Transitions[i].At; s.Scenario.Phases[s.Scenario.At(at)].Name != "down" {
			t.Errorf("breaker opened at %s, in phase %q; want during the outage", at, s.Scenario.Phases[s.Scenario.At(at)].Name)
		}
	}
	for _, tr := range s.Transitions {
		if tr.Host != s.Host {
			t.Errorf("transition %+v is for host %q, want %q", tr, tr.Host, s.Host)
		}
	}

	// The totals and the per-second series agree with the phases.
	for _, c := range []ClientReport{s.Plain, s.Resilient} {
		var calls, server, ok int
		for _, ph := range c.Phases {
			calls, server, ok = calls+ph.Calls, server+ph.ServerRequests, ok+ph.OK
		}
		if c.Total.Calls != calls || c.Total.ServerRequests != server || c.Total.OK != ok {
			t.Errorf("%s: total %+v does not add up to the phases (%d calls, %d server requests, %d ok)", c.Name, c.Total, calls, server, ok)
		}
		calls, server, ok = 0, 0, 0
		for _, sec := range c.Seconds {
			calls, server, ok = calls+sec.Calls, server+sec.ServerRequests, ok+sec.OK
		}
		if c.Total.Calls != calls || c.Total.ServerRequests != server || c.Total.OK != ok {
			t.Errorf("%s: per-second counts add up to %d calls, %d server requests, %d ok; want the totals %+v", c.Name, calls, server, ok, c.Total)
		}
	}
}

func TestRun_outage_showsEachKindOfError(t *testing.T) {
	s := outage(t)
	if s.PlainError != "request failed with status code 500" {
		t.Errorf("PlainError = %q, want the bare status of the outage", s.PlainError)
	}
	e := s.StatusError
	if e == nil {
		t.Fatal("no *StatusError was kept")
	}
	if e.StatusCode != http.StatusInternalServerError || e.Attempts < 1 || len(e.TraceID) != 32 ||
		!strings.HasPrefix(e.RequestID, "req-") || e.Problem == nil || e.Problem.Title != "Database unavailable" {
		t.Errorf("StatusError = %+v (problem %+v); want the outage's 500 with attempts, trace ID, request ID and problem details", e, e.Problem)
	}
	for _, want := range []string{"500 Internal Server Error", e.TraceID, e.RequestID, "Database unavailable"} {
		if !strings.Contains(s.StatusErrorText, want) {
			t.Errorf("StatusError text %q does not contain %q", s.StatusErrorText, want)
		}
	}
	if s.CircuitOpen == nil || !errors.Is(s.CircuitOpen, resilient.ErrCircuitOpen) || s.CircuitOpen.Host != s.Host {
		t.Errorf("CircuitOpen = %+v; want a refusal matching ErrCircuitOpen for %s", s.CircuitOpen, s.Host)
	}
	for _, format := range []string{"svg", "png"} {
		var b bytes.Buffer
		if err := renderChart(&b, format, s); err != nil {
			t.Fatalf("renderChart(%s): %v", format, err)
		}
		head := map[string]string{"svg": "<?xml", "png": "\x89PNG"}[format]
		if !bytes.HasPrefix(b.Bytes(), []byte(head)) || b.Len() < 10_000 {
			t.Errorf("%s chart: %d bytes starting %q; want a %s image", format, b.Len(), b.Bytes()[:min(8, b.Len())], format)
		}
	}
}

// TestRun_url_countsRequestsAsSent aims the demo at a "real" service (a
// healthy embedded server) and checks that the requests counted as the
// clients send them are the ones the service received.
func TestRun_url_countsRequestsAsSent(t *testing.T) {
	var received atomic.Int64
	sc := Scenario{Phases: []Phase{{Name: "healthy", End: time.Hour}}}
	srv, err := startServer(sc, time.Now(), 1, func(time.Time) { received.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	s, err := Run(context.Background(), Config{URL: srv.URL + "/health", Duration: time.Second, Rate: 50, Concurrency: 10})
	srv.Close()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	counted := s.Plain.Total.ServerRequests + s.Resilient.Total.ServerRequests
	if int(received.Load()) != counted || s.Plain.Total.OK != 50 || s.Resilient.Total.OK != 50 {
		t.Errorf("service received %d requests, demo counted %d; ok: plain %d, resilient %d, want 50 each",
			received.Load(), counted, s.Plain.Total.OK, s.Resilient.Total.OK)
	}
}

func TestRun_flags_badValueIsOneLineAndExit2(t *testing.T) {
	for _, args := range [][]string{
		{"-duration", "soon"},
		{"-duration", "1s"},
		{"-concurrency", "0"},
		{"-rate", "-3"},
		{"-chart", "out.pdf"},
		{"-url", "ftp://example.com"},
		{"-otlp", "http://"},
		{"-nosuchflag"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		msg := stderr.String()
		if code != 2 || !strings.HasPrefix(msg, "demo: ") || strings.Count(msg, "\n") != 1 || stdout.Len() != 0 {
			t.Errorf("run(%q) = %d, stderr %q, stdout %q; want exit 2 and one line on stderr", args, code, msg, stdout.String())
		}
	}
}

func TestRun_flags_unreachableURLIsOneLineAndExit1(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-url", "http://127.0.0.1:1/"}, &stdout, &stderr)
	msg := stderr.String()
	if code != 1 || !strings.HasPrefix(msg, "demo: cannot reach http://127.0.0.1:1/: ") || strings.Count(msg, "\n") != 1 {
		t.Errorf("run = %d, stderr %q; want exit 1 and one line saying the URL cannot be reached", code, msg)
	}
}

func TestLiveView_table_fitsEightyColumnsAndRedrawsInPlace(t *testing.T) {
	var b bytes.Buffer
	v := &liveView{w: &b, tty: true, sc: newScenario(8*time.Second, 0)}
	f := liveFrame{Second: 17, Phase: 2, Breaker: "half-open",
		Plain:     Counts{Calls: 100, OK: 0, ServerRequests: 100, P50: 2500 * time.Microsecond, P99: 31 * time.Millisecond},
		Resilient: Counts{Calls: 100, Refused: 100, P50: 41 * time.Microsecond, P99: 3400 * time.Microsecond}}
	v.show(f)
	first := b.String()
	v.show(f)
	second := strings.TrimPrefix(b.String(), first)
	if !strings.HasPrefix(second, "\x1b[5A") {
		t.Errorf("second frame starts %q; want the cursor moved up over the 5 lines of the first", second[:min(10, len(second))])
	}
	for _, line := range strings.Split(strings.TrimSuffix(first, "\n"), "\n") {
		line = strings.TrimPrefix(line, "\r\x1b[2K")
		if n := len([]rune(line)); n > 80 {
			t.Errorf("line of %d columns would wrap on an 80-column terminal: %q", n, line)
		}
	}
	for _, want := range []string{"[DOWN]", "half-open", "41µs", "2.5ms"} {
		if !strings.Contains(first, want) {
			t.Errorf("table does not show %q:\n%s", want, first)
		}
	}
}

func TestLiveView_line_isOneLinePerSecond(t *testing.T) {
	var b bytes.Buffer
	v := &liveView{w: &b, sc: newScenario(8*time.Second, 0)}
	v.show(liveFrame{Second: 3, Phase: 0, Breaker: "closed"})
	v.show(liveFrame{Second: 4, Phase: 0, Breaker: "closed"})
	if got := strings.Count(b.String(), "\n"); got != 2 || strings.Contains(b.String(), "\x1b") {
		t.Errorf("plain output %q; want two lines without escape sequences", b.String())
	}
}
