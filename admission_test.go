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

func TestBreaker_opensRefusesProbesAndCloses(t *testing.T) {
	f := &flip{}
	f.code.Store(500)
	srv := newServer(t, f.handle)
	cooldown := 200 * time.Millisecond
	c := newClient(t, WithRetry(Retry{Max: -1}),
		WithBreaker(Breaker{MinRequests: 5, FailureRatio: 0.5, Cooldown: cooldown, Probes: 2}))

	for i := 0; i < 5; i++ {
		if _, err := c.Get(srv.URL); StatusCode(err) != 500 {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// Open: refused without a request.
	start := time.Now()
	_, err := c.Get(srv.URL)
	var co *CircuitOpenError
	if !errors.Is(err, ErrCircuitOpen) || !errors.As(err, &co) {
		t.Fatalf("err = %v, want ErrCircuitOpen", err)
	}
	if srv.hits.Load() != 5 {
		t.Errorf("server saw %d requests, want 5: an open breaker must not send", srv.hits.Load())
	}
	if !strings.Contains(co.Host, "127.0.0.1") || co.State != "open" || co.Until.Before(start) || co.Until.After(start.Add(cooldown)) {
		t.Errorf("CircuitOpenError = %+v; want the host and when the next probe is allowed", co)
	}
	if !strings.Contains(err.Error(), "next probe in") || Attempts(err) != 0 || !IsRetryable(err) {
		t.Errorf("Error() = %q", err)
	}

	// Still failing after the cooldown: the probe fails and it reopens.
	time.Sleep(cooldown + 20*time.Millisecond)
	if _, err := c.Get(srv.URL); StatusCode(err) != 500 {
		t.Fatalf("probe: %v, want the server's 500", err)
	}
	if _, err := c.Get(srv.URL); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("after a failed probe: %v, want the breaker open again", err)
	}

	// Healed: probes succeed and it closes.
	f.code.Store(200)
	time.Sleep(cooldown + 20*time.Millisecond)
	for i := 0; i < 10; i++ {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatalf("call %d after healing: %v", i, err)
		}
		resp.Body.Close()
	}
}

func TestBreaker_halfOpenAdmitsOnlyTheProbes(t *testing.T) {
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
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(Breaker{MinRequests: 2, Cooldown: 50 * time.Millisecond, Probes: 2}))
	c.Get(srv.URL)
	c.Get(srv.URL)
	failing.Store(false)
	time.Sleep(70 * time.Millisecond)

	var wg sync.WaitGroup
	var refused, passed atomic.Int64
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(srv.URL)
			switch {
			case errors.Is(err, ErrCircuitOpen):
				var co *CircuitOpenError
				errors.As(err, &co)
				if co.State != "half-open" {
					t.Errorf("refusal state %q, want half-open", co.State)
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
	waitFor(t, "4 refusals", func() bool { return refused.Load() == 4 })
	close(release)
	wg.Wait()
	if passed.Load() != 2 {
		t.Errorf("%d probes passed, want 2", passed.Load())
	}
}

func TestBreaker_perHost(t *testing.T) {
	bad := newServer(t, status(503, ""))
	good := newServer(t, status(200, "ok"))
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(Breaker{MinRequests: 3, Cooldown: time.Minute}))
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

func TestBreaker_ignores4xxAndCallerCancellation(t *testing.T) {
	srv := newServer(t, status(404, "no"))
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(Breaker{MinRequests: 3, Cooldown: time.Minute}))
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

func TestBreaker_stopsRetriesWhenItOpens(t *testing.T) {
	srv := newServer(t, status(503, "down"))
	r := Retry{Max: 10, MinWait: time.Millisecond, MaxWait: time.Millisecond}
	r.Budget.Disabled = true
	c := newClient(t, WithRetry(r), WithBreaker(Breaker{MinRequests: 3, Cooldown: time.Minute}))
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

func TestBreaker_registryIsBoundedAndEvicts(t *testing.T) {
	base := &memTransport{}
	tr := NewTransport(base, WithBreaker(Breaker{MaxHosts: 10})).(*Transport)
	defer tr.Close()
	c := &http.Client{Transport: tr}
	for i := 0; i < 200; i++ {
		resp, err := c.Get(fmt.Sprintf("http://host-%d.test/", i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if n := tr.hosts.size(); n > 10 {
			t.Fatalf("after %d hosts the registry holds %d, above MaxHosts 10", i+1, n)
		}
	}
	if base.calls.Load() != 200 {
		t.Errorf("%d calls reached the transport", base.calls.Load())
	}

	idle := NewTransport(base, WithBreaker(Breaker{IdleTTL: time.Millisecond})).(*Transport)
	defer idle.Close()
	ic := &http.Client{Transport: idle}
	for i := 0; i < 5; i++ {
		resp, _ := ic.Get(fmt.Sprintf("http://idle-%d.test/", i))
		resp.Body.Close()
		time.Sleep(3 * time.Millisecond)
	}
	if n := idle.hosts.size(); n > 2 {
		t.Errorf("idle hosts kept: %d, want those idle longer than IdleTTL evicted", n)
	}
}

func TestBreaker_hammeredByManyGoroutines(t *testing.T) {
	srv := newServer(t, status(500, "down"))
	c := newClient(t, WithRetry(Retry{MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond}),
		WithBreaker(Breaker{MinRequests: 10, Cooldown: 20 * time.Millisecond}))
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

func TestRetryBudget_limitsRetriesToAShareOfTraffic(t *testing.T) {
	srv := newServer(t, status(503, "down"))
	c := newClient(t, WithRetry(Retry{Max: 3, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond,
		Budget: RetryBudget{Ratio: 0.2, MinRetries: 3, Window: time.Second}}), WithBreaker(Breaker{Disabled: true}))
	const callers, each = 40, 5
	start := time.Now()
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
					if !strings.Contains(err.Error(), "retry budget exhausted") || StatusCode(err) != 503 {
						t.Errorf("Error() = %q: want the last 503 and the reason", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	calls := int64(callers * each)
	retries := srv.hits.Load() - calls
	windows := int64(time.Since(start)/time.Second) + 2 // the run may straddle window boundaries
	t.Logf("%d calls, %d retries (%.2f requests per call), %d stopped by the budget", calls, retries, float64(srv.hits.Load())/float64(calls), budgetStops.Load())
	if budgetStops.Load() == 0 {
		t.Error("the budget never refused a retry; without it every call would make 4 attempts")
	}
	if limit := calls/5 + 3*windows; retries > limit {
		t.Errorf("%d retries for %d calls, above 20%% of the calls plus 3 per window (%d)", retries, calls, limit)
	}
}

func TestRetryBudget_bankedSuccessesPayForOneWindowOnly(t *testing.T) {
	f := &flip{}
	f.code.Store(200)
	srv := newServer(t, f.handle)
	c := newClient(t, WithRetry(Retry{Max: 3, MinWait: time.Millisecond, MaxWait: time.Millisecond,
		Budget: RetryBudget{Ratio: 0.2, MinRetries: 1, Window: 200 * time.Millisecond}}), WithBreaker(Breaker{Disabled: true}))
	for i := 0; i < 500; i++ { // 500 healthy calls bank 100 retries...
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	time.Sleep(250 * time.Millisecond) // ...which expire with the window
	f.code.Store(503)
	srv.hits.Store(0)
	for i := 0; i < 20; i++ {
		c.Get(srv.URL)
	}
	if retries := srv.hits.Load() - 20; retries > 1+20/5+1 {
		t.Errorf("%d retries for 20 calls into an outage: the successes before it must not pay for them", retries)
	}
}

func TestRetryBudget_quietClientCanStillRetry(t *testing.T) {
	srv := newServer(t, status(503, "down"))
	r := fast
	r.Budget = RetryBudget{Window: 20 * time.Millisecond}
	c := newClient(t, WithRetry(r), WithBreaker(Breaker{Disabled: true}))
	for i := 0; i < 5; i++ {
		if _, err := c.Get(srv.URL); Attempts(err) != 4 || errors.Is(err, ErrRetryBudgetExhausted) {
			t.Fatalf("call %d: %v; a quiet client's retries fit in the minimum", i, err)
		}
		time.Sleep(30 * time.Millisecond)
	}
}
