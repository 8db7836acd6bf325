package resilient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

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

// WithHedging sends a second attempt (a hedge) when the first has not
// answered within the delay, and takes whichever answers first. Here the
// first request hangs; the hedge answers it.
func ExampleWithHedging() {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			<-r.Context().Done() // the slow one: canceled once the hedge wins
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()

	// A fixed delay; leave Delay out for the host's 95th percentile.
	client := resilient.New(resilient.WithHedging(resilient.Hedging{Delay: 20 * time.Millisecond}))
	defer resilient.Close(client)

	resp, err := client.Get(srv.URL + "/orders/42")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body), "after", hits.Load(), "requests")
	// Output: 200 ok after 2 requests
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
		// Open after 5 failures in a row, and hold a minute before
		// probing.
		resilient.WithBreaker(resilient.Breaker{ConsecutiveFailures: 5, ProbeInterval: time.Minute, Cooldown: time.Minute}),
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

// The README's quick start: a drop-in client, and what to do with the
// errors it returns. It calls a real host, so it is compiled, not run.
func Example_quickStart() {
	client := resilient.New() // a plain *http.Client; http.DefaultClient = resilient.New() works too

	resp, err := client.Get("https://api.example.com/orders/42")
	var se *resilient.StatusError
	switch {
	case errors.As(err, &se): // a final 5xx, or a 429 after retries
		log.Printf("orders: %d after %d attempts, trace %s, request %s: %s",
			se.StatusCode, se.Attempts, se.TraceID, se.RequestID, se.Body)
		return
	case errors.Is(err, resilient.ErrCircuitOpen): // the host is failing: refused without a request
		log.Print("orders unavailable, serving from cache")
		return
	case err != nil: // no response: refused, reset, timed out (*resilient.TransportError)
		log.Print(err)
		return
	}
	defer resp.Body.Close()
	// 2xx, 3xx and 4xx responses come back as from any *http.Client.
}

// Tuning: each policy is a plain struct whose zero fields keep their
// defaults. Compiled, not run.
func Example_options() {
	client := resilient.New(
		resilient.WithRetry(resilient.Retry{Max: 4, MinWait: 100 * time.Millisecond, MaxWait: 5 * time.Second}),
		resilient.WithTimeout(30*time.Second), // the whole call: every attempt and every wait
		resilient.WithLogger(slog.Default()),  // retries, breaker transitions, final failures
	)
	http.DefaultClient = client // every library that uses the default client now retries
}

// Tracing: spans go to an OpenTelemetry Collector (or Jaeger, or Tempo) over
// OTLP/HTTP, and every error the client returns names its trace. It needs a
// collector, so it is compiled, not run.
func Example_tracing() {
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL("http://localhost:4318/v1/traces"))
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("checkout"))),
	)
	defer tp.Shutdown(ctx) // flushes the last spans on exit
	client := resilient.New(resilient.WithTracerProvider(tp))

	_, err = client.Get("https://api.example.com/orders/42")
	if err != nil {
		log.Printf("orders failed, trace %s: %v", resilient.TraceID(err), err)
	}
}
