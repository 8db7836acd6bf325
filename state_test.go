package resilient

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestHosts_afterATripAndRecovery(t *testing.T) {
	f := &flip{}
	f.code.Store(503)
	srv := newServer(t, f.handle)
	other := newServer(t, status(200, "ok"))
	clk := newFakeClock()
	b := probing
	b.RampUp = 400 * time.Millisecond
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(b), withClock(clk), withRand(half))
	if hs := Hosts(c); len(hs) != 0 {
		t.Fatalf("a new client holds %+v", hs)
	}
	resp, err := c.Get(other.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for range 5 {
		c.Get(srv.URL)
	}
	name, otherName := "http://"+srv.Listener.Addr().String(), "http://"+other.Listener.Addr().String()

	byHost := func() map[string]HostState {
		m := map[string]HostState{}
		for _, h := range Hosts(c) {
			h.Until, h.LastUsed, h.OpenedAt = h.Until.UTC(), h.LastUsed.UTC(), h.OpenedAt.UTC() // comparable with ==
			m[h.Host] = h
		}
		return m
	}
	hs := byHost()
	if got, want := hs[otherName], (HostState{Host: otherName, State: BreakerClosed, Admitted: 1,
		Counts: BreakerCounts{Requests: 1, TotalSuccesses: 1, ConsecutiveSuccesses: 1}, LastUsed: clk.Now()}); got != want { // gobreaker's own counts
		t.Errorf("healthy host %+v\nwant         %+v", got, want)
	}
	// Open, gobreaker's counts start again from zero: TripCounts and
	// OpenedAt say what opened it, and when.
	if got, want := hs[name], (HostState{Host: name, State: BreakerOpen, Admitted: 0, Reason: "failing",
		TripCounts: BreakerCounts{Requests: 5, TotalFailures: 5, ConsecutiveFailures: 5}, OpenedAt: clk.Now(),
		Until: clk.Now().Add(100 * time.Millisecond), LastUsed: clk.Now()}); got != want {
		t.Errorf("failing host %+v\nwant         %+v", got, want)
	}

	clk.Advance(2 * time.Second)
	f.code.Store(200)
	resp, err = c.Get(srv.URL) // the probe closes it; ramp-up for 400ms
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	clk.Advance(100 * time.Millisecond)
	h := byHost()[name]
	if h.State != BreakerClosed || h.Reason != "ramping up after recovery" || h.Admitted != 0.625 ||
		!h.Until.Equal(clk.Now().Add(300*time.Millisecond)) {
		t.Errorf("recovering host %+v; want closed, ramping up, 62.5%% admitted until now+300ms", h)
	}
	if !h.OpenedAt.Equal(clk.Now().Add(-2100*time.Millisecond)) || h.TripCounts.ConsecutiveFailures != 5 {
		t.Errorf("recovering host %+v; want the outage's start 2.1s ago and the 5 failures that opened it", h)
	}
	clk.Advance(time.Second)
	if h := byHost()[name]; !h.OpenedAt.IsZero() || h.TripCounts != (BreakerCounts{}) {
		t.Errorf("recovered host %+v; want no OpenedAt nor TripCounts once every call is admitted", h)
	}
	if Hosts(&http.Client{}) != nil || Hosts(nil) != nil {
		t.Error("Hosts of a client without a resilient transport is not nil")
	}
}

func TestHosts_retryBudget(t *testing.T) {
	srv := newServer(t, status(503, ""))
	c := newClient(t, WithRetry(fast), WithBreaker(Breaker{Disabled: true}))
	c.Get(srv.URL)
	h := Hosts(c)[0]
	if h.Calls != 1 || h.Retries != 3 || h.State != BreakerClosed || h.Admitted != 1 {
		t.Errorf("%+v; want 1 call and 3 retries in the budget's window, admitted", h)
	}
}

// TestHosts_retryShare: Hosts shows whether a host's retries are free
// (RetriesPerCall is Retry.Max) or held back to RetryBudget.Ratio, and
// why; RetryShare, its old name, holds the same value; the
// resilient.retry_budget.share gauge says the same.
func TestHosts_retryShare(t *testing.T) {
	e := newTelEnv(t)
	flaky := newServer(t, status(503, ""))
	throttling := newServer(t, status(429, ""))
	c := e.client(t, WithRetry(fast), WithBreaker(Breaker{Disabled: true}))
	c.Get(flaky.URL)
	c.Get(throttling.URL)
	hs := Hosts(c)
	want := map[string]HostState{
		flaky.URL:      {RetriesPerCall: float64(fast.Max)},
		throttling.URL: {RetriesPerCall: 0.1, RetryHeldBack: "throttled"},
	}
	for _, h := range hs {
		if w := want[h.Host]; h.RetriesPerCall != w.RetriesPerCall || h.RetryShare != w.RetriesPerCall || h.RetryHeldBack != w.RetryHeldBack {
			t.Errorf("%s: RetriesPerCall %v, RetryShare %v, RetryHeldBack %q; want %v, %q", h.Host, h.RetriesPerCall, h.RetryShare, h.RetryHeldBack, w.RetriesPerCall, w.RetryHeldBack)
		}
	}
	rm := e.collect(t)
	got := map[float64]int{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[float64]); ok && m.Name == "resilient.retry_budget.share" {
				for _, dp := range g.DataPoints {
					got[dp.Value]++
				}
			}
		}
	}
	if len(got) != 2 || got[float64(fast.Max)] != 1 || got[0.1] != 1 {
		t.Errorf("resilient.retry_budget.share data points %v; want one %d (free) and one 0.1 (held back)", got, fast.Max)
	}
}

func TestAccessors_RequestIDAndRetryAfter(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Request-Id", "req-7")
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(503)
	})
	c := newClient(t, WithRetry(fast))
	_, err := c.Get(srv.URL)
	if RequestID(err) != "req-7" || RetryAfter(err) != 30*time.Second || !errors.Is(err, ErrRetryAfterTooLong) {
		t.Errorf("RequestID %q, RetryAfter %s for %v; want req-7 and 30s", RequestID(err), RetryAfter(err), err)
	}

	clk := newFakeClock()
	f := &flip{}
	f.code.Store(500)
	srv2 := newServer(t, f.handle)
	c2 := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(probing), withClock(clk), withRand(half))
	for range 5 {
		c2.Get(srv2.URL)
	}
	clk.Advance(30 * time.Millisecond)
	_, err = c2.Get(srv2.URL)
	if !errors.Is(err, ErrCircuitOpen) || RetryAfter(err) != 70*time.Millisecond || RequestID(err) != "" {
		t.Errorf("RetryAfter %s for %v; want the 70ms left of the hold", RetryAfter(err), err)
	}
	if RetryAfter(nil) != 0 || RequestID(errors.New("x")) != "" {
		t.Error("accessors of unrelated errors are not zero")
	}
}
