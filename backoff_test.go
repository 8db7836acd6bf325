package resilient

// Tests of the wait before a retry beyond the default backoff: Retry.Backoff,
// a function of the caller's, and Retry.MaxServerWait, the cap on what a
// server may ask for when it differs from MaxWait. Waits run on the fake
// clock.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRetry_Backoff_givesTheWaits: Backoff receives the retry's number,
// the failed response (nil after a network failure) and the client's
// random draw, and its wait is slept, above MaxWait too.
func TestRetry_Backoff_givesTheWaits(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		switch n {
		case 1:
			dropConn(w)
		case 2, 3:
			w.WriteHeader(503)
		default:
			io.WriteString(w, "ok")
		}
	})
	var seen []string
	backoff := func(n int, resp *http.Response, r float64) time.Duration {
		st := "no response"
		if resp != nil {
			st = resp.Status
		}
		seen = append(seen, fmt.Sprintf("%d %s %.2f", n, st, r))
		return time.Duration(n+1) * 7 * time.Second
	}
	clk := newFakeClock()
	c := newClient(t, withClock(clk), withRand(func() float64 { return 0.25 }),
		WithRetry(Retry{MaxWait: time.Second, Backoff: backoff, Budget: RetryBudget{Disabled: true}}))
	resp, err := c.Get(srv.URL)
	if err != nil || readAll(t, resp) != "ok" || srv.hits.Load() != 4 {
		t.Fatalf("got %v after %d requests, want ok after 4", err, srv.hits.Load())
	}
	if got, want := clk.waits(), []time.Duration{7 * time.Second, 14 * time.Second, 21 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits %v, want Backoff's %v, above MaxWait", got, want)
	}
	if want := []string{"0 no response 0.25", "1 503 Service Unavailable 0.25", "2 503 Service Unavailable 0.25"}; !slices.Equal(seen, want) {
		t.Errorf("Backoff received %q, want %q", seen, want)
	}
}

// TestRetry_Backoff_neverShortensTheServersAsk: the wait is the longer of
// Backoff's and the server's; the server's ask is still capped, and the
// deadline still bounds every wait.
func TestRetry_Backoff_neverShortensTheServersAsk(t *testing.T) {
	short := func(int, *http.Response, float64) time.Duration { return time.Millisecond }
	long := func(int, *http.Response, float64) time.Duration { return 9 * time.Second }
	for _, tc := range []struct {
		name      string
		backoff   func(int, *http.Response, float64) time.Duration
		after     string
		wantWaits []time.Duration
		wantHits  int64
		wantErr   error
	}{
		{"server asks longer", short, "3", []time.Duration{3 * time.Second}, 2, nil},
		{"Backoff asks longer", long, "3", []time.Duration{9 * time.Second}, 2, nil},
		{"server asks above the cap", short, "60", nil, 1, ErrRetryAfterTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, retryAfterThen(503, tc.after))
			clk := newFakeClock()
			c := newClient(t, withClock(clk), WithRetry(Retry{Backoff: tc.backoff}))
			resp, err := c.Get(srv.URL)
			if tc.wantErr == nil && err == nil {
				readAll(t, resp)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) || srv.hits.Load() != tc.wantHits {
				t.Fatalf("got %v after %d requests, want %v after %d", err, srv.hits.Load(), tc.wantErr, tc.wantHits)
			}
			if got := clk.waits(); !slices.Equal(got, tc.wantWaits) {
				t.Errorf("waits %v, want %v", got, tc.wantWaits)
			}
		})
	}

	t.Run("a wait past the deadline is not started", func(t *testing.T) {
		srv := newServer(t, status(503, ""))
		clk := newFakeClock()
		clk.mu.Lock()
		clk.now = time.Now() // the context's deadline is on the wall clock
		clk.mu.Unlock()
		c := newClient(t, withClock(clk), WithRetry(Retry{Backoff: func(int, *http.Response, float64) time.Duration { return time.Hour }}))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := c.Do(must[*http.Request](t)(http.NewRequestWithContext(ctx, "GET", srv.URL, nil)))
		if !errors.Is(err, ErrDeadline) || srv.hits.Load() != 1 || len(clk.waits()) != 0 {
			t.Fatalf("got %v after %d requests, waits %v; want ErrDeadline after 1, no wait", err, srv.hits.Load(), clk.waits())
		}
	})
}

// TestRetry_MaxServerWait: a MaxWait that bounds the jitter no longer
// ends the retries of a 429 whose server asks for more; MaxServerWait
// caps the ask instead, and without it MaxWait does, as before.
func TestRetry_MaxServerWait(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retry     Retry
		after     string
		wantHits  int64
		wantWaits []time.Duration
		wantErr   error
	}{
		{"MaxWait caps the ask without MaxServerWait", Retry{MaxWait: 400 * time.Millisecond}, "1", 1, nil, ErrRetryAfterTooLong},
		{"MaxServerWait lets a 1s ask through", Retry{MaxWait: 400 * time.Millisecond, MaxServerWait: time.Minute}, "1", 2, []time.Duration{time.Second}, nil},
		{"an ask of exactly MaxServerWait is waited", Retry{MaxWait: 400 * time.Millisecond, MaxServerWait: time.Minute}, "60", 2, []time.Duration{time.Minute}, nil},
		{"an ask above MaxServerWait stops", Retry{MaxWait: 400 * time.Millisecond, MaxServerWait: time.Minute}, "61", 1, nil, ErrRetryAfterTooLong},
		{"MaxServerWait below MaxWait caps the ask", Retry{MaxWait: 5 * time.Second, MaxServerWait: time.Second}, "2", 1, nil, ErrRetryAfterTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, retryAfterThen(429, tc.after))
			clk := newFakeClock()
			c := newClient(t, withClock(clk), WithRetry(tc.retry))
			resp, err := c.Get(srv.URL)
			if err == nil {
				readAll(t, resp)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) || srv.hits.Load() != tc.wantHits {
				t.Fatalf("got %v after %d requests, want %v after %d", err, srv.hits.Load(), tc.wantErr, tc.wantHits)
			}
			if got := clk.waits(); !slices.Equal(got, tc.wantWaits) {
				t.Errorf("waits %v, want %v", got, tc.wantWaits)
			}
			var se *StatusError
			if tc.wantErr != nil && (!errors.As(err, &se) || se.RetryAfter == 0) {
				t.Errorf("got %v, want a *StatusError carrying the server's RetryAfter", err)
			}
		})
	}

	t.Run("the deadline still bounds the ask", func(t *testing.T) {
		srv := newServer(t, retryAfterThen(429, "30"))
		c := newClient(t, WithRetry(Retry{MaxWait: 400 * time.Millisecond, MaxServerWait: time.Minute}))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.Do(must[*http.Request](t)(http.NewRequestWithContext(ctx, "GET", srv.URL, nil)))
		if StatusCode(err) != 429 || srv.hits.Load() != 1 || time.Since(start) > 5*time.Second {
			t.Fatalf("got %v after %d requests in %s; want the 429 at once", err, srv.hits.Load(), time.Since(start))
		}
	})

	t.Run("invalid", func(t *testing.T) {
		if err := Validate(WithRetry(Retry{MaxServerWait: -time.Second})); !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), "MaxServerWait") {
			t.Errorf("got %v, want ErrInvalidOption naming MaxServerWait", err)
		}
	})
}

// TestPolicy_Retry_BackoffAndMaxServerWait: a call's Policy can give its
// own Backoff and MaxServerWait; other calls keep the client's.
func TestPolicy_Retry_BackoffAndMaxServerWait(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 { // the first call's attempt, the second call's first
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(429)
			return
		}
		io.WriteString(w, "ok")
	})
	clk := newFakeClock()
	c := newClient(t, withClock(clk), WithRetry(Retry{MaxWait: 400 * time.Millisecond, Budget: RetryBudget{Disabled: true}}))
	if _, err := c.Get(srv.URL); !errors.Is(err, ErrRetryAfterTooLong) {
		t.Fatalf("client's policy: got %v, want ErrRetryAfterTooLong", err)
	}
	ctx := ContextWithPolicy(context.Background(), Policy{Retry: &Retry{
		MaxServerWait: 10 * time.Second,
		Backoff:       func(int, *http.Response, float64) time.Duration { return 3 * time.Second },
	}})
	resp, err := c.Do(must[*http.Request](t)(http.NewRequestWithContext(ctx, "GET", srv.URL, nil)))
	if err != nil || readAll(t, resp) != "ok" {
		t.Fatalf("call's policy: got %v, want ok", err)
	}
	if got := clk.waits(); !slices.Equal(got, []time.Duration{3 * time.Second}) {
		t.Errorf("waits %v, want the call's Backoff's [3s], above the server's 2s", got)
	}
}
