package resilient

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// Both trip rules, the run of failures (gobreaker's ConsecutiveFailures)
// and FailureRatio over Window, see every attempt, successes included.
func TestBreaker_tripRulesSeeEveryAttempt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breaker Breaker
		fail    func(n int64) bool // whether request n (1-based) gets a 503
		calls   int
		open    bool // whether the breaker must open within calls
	}{
		{"ratio 0.5, 40% failures", Breaker{ConsecutiveFailures: 1000, FailureRatio: 0.5, MinRequests: 20},
			func(n int64) bool { return n%5 < 2 }, 200, false},
		{"ratio 0.5, 60% failures", Breaker{ConsecutiveFailures: 1000, FailureRatio: 0.5, MinRequests: 20},
			func(n int64) bool { return n%5 < 3 }, 200, true},
		{"ratio 1, one success then failures", Breaker{ConsecutiveFailures: 1000, MinRequests: 20},
			func(n int64) bool { return n != 1 }, 100, false},
		{"ratio 1, failures only", Breaker{ConsecutiveFailures: 1000, MinRequests: 20},
			func(int64) bool { return true }, 100, true},
		{"runs of 4 failures ended by a success, 5 to open", Breaker{ConsecutiveFailures: 5},
			func(n int64) bool { return n%5 != 0 }, 200, false},
		{"a run of 5 failures, 5 to open", Breaker{ConsecutiveFailures: 5},
			func(n int64) bool { return n%10 == 0 || n%10 > 5 }, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
				if tc.fail(n) {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			})
			c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(tc.breaker))
			opened := 0
			for i := range tc.calls {
				resp, err := c.Get(srv.URL)
				if err == nil {
					resp.Body.Close()
				}
				if errors.Is(err, ErrCircuitOpen) {
					opened = i + 1
					break
				}
			}
			if got := opened > 0; got != tc.open {
				t.Fatalf("breaker opened at call %d of %d (0: never), want open %v; the server saw %d requests", opened, tc.calls, tc.open, srv.hits.Load())
			}
		})
	}
}

// The run of failures that opens the breaker is gobreaker's
// ConsecutiveFailures, which no interval clears: a client that calls a
// dead host once a minute still opens its breaker on the 25th failure,
// and Hosts reports the run as gobreaker counts it.
func TestBreaker_aSlowRunOfFailuresStillOpens(t *testing.T) {
	clk := newFakeClock()
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	c := newClient(t, withClock(clk), WithRetry(Retry{Max: -1}))
	for i := 1; i <= 25; i++ {
		_, err := c.Get(srv.URL)
		if StatusCode(err) != http.StatusBadGateway {
			t.Fatalf("call %d: err = %v, want the 502", i, err)
		}
		hs := Hosts(c)
		if i < 25 {
			if want := (BreakerCounts{Requests: uint32(i), TotalFailures: uint32(i), ConsecutiveFailures: uint32(i)}); hs[0].State != BreakerClosed || hs[0].Counts != want {
				t.Fatalf("after %d failures a minute apart: %v %+v, want closed with %+v", i, hs[0].State, hs[0].Counts, want)
			}
		} else if hs[0].State != BreakerOpen {
			t.Fatalf("after 25 failures: %v, want open", hs[0].State)
		}
		clk.Advance(time.Minute)
	}
	if n := srv.hits.Load(); n != 25 {
		t.Errorf("the server saw %d requests, want 25", n)
	}
}
