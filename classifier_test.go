package resilient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// retryConflict makes a 409 whose body says "try again" retryable, reading
// the body to find out.
func retryConflict(resp *http.Response, err error) Outcome {
	if err == nil && resp.StatusCode == http.StatusConflict {
		b, _ := io.ReadAll(resp.Body)
		if bytes.Contains(b, []byte("try again")) {
			return Retryable
		}
	}
	return Classify(resp, err)
}

func TestWithClassifier_makes409Retryable(t *testing.T) {
	const body = `{"error":"lock held, try again"}`
	srv := newServer(t, status(409, body))
	r := fast
	r.Budget.Disabled = true
	var calls atomic.Int64
	c := newClient(t, WithRetry(r), WithClassifier(func(_ *http.Request, resp *http.Response, err error) (Outcome, error) {
		calls.Add(1)
		return retryConflict(resp, err), nil
	}))
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("%v; want the final 409 as a response", err)
	}
	if got := readAll(t, resp); resp.StatusCode != 409 || got != body {
		t.Errorf("final response %d %q; want the 409 with its whole body", resp.StatusCode, got)
	}
	if srv.hits.Load() != 4 {
		t.Errorf("server saw %d attempts, want 4", srv.hits.Load())
	}
	// One answer per attempt serves the retry decision and the breaker.
	if calls.Load() != 4 {
		t.Errorf("the classifier ran %d times for 4 attempts, want 4", calls.Load())
	}
	// The breaker counts what the hook made retryable as failures.
	if h := Hosts(c)[0]; h.Counts.TotalFailures != 4 || h.Counts.TotalSuccesses != 0 {
		t.Errorf("breaker counts %+v; want 4 failures", h.Counts)
	}

	// A 409 that does not say so is not retried, and counts as a success.
	srv2 := newServer(t, status(409, "conflict"))
	resp, err = c.Get(srv2.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "conflict" || srv2.hits.Load() != 1 {
		t.Errorf("got %q after %d attempts; want the 409 once", got, srv2.hits.Load())
	}
	for _, h := range Hosts(c) {
		if h.Host == "http://"+srv2.Listener.Addr().String() && h.Counts.TotalSuccesses != 1 {
			t.Errorf("breaker counts %+v; want 1 success", h.Counts)
		}
	}
}

func TestWithClassifier_makesFewerRetryable(t *testing.T) {
	srv := newServer(t, status(503, "maintenance"))
	c := newClient(t, WithRetry(fast), WithClassifier(func(_ *http.Request, resp *http.Response, err error) (Outcome, error) {
		if resp != nil && resp.StatusCode == 503 {
			return Permanent, nil
		}
		return Classify(resp, err), nil
	}))
	_, err := c.Get(srv.URL)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 || string(se.Body) != "maintenance" || srv.hits.Load() != 1 {
		t.Fatalf("%v after %d attempts; want the 503's *StatusError after 1", err, srv.hits.Load())
	}
	if h := Hosts(c)[0]; h.Counts.TotalFailures != 0 || h.Counts.TotalSuccesses != 1 {
		t.Errorf("breaker counts %+v; a 503 the hook made permanent must not count against the host", h.Counts)
	}
}

// The StatusError keeps the whole body when the hook read part of it.
func TestWithClassifier_bodyReadByTheHookReachesTheStatusError(t *testing.T) {
	long := strings.Repeat("a", 10000) + "END"
	srv := newServer(t, status(500, long))
	c := newClient(t, WithRetry(fast), WithClassifier(func(_ *http.Request, resp *http.Response, err error) (Outcome, error) {
		if resp != nil {
			io.CopyN(io.Discard, resp.Body, 100)
			resp.Body.Close() // does nothing
		}
		return Classify(resp, err), nil
	}))
	_, err := c.Get(srv.URL)
	var se *StatusError
	if !errors.As(err, &se) || string(se.Body) != long || srv.hits.Load() != 4 {
		t.Fatalf("%d attempts, body of %d bytes: %v; want 4 and the whole body", srv.hits.Load(), len(se.Body), err)
	}
}

// The hook reads at most the error body limit; the caller still gets all.
func TestWithClassifier_readIsBounded(t *testing.T) {
	long := strings.Repeat("b", 5000)
	srv := newServer(t, status(200, long))
	var seen int
	c := newClient(t, WithErrorBodyLimit(1000), WithClassifier(func(_ *http.Request, resp *http.Response, err error) (Outcome, error) {
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			seen = len(b)
		}
		return Classify(resp, err), nil
	}))
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != long || seen != 1000 {
		t.Errorf("hook read %d bytes, caller got %d; want 1000 and 5000", seen, len(got))
	}
}

// A DNS "no such host" is permanent by default; a hook can retry it (a
// service whose name appears a moment after it starts).
func TestWithClassifier_retriesAnError(t *testing.T) {
	notFound := &net.DNSError{Err: "no such host", Name: "orders.internal", IsNotFound: true}
	hook := func(_ *http.Request, resp *http.Response, err error) (Outcome, error) {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return Retryable, nil
		}
		return Classify(resp, err), nil
	}
	for _, tc := range []struct {
		name  string
		opts  []Option
		calls int
	}{
		{"default: not retried", nil, 1},
		{"hook: retried until it resolves", []Option{WithClassifier(hook)}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls int
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				calls++
				if calls < 3 {
					return nil, notFound
				}
				return (&memTransport{}).RoundTrip(r)
			})
			rt := NewTransport(base, append(tc.opts, WithRetry(fast))...)
			defer rt.Close()
			req := must[*http.Request](t)(http.NewRequest(http.MethodGet, "http://orders.internal/", nil))
			resp, err := rt.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			if calls != tc.calls {
				t.Errorf("base saw %d attempts (err %v), want %d", calls, err, tc.calls)
			}
		})
	}
}

// TestWithClassifier_stopEndsTheCallWithItsError: a Classifier's own
// error ends the call at once, whatever the Outcome, and errors.Is finds
// it: a *StatusError for a response of any status, with its whole body; a
// *TransportError without one. The Outcome still reaches the breaker.
func TestWithClassifier_stopEndsTheCallWithItsError(t *testing.T) {
	errQuota := errors.New("quota exceeded")
	quota := func(_ *http.Request, resp *http.Response, err error) (Outcome, error) {
		if err != nil {
			return Retryable, errQuota
		}
		b, _ := io.ReadAll(resp.Body)
		if bytes.Contains(b, []byte("quota")) {
			return Retryable, errQuota // Retryable: the error still wins
		}
		return Classify(resp, err), nil
	}
	for _, tc := range []struct {
		name   string
		handle func(int64, http.ResponseWriter, *http.Request)
		status int
	}{
		{"a 200 whose body says so", status(200, `{"error":"quota"}`), 200},
		{"a 404", status(404, `quota`), 404},
		{"a 503", status(503, `quota`), 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.handle)
			c := newClient(t, WithRetry(fast), WithClassifier(quota))
			_, err := c.Get(srv.URL)
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != tc.status || !strings.Contains(string(se.Body), "quota") || se.Stop != errQuota || !errors.Is(err, errQuota) {
				t.Fatalf("got %v, want a *StatusError %d with its body and Stop errQuota", err, tc.status)
			}
			if srv.hits.Load() != 1 || se.Attempts != 1 {
				t.Errorf("server saw %d requests, want 1: the Classifier's error ends the call", srv.hits.Load())
			}
			// The hook made the outcome Retryable: the breaker counts it.
			if h := Hosts(c)[0]; h.Counts.TotalFailures != 1 {
				t.Errorf("breaker counts %+v, want the Outcome's failure", h.Counts)
			}
		})
	}
	t.Run("no response", func(t *testing.T) {
		srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { dropConn(w) })
		c := newClient(t, WithRetry(fast), WithClassifier(quota))
		_, err := c.Get(srv.URL)
		var te *TransportError
		if !errors.As(err, &te) || te.Stop != errQuota || !errors.Is(err, errQuota) || te.Attempts != 1 || srv.hits.Load() != 1 {
			t.Fatalf("got %v after %d requests, want a *TransportError after 1 with Stop errQuota", err, srv.hits.Load())
		}
	})
}

// TestWithClassifier_seesTheAttemptsRequest: the Classifier gets the
// attempt's request, with the caller's context values and the attempt's
// number, for a response and for an error alike.
func TestWithClassifier_seesTheAttemptsRequest(t *testing.T) {
	type key struct{}
	srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			dropConn(w)
			return
		}
		w.WriteHeader(503)
	})
	var seen []string
	c := newClient(t, WithRetry(Retry{Max: 2, MinWait: time.Millisecond}), WithClassifier(func(req *http.Request, resp *http.Response, err error) (Outcome, error) {
		seen = append(seen, fmt.Sprintf("%s %v attempt %d err %v", req.Method, req.Context().Value(key{}), AttemptFromContext(req.Context()), err != nil))
		return Classify(resp, err), nil
	}))
	ctx := context.WithValue(context.Background(), key{}, "v")
	req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodPut, srv.URL, strings.NewReader("x")))
	c.Do(req)
	want := []string{"PUT v attempt 1 err true", "PUT v attempt 2 err false", "PUT v attempt 3 err false"}
	if !slices.Equal(seen, want) {
		t.Errorf("Classifier saw %q, want %q", seen, want)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
