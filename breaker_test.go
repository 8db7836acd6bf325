package resilient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// flip is a handler whose status can be changed while the test runs.
type flip struct{ code atomic.Int64 }

func (f *flip) handle(_ int64, w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(int(f.code.Load()))
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// probing is a breaker policy with small numbers for tests: open after 5
// failures in a row, holds from 100ms up to 400ms, no ramp-up.
var probing = Breaker{ConsecutiveFailures: 5, ProbeInterval: 100 * time.Millisecond, Cooldown: 400 * time.Millisecond, RampUp: -1}

// refusal returns err's *CircuitOpenError, failing the test if there is none.
func refusal(t *testing.T, err error) *CircuitOpenError {
	t.Helper()
	var co *CircuitOpenError
	if !errors.Is(err, ErrCircuitOpen) || !errors.As(err, &co) {
		t.Fatalf("err = %v, want a *CircuitOpenError", err)
	}
	return co
}

func TestAdmission_opensOnARunOfFailuresAndProbesAfterHoldsThatGrowWithTheOutage(t *testing.T) {
	f := &flip{}
	f.code.Store(500)
	srv := newServer(t, f.handle)
	clk := newFakeClock()
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(probing), withClock(clk), withRand(half))

	for i := 0; i < 5; i++ {
		if _, err := c.Get(srv.URL); StatusCode(err) != 500 {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// A host that was healthy gets 3 probes after the shortest hold, then
	// holds of a quarter of the outage's age, up to 400ms: probes fail at
	// ages 100ms, 200ms, 1.1s and 3.1s.
	for i, step := range []struct{ wait, hold time.Duration }{
		{0, 100 * time.Millisecond},
		{100 * time.Millisecond, 100 * time.Millisecond},
		{100 * time.Millisecond, 100 * time.Millisecond},
		{900 * time.Millisecond, 275 * time.Millisecond},
		{2 * time.Second, 400 * time.Millisecond},
	} {
		clk.Advance(step.wait)
		if i > 0 {
			before := srv.hits.Load()
			if _, err := c.Get(srv.URL); StatusCode(err) != 500 || srv.hits.Load() != before+1 {
				t.Fatalf("step %d: %v, want one probe sent when the hold ends", i, err)
			}
		}
		before := srv.hits.Load()
		_, err := c.Get(srv.URL)
		co := refusal(t, err)
		if srv.hits.Load() != before {
			t.Fatalf("step %d: a refused call reached the server", i)
		}
		if co.State != BreakerOpen || co.Reason != "failing" || !co.Until.Equal(clk.Now().Add(step.hold)) || Attempts(err) != 0 || !IsRetryable(err) {
			t.Errorf("step %d: %+v, want open until now+%s", i, co, step.hold)
		}
		if want := fmt.Sprintf("next probe in %s", step.hold); !strings.Contains(err.Error(), want) {
			t.Errorf("Error() = %q, want %q", err, want)
		}
		if i < 4 {
			continue
		}
		clk.Advance(step.hold - time.Millisecond)
		if _, err := c.Get(srv.URL); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("%v a millisecond before the hold ends, want refused", err)
		}
		clk.Advance(time.Millisecond)
	}

	// Healed: the next probe succeeds and closes it.
	f.code.Store(200)
	for i := 0; i < 10; i++ {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatalf("call %d after healing: %v", i, err)
		}
		resp.Body.Close()
	}
}

func TestAdmission_neverRefusesWhileSomeCallsSucceed(t *testing.T) {
	// 60% of requests fail, in runs of at most 6: far from the 25 failures
	// in a row that show a host is down.
	srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n%5 < 3 {
			w.WriteHeader(503)
		}
	})
	c := newClient(t, WithRetry(Retry{Max: -1}))
	for i := 0; i < 500; i++ {
		_, err := c.Get(srv.URL)
		if errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("call %d refused while 40%% of calls succeed: a plain client would have had them", i)
		}
	}
}

func TestAdmission_theRunThatOpensDependsOnTheHostsRecentSuccessRate(t *testing.T) {
	// A host answering one call in ten, then one in 41: runs of 40 are
	// common at that rate, and must not open the breaker.
	degraded := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n <= 200 && n%10 != 0 || n > 200 && (n-200)%41 != 0 {
			w.WriteHeader(503)
		}
	})
	c := newClient(t, WithRetry(Retry{Max: -1}))
	for i := 0; i < 200+5*41; i++ {
		if _, err := c.Get(degraded.URL); errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("call %d refused: a run of 40 failures is common for a host answering 1 call in 41", i)
		}
	}

	// A host that answered everything, then fails: 25 in a row open it.
	f := &flip{}
	f.code.Store(200)
	healthy := newServer(t, f.handle)
	for i := 0; i < 100; i++ {
		resp, err := c.Get(healthy.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	f.code.Store(503)
	for i := 1; i <= 30; i++ {
		_, err := c.Get(healthy.URL)
		if refused := errors.Is(err, ErrCircuitOpen); refused != (i > 25) {
			t.Fatalf("failing call %d: %v; want the 26th and later refused", i, err)
		}
	}
}

func TestAdmission_holdsAsLongAsRetryAfterAsks(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(503)
	})
	clk := newFakeClock()
	c := newClient(t, WithRetry(Retry{Max: -1}), withClock(clk), withRand(half), WithBreaker(probing))
	for i := 0; i < 5; i++ {
		c.Get(srv.URL)
	}
	_, err := c.Get(srv.URL)
	co := refusal(t, err)
	if co.Reason != "server asked to wait" || !co.Until.Equal(clk.Now().Add(2*time.Second)) {
		t.Errorf("%+v: want held for the 2s the server asked", co)
	}
	clk.Advance(2 * time.Second)
	if _, err := c.Get(srv.URL); StatusCode(err) != 503 {
		t.Errorf("after the server's 2s: %v, want a probe sent", err)
	}
}

func TestAdmission_rampsUpAfterAnOutage(t *testing.T) {
	f := &flip{}
	f.code.Store(500)
	srv := newServer(t, f.handle)
	clk := newFakeClock()
	b := probing
	b.RampUp = 400 * time.Millisecond
	c := newClient(t, WithRetry(Retry{Max: -1}), withClock(clk), withRand(half), WithBreaker(b))
	for i := 0; i < 5; i++ {
		c.Get(srv.URL)
	}
	clk.Advance(2 * time.Second) // open for 2s: a ramp-up of min(2s/4, 400ms)
	f.code.Store(200)
	resp, err := c.Get(srv.URL) // the probe, which closes it
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Half is admitted at first; the jitter source draws 0.5, refused.
	_, err = c.Get(srv.URL)
	co := refusal(t, err)
	if co.State != BreakerClosed || co.Reason != "ramping up after recovery" || co.Admitted != 0.5 || !co.Until.Equal(clk.Now().Add(400*time.Millisecond)) {
		t.Errorf("%+v: want a ramp-up refusal admitting 50%%, for 400ms", co)
	}
	if !strings.Contains(err.Error(), "admitting 50% of calls") {
		t.Errorf("Error() = %q", err)
	}
	clk.Advance(200 * time.Millisecond) // 75% admitted: 0.5 passes
	if resp, err := c.Get(srv.URL); err != nil {
		t.Fatalf("halfway through ramp-up: %v", err)
	} else {
		resp.Body.Close()
	}
}

func TestAdmission_noRampUpAfterAShortOpen(t *testing.T) {
	// A host down for less than four Cooldowns (a blip, a flap) gets all
	// its traffic back at once: a ramp there would refuse calls that a
	// plain client gets answered. The jitter source draws 0.5, which any
	// ramp-up refuses at first.
	f := &flip{}
	f.code.Store(500)
	srv := newServer(t, f.handle)
	clk := newFakeClock()
	b := probing // Cooldown 400ms: a ramp needs an open of 1.6s
	b.RampUp = 400 * time.Millisecond
	c := newClient(t, WithRetry(Retry{Max: -1}), withClock(clk), withRand(half), WithBreaker(b))
	for i := 0; i < 5; i++ {
		c.Get(srv.URL)
	}
	clk.Advance(1500 * time.Millisecond)
	f.code.Store(200)
	for i := 0; i < 20; i++ { // the probe, which closes it, then every call
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatalf("call %d after a 1.5s open: %v, want every call admitted", i, err)
		}
		resp.Body.Close()
	}
}

func TestAdmission_probesOneAtATime(t *testing.T) {
	release := make(chan struct{})
	var failing atomic.Bool
	failing.Store(true)
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(503)
			return
		}
		<-release
	})
	clk := newFakeClock()
	c := newClient(t, WithRetry(Retry{Max: -1}), withClock(clk), withRand(half), WithBreaker(probing))
	for i := 0; i < 5; i++ {
		c.Get(srv.URL)
	}
	failing.Store(false)
	clk.Advance(100 * time.Millisecond)

	var wg sync.WaitGroup
	var refused, passed atomic.Int64
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(srv.URL)
			switch {
			case errors.Is(err, ErrCircuitOpen):
				if co := refusal(t, err); co.State != BreakerHalfOpen || co.Reason != "probing" {
					t.Errorf("refusal %+v, want half-open, probing", co)
				}
				refused.Add(1)
			case err == nil:
				resp.Body.Close()
				passed.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	waitFor(t, "5 refusals", func() bool { return refused.Load() == 5 })
	close(release)
	wg.Wait()
	if passed.Load() != 1 {
		t.Errorf("%d probes passed, want 1", passed.Load())
	}
}

func TestAdmission_perHost(t *testing.T) {
	bad := newServer(t, status(503, ""))
	good := newServer(t, status(200, "ok"))
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(Breaker{ConsecutiveFailures: 3, ProbeInterval: time.Minute}))
	for i := 0; i < 3; i++ {
		c.Get(bad.URL)
	}
	if _, err := c.Get(bad.URL); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("bad host: %v, want open", err)
	}
	for i := 0; i < 20; i++ {
		resp, err := c.Get(good.URL)
		if err != nil {
			t.Fatalf("healthy host refused because another host failed: %v", err)
		}
		resp.Body.Close()
	}
}

func TestAdmission_ignores4xxAndCallerCancellation(t *testing.T) {
	srv := newServer(t, status(404, "no"))
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(Breaker{ConsecutiveFailures: 3, Cooldown: time.Minute}))
	for i := 0; i < 50; i++ {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatalf("call %d: %v; 404s must never trip the breaker", i, err)
		}
		resp.Body.Close()
	}

	hang := newServer(t, func(_ int64, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	for i := 0; i < 10; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hang.URL, nil)
		_, err := c.Do(req)
		cancel()
		if errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("call %d refused: the caller's own deadlines must not count against the server", i)
		}
	}
}

func TestAdmission_stopsRetriesWhenItOpens(t *testing.T) {
	srv := newServer(t, status(503, "down"))
	r := Retry{Max: 10, MinWait: time.Millisecond, MaxWait: time.Millisecond}
	r.Budget.Disabled = true
	c := newClient(t, WithRetry(r), WithBreaker(Breaker{ConsecutiveFailures: 3, ProbeInterval: time.Minute}))
	_, err := c.Get(srv.URL)
	var se *StatusError
	if !errors.As(err, &se) || !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("err = %v, want the last 503 with the breaker as the reason retrying stopped", err)
	}
	if srv.hits.Load() != 3 || se.Attempts != 3 {
		t.Errorf("%d requests, Attempts %d: want 3, then stop at the open breaker", srv.hits.Load(), se.Attempts)
	}
	if !strings.Contains(err.Error(), "circuit breaker opened") {
		t.Errorf("Error() = %q does not say why it stopped", err)
	}
}

// hostsHeld counts the hosts a client keeps state for, as a user sees
// them: the data points of its resilient.admission gauge, one per host.
func hostsHeld(t *testing.T, reader *sdkmetric.ManualReader) int {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[float64]); ok && m.Name == "resilient.admission" {
				return len(g.DataPoints)
			}
		}
	}
	return 0
}

func TestAdmission_registryIsBoundedAndEvicts(t *testing.T) {
	base := &memTransport{}
	reader := sdkmetric.NewManualReader()
	tr := NewTransport(base, WithBreaker(Breaker{MaxHosts: 10}),
		WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	defer tr.Close()
	c := &http.Client{Transport: tr}
	for i := 0; i < 200; i++ {
		resp, err := c.Get(fmt.Sprintf("http://host-%d.test/", i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if i%20 == 19 {
			if n := hostsHeld(t, reader); n != 10 {
				t.Fatalf("after %d hosts the client holds %d, want MaxHosts, 10", i+1, n)
			}
		}
	}
	if base.calls.Load() != 200 {
		t.Errorf("%d calls reached the transport", base.calls.Load())
	}

	clk := newFakeClock()
	idleReader := sdkmetric.NewManualReader()
	idle := NewTransport(base, WithBreaker(Breaker{IdleTTL: time.Minute}), withClock(clk),
		WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(idleReader))))
	defer idle.Close()
	ic := &http.Client{Transport: idle}
	for i := 0; i < 5; i++ {
		resp, _ := ic.Get(fmt.Sprintf("http://idle-%d.test/", i))
		resp.Body.Close()
		clk.Advance(3 * time.Minute)
	}
	if n := hostsHeld(t, idleReader); n > 2 {
		t.Errorf("idle hosts kept: %d, want those idle longer than IdleTTL evicted", n)
	}
}

func TestAdmission_hammeredByManyGoroutines(t *testing.T) {
	srv := newServer(t, status(500, "down"))
	c := newClient(t, WithRetry(Retry{MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond}),
		WithBreaker(Breaker{ConsecutiveFailures: 10, Cooldown: 20 * time.Millisecond}))
	var wg sync.WaitGroup
	var calls, refused, statusErrs atomic.Int64
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				calls.Add(1)
				_, err := c.Get(srv.URL)
				var se *StatusError
				switch {
				case errors.As(err, &se):
					statusErrs.Add(1)
				case errors.Is(err, ErrCircuitOpen):
					refused.Add(1)
				default:
					t.Errorf("untyped error: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	amp := float64(srv.hits.Load()) / float64(calls.Load())
	t.Logf("%d calls: %d StatusErrors, %d refused; server saw %d (%.2f per call)", calls.Load(), statusErrs.Load(), refused.Load(), srv.hits.Load(), amp)
	if refused.Load() == 0 {
		t.Error("the breaker never refused a call to a host failing 100%")
	}
	if amp > 1.2 {
		t.Errorf("%.2f server requests per call during a total outage, want at most 1.2", amp)
	}
}

// TestRetryBudget_limitsRetriesToAShareOfTraffic: a host that answers 429
// (it says the client sends too much) gets retries of at most Ratio of
// the calls.
func TestRetryBudget_limitsRetriesToAShareOfTraffic(t *testing.T) {
	srv := newServer(t, status(429, "slow down"))
	clk := newFakeClock() // the whole run falls in one window
	c := newClient(t, WithRetry(Retry{Max: 3, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond,
		Budget: RetryBudget{Ratio: 0.2, MinRetries: 3, Window: time.Hour}}), WithBreaker(Breaker{Disabled: true}), withClock(clk))
	const callers, each = 40, 5
	var wg sync.WaitGroup
	var budgetStops atomic.Int64
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := c.Get(srv.URL)
				if errors.Is(err, ErrRetryBudgetExhausted) {
					budgetStops.Add(1)
					if !strings.Contains(err.Error(), "; retrying stopped by the retry budget while the host shows signs of overload") || StatusCode(err) != 429 {
						t.Errorf("Error() = %q: want the last 429 and the reason", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	calls := int64(callers * each)
	retries := srv.hits.Load() - calls
	t.Logf("%d calls, %d retries (%.2f requests per call), %d stopped by the budget", calls, retries, float64(srv.hits.Load())/float64(calls), budgetStops.Load())
	if budgetStops.Load() == 0 {
		t.Error("the budget never refused a retry; without it every call would make 4 attempts")
	}
	// Calls and retries interleave: a retry is allowed while retries stay
	// below a fifth of the calls made so far, so at most calls/5 in all.
	if limit := calls / 5; retries > limit {
		t.Errorf("%d retries for %d calls, above 20%% of the calls (%d)", retries, calls, limit)
	}
}

func TestRetryBudget_bankedSuccessesPayForOneWindowOnly(t *testing.T) {
	f := &flip{}
	f.code.Store(200)
	srv := newServer(t, f.handle)
	clk := newFakeClock()
	c := newClient(t, WithRetry(Retry{Max: 3, MinWait: time.Millisecond, MaxWait: time.Millisecond,
		Budget: RetryBudget{Ratio: 0.2, MinRetries: 1, Window: 200 * time.Millisecond}}), WithBreaker(Breaker{Disabled: true}), withClock(clk))
	for i := 0; i < 500; i++ { // 500 healthy calls bank 100 retries...
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	clk.Advance(250 * time.Millisecond) // ...which expire with the window
	f.code.Store(429)                   // the host says it gets too much: retries are held to the share
	srv.hits.Store(0)
	for i := 0; i < 20; i++ {
		c.Get(srv.URL)
	}
	// The 20 failing calls themselves pay for 20/5 = 4 retries.
	if retries := srv.hits.Load() - 20; retries > 20/5 {
		t.Errorf("%d retries for 20 calls into an outage: the successes before it must not pay for them", retries)
	}
}

// TestRetryBudget_flakyCallsOfAQuietClientAllSucceed: at 5 calls a second,
// with the defaults, every call that meets 503, 503, 200 succeeds: 503s
// that come at once say nothing of load, so no retry is refused.
func TestRetryBudget_flakyCallsOfAQuietClientAllSucceed(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n%3 != 0 {
			w.WriteHeader(503)
		}
	})
	clk := newFakeClock()
	c := newClient(t, withClock(clk), withRand(half))
	for i := range 50 {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		readAll(t, resp)
		clk.Advance(200 * time.Millisecond)
	}
	if n := srv.hits.Load(); n != 150 {
		t.Errorf("server saw %d requests, want 150: 3 per call", n)
	}
}

func TestRetryBudget_quietClientCanStillRetry(t *testing.T) {
	srv := newServer(t, status(503, "down"))
	r := fast
	r.Budget = RetryBudget{Window: 20 * time.Millisecond}
	clk := newFakeClock()
	c := newClient(t, WithRetry(r), WithBreaker(Breaker{Disabled: true}), withClock(clk))
	for i := 0; i < 5; i++ {
		if _, err := c.Get(srv.URL); Attempts(err) != 4 || errors.Is(err, ErrRetryBudgetExhausted) {
			t.Fatalf("call %d: %v; a quiet client's retries fit in the minimum", i, err)
		}
		clk.Advance(30 * time.Millisecond)
	}
}

func TestAdmission_aProbeStuckOnAHangingHostGivesWayAfterAHold(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		switch {
		case n <= 5:
			w.WriteHeader(500)
		case n == 6: // the first probe hangs
			<-release
			w.WriteHeader(500)
		}
	})
	clk := newFakeClock()
	c := newClient(t, WithRetry(Retry{Max: -1}), withClock(clk), withRand(half), WithBreaker(probing))
	for i := 0; i < 5; i++ {
		c.Get(srv.URL)
	}
	clk.Advance(100 * time.Millisecond)
	stuck := make(chan error, 1)
	go func() {
		_, err := c.Get(srv.URL)
		stuck <- err
	}()
	waitFor(t, "the probe to reach the server", func() bool { return srv.hits.Load() == 6 })
	if _, err := c.Get(srv.URL); refusal(t, err).Reason != "probing" {
		t.Fatalf("%v: want refused while the probe is young", err)
	}
	clk.Advance(100 * time.Millisecond) // a hold later, the next call probes instead
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("%v: want the second probe sent, and the healed host's answer", err)
	}
	resp.Body.Close()
	close(release)
	<-stuck
	// The stuck probe's late failure does not reopen the breaker.
	for i := 0; i < 5; i++ {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatalf("call %d after the second probe: %v", i, err)
		}
		resp.Body.Close()
	}
}

func TestAdmission_aQuietClientOpensOnARunLongerThanTheWindow(t *testing.T) {
	// 15 failures spread over more than the 200 ms window: the run is
	// gobreaker's ConsecutiveFailures, which no interval clears (a
	// rolling window would forget the older failures), or a client
	// calling less than 25 times per 10 s would never open.
	srv := newServer(t, status(503, "down"))
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(Breaker{ConsecutiveFailures: 15, Window: 200 * time.Millisecond, ProbeInterval: time.Minute, Cooldown: time.Minute}))
	for i := 1; i <= 15; i++ {
		if _, err := c.Get(srv.URL); errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("call %d refused before the run of 15", i)
		}
		time.Sleep(25 * time.Millisecond)
	}
	if _, err := c.Get(srv.URL); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("after 15 failures in a row over 375 ms: %v, want the breaker open", err)
	}
}

func TestAdmission_aHostThatAnsweredFewCallsIsProbedFastAfterItOpens(t *testing.T) {
	// One call in ten answered, then a run long enough to open: the next
	// 50 probes go after the shortest hold, as 5/0.1 says.
	srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n > 100 || n%10 != 0 {
			w.WriteHeader(503)
		}
	})
	clk := newFakeClock()
	c := newClient(t, WithRetry(Retry{Max: -1}), withClock(clk), withRand(half),
		WithBreaker(Breaker{ConsecutiveFailures: 20, ProbeInterval: 10 * time.Millisecond, Cooldown: time.Second}))
	refusedAt := func() time.Duration {
		t.Helper()
		_, err := c.Get(srv.URL)
		return refusal(t, err).Until.Sub(clk.Now())
	}
	for i := 0; i < 100; i++ {
		c.Get(srv.URL)
	}
	for c.Get(srv.URL); ; c.Get(srv.URL) { // fail until the run opens it
		if _, err := c.Get(srv.URL); errors.Is(err, ErrCircuitOpen) {
			break
		}
		if srv.hits.Load() > 1000 {
			t.Fatal("never opened")
		}
	}
	for i := 0; i < 50; i++ {
		clk.Advance(100 * time.Millisecond) // the age grows; the hold must not yet
		if _, err := c.Get(srv.URL); StatusCode(err) != 503 {
			t.Fatalf("probe %d: %v, want it sent", i, err)
		}
		if hold := refusedAt(); i < 49 && hold != 10*time.Millisecond {
			t.Fatalf("after failed probe %d the hold is %s, want the shortest, 10ms", i+1, hold)
		} else if i == 49 && hold <= 10*time.Millisecond {
			t.Fatalf("after %d failed probes the hold is still %s, want it grown", i+1, hold)
		}
	}
}

func TestAdmission_quickProbesGrowWithTheShareOfCallsTheHostFailedBefore(t *testing.T) {
	// 100 calls with some failures among them, then an outage: a host that
	// failed one call in a hundred was healthy and gets 3 probes after the
	// shortest hold, as one that failed none; one that failed a fifth of
	// them was degraded and gets 50; one that failed a twentieth, some in
	// between.
	for _, tc := range []struct {
		name     string
		failEach int64 // the host failed every failEach-th of its first 100 calls; 0: none
		min, max int
	}{
		{"none failed", 0, 3, 3},
		{"one in a hundred failed", 100, 3, 3},
		{"one in twenty failed", 20, 10, 40},
		{"one in five failed", 5, 50, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
				if n > 100 || (tc.failEach > 0 && n%tc.failEach == tc.failEach/2) {
					w.WriteHeader(503)
				}
			})
			clk := newFakeClock()
			c := newClient(t, WithRetry(Retry{Max: -1}), withClock(clk), withRand(half),
				WithBreaker(Breaker{ConsecutiveFailures: 20, ProbeInterval: 10 * time.Millisecond, Cooldown: time.Second}))
			for srv.hits.Load() < 100 {
				c.Get(srv.URL)
			}
			for { // fail until the run opens it
				_, err := c.Get(srv.URL)
				if errors.Is(err, ErrCircuitOpen) {
					break
				}
				if srv.hits.Load() > 1000 {
					t.Fatal("never opened")
				}
			}
			quick := 0
			for i := 0; ; i++ {
				clk.Advance(100 * time.Millisecond) // the age grows
				if _, err := c.Get(srv.URL); StatusCode(err) != 503 {
					t.Fatalf("probe %d: %v, want it sent", i, err)
				}
				_, err := c.Get(srv.URL)
				if refusal(t, err).Until.Sub(clk.Now()) > 10*time.Millisecond {
					break
				}
				quick++
			}
			// quick counts the probes whose failure kept the shortest hold;
			// the probe that first arms a longer one is quick too.
			if quick+1 < tc.min || quick+1 > tc.max {
				t.Errorf("%d probes after the shortest hold, want %d to %d", quick+1, tc.min, tc.max)
			}
		})
	}
}

func TestAdmission_aRefusedCallWaitsForAProbeThatIsMillisecondsAway(t *testing.T) {
	// A degraded host (it failed one call in five) fails 5 in a row, which
	// opens the breaker, and is back before the first probe. A call
	// refused 10ms before that probe waits for it, becomes it, and
	// succeeds, rather than fail in microseconds; a POST too, since a
	// refused attempt was never sent. The server sees each call once.
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
				if n < 50 && n%5 == 0 || n > 50 && n <= 55 {
					w.WriteHeader(503)
				}
			})
			clk := newFakeClock()
			c := newClient(t, WithRetry(Retry{Max: 3}), withClock(clk), withRand(half),
				WithBreaker(Breaker{ConsecutiveFailures: 5, ProbeInterval: 10 * time.Millisecond, Cooldown: time.Second, RampUp: -1}))
			once := ContextWithPolicy(context.Background(), Policy{NoRetry: true})
			for srv.hits.Load() < 55 { // one request per call
				req, _ := http.NewRequestWithContext(once, http.MethodGet, srv.URL, nil)
				resp, err := c.Do(req)
				if err == nil {
					resp.Body.Close()
				} else if errors.Is(err, ErrCircuitOpen) {
					t.Fatalf("after %d requests: %v", srv.hits.Load(), err)
				}
			}
			slept := len(clk.waits())
			req, _ := http.NewRequest(method, srv.URL, strings.NewReader("order 42"))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("a call refused 10ms before the probe: %v, want it to wait and succeed", err)
			}
			resp.Body.Close()
			if w := clk.waits()[slept:]; len(w) != 1 || w[0] != 10*time.Millisecond {
				t.Errorf("waits %v, want one of 10ms, to the probe", w)
			}
			srv.mu.Lock()
			last := srv.bodies[len(srv.bodies)-1]
			srv.mu.Unlock()
			if srv.hits.Load() != 56 || last != "order 42" {
				t.Errorf("server saw %d requests, the last with body %q; want 56, the call's once", srv.hits.Load(), last)
			}
		})
	}
}

func TestAdmission_aRefusedCallFailsAtOnceWhenTheProbeIsFarOff(t *testing.T) {
	// A host that answered everything goes down: its refused calls never
	// wait, not even for its first quick probes (a blip's probes are no
	// reason to keep every caller waiting in an outage). A degraded host
	// goes down: its refused calls wait for its quick probes, at most
	// Retry.Max times each. Once the holds grow past Retry.MinWait, both
	// fail at once, even 5ms before the hold ends, and send nothing.
	for _, degraded := range []bool{false, true} {
		t.Run(fmt.Sprintf("degraded=%v", degraded), func(t *testing.T) {
			srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
				if !degraded || n > 50 || n%5 == 0 {
					w.WriteHeader(503)
				}
			})
			clk := newFakeClock()
			c := newClient(t, WithRetry(Retry{Max: 2}), withClock(clk), withRand(half),
				WithBreaker(Breaker{ConsecutiveFailures: 5, ProbeInterval: 10 * time.Millisecond, Cooldown: time.Second}))
			once := ContextWithPolicy(context.Background(), Policy{NoRetry: true})
			for { // one request per call until the breaker opens
				req, _ := http.NewRequestWithContext(once, http.MethodGet, srv.URL, nil)
				resp, err := c.Do(req)
				if err == nil {
					resp.Body.Close()
				} else if errors.Is(err, ErrCircuitOpen) {
					break
				}
				if srv.hits.Load() > 100 {
					t.Fatal("never opened")
				}
			}
			waited := 0
			for i := 0; ; i++ {
				before := len(clk.waits())
				_, err := c.Get(srv.URL)
				n := len(clk.waits()) - before
				if n > 2 {
					t.Fatalf("one call waited %d times, want at most Retry.Max (2)", n)
				}
				waited += n
				var co *CircuitOpenError
				if errors.As(err, &co) && co.Until.Sub(clk.Now()) > 100*time.Millisecond {
					break
				}
				clk.Advance(time.Millisecond)
				if i > 10000 {
					t.Fatal("holds never grew")
				}
			}
			if degraded && waited == 0 || !degraded && waited != 0 {
				t.Errorf("refused calls waited %d times for the quick probes, want some only for the degraded host", waited)
			}
			before, slept := srv.hits.Load(), len(clk.waits())
			for i := 0; i < 10; i++ {
				_, err := c.Get(srv.URL)
				refusal(t, err)
			}
			// Even 5ms before the long hold ends: the call fails at once.
			_, err := c.Get(srv.URL)
			clk.Advance(refusal(t, err).Until.Sub(clk.Now()) - 5*time.Millisecond)
			_, err = c.Get(srv.URL)
			refusal(t, err)
			if srv.hits.Load() != before || len(clk.waits()) != slept {
				t.Errorf("%d requests and %d waits for 12 calls refused during a long hold, want none", srv.hits.Load()-before, len(clk.waits())-slept)
			}
		})
	}
}
