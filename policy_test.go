package resilient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// get sends a GET to url with ctx through c.
func get(t *testing.T, c *http.Client, ctx context.Context, url string) (*http.Response, error) {
	t.Helper()
	req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodGet, url, nil))
	return c.Do(req)
}

func TestContextWithPolicy_retries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy Policy
		hits   int64
	}{
		{"no policy: the client's 3 retries", Policy{}, 4},
		{"NoRetry: sent once", Policy{NoRetry: true}, 1},
		{"Retry.Max 1", Policy{Retry: &Retry{Max: 1}}, 2},
		{"Retry.Max -1", Policy{Retry: &Retry{Max: -1}}, 1},
		{"Retry.Max 5, above the client's", Policy{Retry: &Retry{Max: 5}}, 6},
		{"NoRetry wins over Retry", Policy{NoRetry: true, Retry: &Retry{Max: 5}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, status(503, "busy"))
			r := fast
			r.Budget.Disabled = true // the budget would allow 3 retries
			c := newClient(t, WithRetry(r), WithBreaker(Breaker{Disabled: true}))
			_, err := get(t, c, ContextWithPolicy(context.Background(), tc.policy), srv.URL)
			if srv.hits.Load() != tc.hits || Attempts(err) != int(tc.hits) || StatusCode(err) != 503 {
				t.Errorf("server saw %d attempts, err %v; want %d attempts and the 503", srv.hits.Load(), err, tc.hits)
			}
		})
	}
}

func TestContextWithPolicy_waitBounds(t *testing.T) {
	srv := newServer(t, status(503, "busy"))
	clk := newFakeClock()
	c := newClient(t, WithRetry(fast), WithBreaker(Breaker{Disabled: true}), withClock(clk), withRand(half))
	ctx := ContextWithPolicy(context.Background(), Policy{Retry: &Retry{MinWait: 2 * time.Second, MaxWait: 5 * time.Second}})
	get(t, c, ctx, srv.URL)
	want := []time.Duration{time.Second, 2 * time.Second, 2500 * time.Millisecond} // half of 2s, 4s, min(8s, 5s)
	if got := clk.waits(); !equalDurations(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}

	// The server asks for 6s, more than the policy's MaxWait: no retry.
	srv2 := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "6")
		w.WriteHeader(503)
	})
	_, err := get(t, c, ctx, srv2.URL)
	if srv2.hits.Load() != 1 || !errors.Is(err, ErrRetryAfterTooLong) || RetryAfter(err) != 6*time.Second {
		t.Errorf("server saw %d, err %v; want 1 attempt, stopped by Retry-After 6s", srv2.hits.Load(), err)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestContextWithPolicy_idempotentPOSTIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy Policy
		hits   int64
	}{
		{"POST without policy: sent once", Policy{}, 1},
		{"POST with Idempotent: retried", Policy{Idempotent: true}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, status(503, "busy"))
			c := newClient(t, WithRetry(fast), WithBreaker(Breaker{Disabled: true}))
			ctx := ContextWithPolicy(context.Background(), tc.policy)
			req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(`{"order":42}`)))
			_, err := c.Do(req)
			if srv.hits.Load() != tc.hits || StatusCode(err) != 503 {
				t.Fatalf("server saw %d attempts, err %v; want %d", srv.hits.Load(), err, tc.hits)
			}
			for i, b := range srv.bodies {
				if b != `{"order":42}` {
					t.Errorf("attempt %d sent body %q", i+1, b)
				}
			}
		})
	}
}

func TestContextWithPolicy_skipBreakerGoesThroughAnOpenBreaker(t *testing.T) {
	f := &flip{}
	f.code.Store(500)
	srv := newServer(t, f.handle)
	clk := newFakeClock()
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(probing), withClock(clk), withRand(half))
	for range 5 {
		c.Get(srv.URL)
	}
	f.code.Store(200)
	before := srv.hits.Load()
	if _, err := c.Get(srv.URL); !errors.Is(err, ErrCircuitOpen) || srv.hits.Load() != before {
		t.Fatalf("%v; want the open breaker to refuse without sending", err)
	}
	counts := Hosts(c)[0].Counts

	resp, err := get(t, c, ContextWithPolicy(context.Background(), Policy{SkipBreaker: true}), srv.URL)
	if err != nil {
		t.Fatalf("with SkipBreaker: %v, want the server's 200", err)
	}
	resp.Body.Close()
	if srv.hits.Load() != before+1 {
		t.Errorf("server saw %d requests, want %d", srv.hits.Load(), before+1)
	}
	h := Hosts(c)[0]
	if h.State != BreakerOpen || h.Counts != counts {
		t.Errorf("after a call that skipped it, breaker %s %+v; want still open with counts %+v", h.State, h.Counts, counts)
	}
	if _, err := c.Get(srv.URL); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("a call without the policy: %v, want still refused", err)
	}
}

func TestContextWithPolicy_invalid(t *testing.T) {
	srv := newServer(t, status(200, "ok"))
	c := newClient(t)
	for _, p := range []Policy{
		{Retry: &Retry{Max: -2}},
		{Retry: &Retry{MinWait: -time.Second}},
		{Retry: &Retry{MinWait: time.Minute}}, // above the client's MaxWait (5s)
		{Retry: &Retry{AttemptTimeout: time.Second}},
		{Retry: &Retry{Budget: RetryBudget{Disabled: true}}},
	} {
		_, err := get(t, c, ContextWithPolicy(context.Background(), p), srv.URL)
		if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), "Policy.Retry") {
			t.Errorf("%+v: err = %v, want ErrInvalidOption naming Policy.Retry", *p.Retry, err)
		}
	}
	if srv.hits.Load() != 0 {
		t.Errorf("server saw %d requests for invalid policies", srv.hits.Load())
	}
}

func TestContextWithPolicy_copiesRetry(t *testing.T) {
	srv := newServer(t, status(503, "busy"))
	c := newClient(t, WithRetry(fast), WithBreaker(Breaker{Disabled: true}))
	r := &Retry{Max: 1}
	ctx := ContextWithPolicy(context.Background(), Policy{Retry: r})
	r.Max = 3 // too late: the context holds its own copy
	get(t, c, ctx, srv.URL)
	if srv.hits.Load() != 2 {
		t.Errorf("server saw %d attempts, want 2", srv.hits.Load())
	}
}

// An unused policy key costs one lookup; a body sent with a policy is not
// disturbed.
func TestContextWithPolicy_bodyReachesServerOnce(t *testing.T) {
	srv := newServer(t, status(200, "ok"))
	c := newClient(t)
	ctx := ContextWithPolicy(context.Background(), Policy{NoRetry: true, SkipBreaker: true})
	req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodPut, srv.URL, io.NopCloser(strings.NewReader("x"))))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "ok" || srv.hits.Load() != 1 || srv.bodies[0] != "x" {
		t.Errorf("got %q, server saw %d with %q", got, srv.hits.Load(), srv.bodies)
	}
}

// BenchmarkPolicy is BenchmarkGET's resilient case with a Policy in the
// request's context, and with a Classifier: what the features cost when
// used (BenchmarkGET measures them unused).
func BenchmarkPolicy(b *testing.B) {
	bg := context.Background()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		opts []Option
	}{
		{"none", bg, nil},
		{"NoRetry", ContextWithPolicy(bg, Policy{NoRetry: true}), nil},
		{"SkipBreaker", ContextWithPolicy(bg, Policy{SkipBreaker: true}), nil},
		{"classifier", bg, []Option{WithClassifier(func(_ *http.Request, resp *http.Response, err error) (Outcome, error) {
			return Classify(resp, err), nil
		})}},
	} {
		b.Run("policy="+tc.name, func(b *testing.B) {
			t := NewTransport(&memTransport{}, tc.opts...)
			defer t.Close()
			c := &http.Client{Transport: t}
			req, _ := http.NewRequestWithContext(tc.ctx, http.MethodGet, "http://api.test/orders/42", nil)
			benchDo(b, c, req)
		})
	}
}

// TestPolicy_raisedMaxReplaysABodyWithoutGetBody: a call whose Policy
// allows retries on a client built without them still replays a body
// without GetBody (the AWS SDK's) from its copy.
func TestPolicy_raisedMaxReplaysABodyWithoutGetBody(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "stored")
	})
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(Breaker{Disabled: true}))
	ctx := ContextWithPolicy(context.Background(), Policy{Retry: &Retry{Max: 3, MinWait: time.Millisecond}})
	req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodPut, srv.URL, io.NopCloser(strings.NewReader("data"))))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("err = %v, want the second attempt's 200", err)
	}
	resp.Body.Close()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.bodies) != 2 || srv.bodies[0] != "data" || srv.bodies[1] != "data" {
		t.Errorf("server saw bodies %q; want 2 attempts, both \"data\"", srv.bodies)
	}
}
