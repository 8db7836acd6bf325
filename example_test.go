package resilient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient"
)

// flaky starts a server that fails its first n requests with 503.
func flaky(n int64) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= n {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "order 42: shipped")
	}))
	return srv, &hits
}

// New returns a drop-in *http.Client: this one rides out two 503s.
func ExampleNew() {
	srv, hits := flaky(2)
	defer srv.Close()

	client := resilient.New()
	defer resilient.Close(client)

	resp, err := client.Get(srv.URL + "/orders/42")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s after %d attempts\n", body, hits.Load())
	// Output: order 42: shipped after 3 attempts
}

// A final 5xx becomes a *StatusError that says what the server said, how
// often the client tried, and which request ID to look up.
func ExampleStatusError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "7f3a9c")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"title":"Database unavailable","detail":"pool exhausted","status":500}`)
	}))
	defer srv.Close()

	client := resilient.New(resilient.WithRetry(resilient.Retry{Max: 2, MinWait: time.Millisecond}))
	defer resilient.Close(client)

	_, err := client.Get(srv.URL + "/orders/42")
	var se *resilient.StatusError
	if errors.As(err, &se) {
		fmt.Println("status:", se.StatusCode)
		fmt.Println("attempts:", se.Attempts)
		fmt.Println("request:", se.RequestID)
		fmt.Println("problem:", se.Problem.Title, "-", se.Problem.Detail)
		fmt.Println("retryable:", resilient.IsRetryable(err))
	}
	// Output:
	// status: 500
	// attempts: 3
	// request: 7f3a9c
	// problem: Database unavailable - pool exhausted
	// retryable: true
}

// WithRetry tunes the policy; zero fields keep their defaults. POST is only
// retried when the request carries an Idempotency-Key.
func ExampleWithRetry() {
	srv, hits := flaky(1)
	defer srv.Close()

	client := resilient.New(resilient.WithRetry(resilient.Retry{
		Max:            4,
		MinWait:        50 * time.Millisecond,
		MaxWait:        2 * time.Second,
		AttemptTimeout: 3 * time.Second,
	}))
	defer resilient.Close(client)

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/payments", nil)
	req.Header.Set("Idempotency-Key", "pay-8812")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, "after", hits.Load(), "attempts")
	// Output: 200 after 2 attempts
}

// An open breaker refuses calls at once, before touching the network.
func ExampleWithBreaker() {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()

	client := resilient.New(
		resilient.WithRetry(resilient.Retry{Max: -1}),
		resilient.WithBreaker(resilient.Breaker{FailureRatio: 0.5, MinRequests: 5, Cooldown: time.Minute}),
	)
	defer resilient.Close(client)

	for i := 0; i < 8; i++ {
		_, err := client.Get(srv.URL)
		if errors.Is(err, resilient.ErrCircuitOpen) {
			fmt.Println("call", i+1, "refused: circuit open")
			continue
		}
		fmt.Println("call", i+1, "status", resilient.StatusCode(err))
	}
	fmt.Println("server saw", hits.Load(), "requests")
	// Output:
	// call 1 status 502
	// call 2 status 502
	// call 3 status 502
	// call 4 status 502
	// call 5 status 502
	// call 6 refused: circuit open
	// call 7 refused: circuit open
	// call 8 refused: circuit open
	// server saw 5 requests
}
