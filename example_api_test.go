package resilient_test

// Examples of the per-call policy, the classification hook, the callbacks,
// the host states and the error accessors.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient"
)

// failing starts a server that answers every request with code, and counts
// them.
func failing(code int, body string) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(code)
		io.WriteString(w, body)
	}))
	return srv, &hits
}

// One client, three calls with different policies: the default, no retry
// at all (a health check that must answer fast), and a POST that the
// caller knows is safe to repeat.
func ExampleContextWithPolicy() {
	srv, hits := failing(http.StatusServiceUnavailable, "busy")
	defer srv.Close()
	client := resilient.New(resilient.WithRetry(resilient.Retry{
		MinWait: time.Millisecond,
		Budget:  resilient.RetryBudget{Disabled: true}, // three calls in a row would spend it
	}))
	defer resilient.Close(client)

	_, err := client.Get(srv.URL)
	fmt.Println("default:", resilient.Attempts(err), "attempts")

	ctx := resilient.ContextWithPolicy(context.Background(), resilient.Policy{NoRetry: true})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/health", nil)
	_, err = client.Do(req)
	fmt.Println("NoRetry:", resilient.Attempts(err), "attempt")

	ctx = resilient.ContextWithPolicy(context.Background(), resilient.Policy{
		Idempotent: true, // the server deduplicates orders by their ID
		Retry:      &resilient.Retry{Max: 1},
	})
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/orders", strings.NewReader(`{"id":42}`))
	_, err = client.Do(req)
	fmt.Println("idempotent POST:", resilient.Attempts(err), "attempts")
	fmt.Println("server saw", hits.Load(), "requests")
	// Output:
	// default: 4 attempts
	// NoRetry: 1 attempt
	// idempotent POST: 2 attempts
	// server saw 7 requests
}

// A server that answers 409 with "try again" while a lock is held: the
// classifier makes that retryable, reading the body, which the caller
// still gets whole.
func ExampleWithClassifier() {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, "lock held, try again")
			return
		}
		io.WriteString(w, "order 42: updated")
	}))
	defer srv.Close()

	client := resilient.New(
		resilient.WithRetry(resilient.Retry{MinWait: time.Millisecond}),
		resilient.WithClassifier(func(_ *http.Request, resp *http.Response, err error) (resilient.Outcome, error) {
			if err == nil && resp.StatusCode == http.StatusConflict {
				b, _ := io.ReadAll(resp.Body) // bounded, and given back
				if bytes.Contains(b, []byte("try again")) {
					return resilient.Retryable, nil
				}
			}
			return resilient.Classify(resp, err), nil
		}),
	)
	defer resilient.Close(client)

	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/orders/42", strings.NewReader(`{"state":"paid"}`))
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s after %d attempts\n", body, hits.Load())
	// Output: order 42: updated after 3 attempts
}

// OnRetry sees every retry: which attempt comes next, after how long, and
// why the one before failed.
func ExampleWithOnRetry() {
	srv, _ := flaky(2)
	defer srv.Close()

	events := make(chan resilient.RetryEvent, 10)
	client := resilient.New(
		resilient.WithRetry(resilient.Retry{MinWait: time.Millisecond, MaxWait: 10 * time.Millisecond}),
		resilient.WithOnRetry(func(ev resilient.RetryEvent) { events <- ev }),
	)
	defer resilient.Close(client)

	resp, err := client.Get(srv.URL + "/orders/42")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	resp.Body.Close()
	for range 2 {
		// Callbacks run on the client's own goroutine. The wait is
		// jittered below a ceiling that starts at MinWait and doubles.
		ev := <-events
		ceiling := time.Millisecond << (ev.Attempt - 2)
		fmt.Printf("attempt %d after a wait under %s (%t): %d (%s)\n",
			ev.Attempt, ceiling, ev.Wait <= ceiling, ev.StatusCode, ev.Reason)
	}
	// Output:
	// attempt 2 after a wait under 1ms (true): 503 (503 Service Unavailable)
	// attempt 3 after a wait under 2ms (true): 503 (503 Service Unavailable)
}

// OnBreakerChange hears each state change of a host's breaker, with the
// counts that led to it.
func ExampleWithOnBreakerChange() {
	srv, _ := failing(http.StatusBadGateway, "")
	defer srv.Close()

	changes := make(chan resilient.BreakerChange, 10)
	client := resilient.New(
		resilient.WithRetry(resilient.Retry{Max: -1}),
		resilient.WithBreaker(resilient.Breaker{ConsecutiveFailures: 5, Cooldown: time.Minute, ProbeInterval: time.Minute}),
		resilient.WithOnBreakerChange(func(ch resilient.BreakerChange) { changes <- ch }),
	)
	defer resilient.Close(client)

	for range 6 {
		client.Get(srv.URL)
	}
	ch := <-changes
	fmt.Printf("%s -> %s after %d failures in %d requests\n", ch.From, ch.To, ch.Counts.TotalFailures, ch.Counts.Requests)
	_, err := client.Get(srv.URL)
	var co *resilient.CircuitOpenError
	if errors.As(err, &co) {
		fmt.Println("now:", co.State, co.State == resilient.BreakerOpen)
	}
	// Output:
	// closed -> open after 5 failures in 5 requests
	// now: open true
}

// Hosts reads each host's breaker and admission, for a health endpoint.
func ExampleHosts() {
	down, _ := failing(http.StatusServiceUnavailable, "")
	defer down.Close()
	up, _ := failing(http.StatusOK, "ok")
	defer up.Close()

	client := resilient.New(
		resilient.WithRetry(resilient.Retry{Max: -1}),
		resilient.WithBreaker(resilient.Breaker{ConsecutiveFailures: 5, Cooldown: time.Minute, ProbeInterval: time.Minute}),
	)
	defer resilient.Close(client)
	for range 5 {
		client.Get(down.URL)
	}
	resp, _ := client.Get(up.URL)
	resp.Body.Close()

	for _, h := range resilient.Hosts(client) {
		name := "up"
		if h.Host == "http://"+down.Listener.Addr().String() {
			name = "down"
		}
		fmt.Printf("%s: %s, admitting %.0f%%, reason %q, refusing until a probe: %v\n",
			name, h.State, 100*h.Admitted, h.Reason, !h.Until.IsZero())
	}
	// Unordered output:
	// down: open, admitting 0%, reason "failing", refusing until a probe: true
	// up: closed, admitting 100%, reason "", refusing until a probe: false
}

// RetryAfter says when to come back: what the server asked for, or when
// an open breaker lets the next probe through.
func ExampleRetryAfter() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	client := resilient.New()
	defer resilient.Close(client)

	_, err := client.Get(srv.URL)
	fmt.Println(resilient.StatusCode(err), "come back in", resilient.RetryAfter(err))
	// Output: 429 come back in 2m0s
}

// RequestID gives the ID the server put on its error response, to look up
// in its logs.
func ExampleRequestID() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "7f3a9c")
		w.WriteHeader(http.StatusNotImplemented)
	}))
	defer srv.Close()
	client := resilient.New()
	defer resilient.Close(client)

	_, err := client.Get(srv.URL)
	fmt.Println(resilient.StatusCode(err), "request", resilient.RequestID(err))
	// Output: 501 request 7f3a9c
}

// Validate checks options read from configuration before New, which
// panics on an invalid one: the mistake is reported when the program
// starts, not by its first request.
func ExampleValidate() {
	maxRetries := -5 // from a config file, say
	opts := []resilient.Option{resilient.WithRetry(resilient.Retry{Max: maxRetries})}
	if err := resilient.Validate(opts...); err != nil {
		fmt.Println(errors.Is(err, resilient.ErrInvalidOption))
		fmt.Println(err)
		return
	}
	client := resilient.New(opts...)
	defer resilient.Close(client)
	// Output:
	// true
	// resilient: invalid option: Retry.Max is -5; use -1 to disable retries or 0 for the default
}

// A POST without an Idempotency-Key is sent once: its error says so, and
// ErrNotIdempotent lets a program tell that from retries that ran out.
func ExampleErrNotIdempotent() {
	srv, hits := failing(http.StatusServiceUnavailable, "busy")
	defer srv.Close()
	client := resilient.New()
	defer resilient.Close(client)

	_, err := client.Post(srv.URL+"/orders", "application/json", strings.NewReader(`{"id":42}`))
	var se *resilient.StatusError
	if errors.As(err, &se) && errors.Is(err, resilient.ErrNotIdempotent) {
		fmt.Println(se.StatusCode, "after", se.Attempts, "attempt; server saw", hits.Load())
		fmt.Println(strings.Contains(se.Error(), "not retried because a POST without an Idempotency-Key header is not idempotent"))
	}
	// Output:
	// 503 after 1 attempt; server saw 1
	// true
}
