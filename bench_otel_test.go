//go:build unix

package resilient_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/resilient-http/resilient"
)

// The cost of the instrumentation, measured on an in-memory transport so
// that the network does not drown it. Run them in one go and compare:
//
//	go test -run '^$' -bench BenchmarkOTel -benchmem -count 5 . | tee /tmp/otel.txt
//	benchstat -col /case /tmp/otel.txt
//
// They must run without the otel globals set: -run '^$' skips the tests,
// one of which sets them. On a machine shared with other work, ns/op
// swings with the load; cpu-ns/op (this process's CPU time per request)
// does not: compare that. Unix only, for getrusage.

// otelBenchTransport answers every request with 200 OK and a short body, in
// memory.
type otelBenchTransport struct{}

func (otelBenchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Status:        "200 OK",
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"text/plain"}},
		Body:          io.NopCloser(strings.NewReader("ok")),
		ContentLength: 2,
		Request:       r,
	}, nil
}

func otelBenchClient(b *testing.B, c *http.Client) {
	b.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://api.example.test/orders/42?page=2", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	n := 0
	for b.Loop() {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		n++
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(n), "cpu-ns/op")
}

// cpuTime returns the CPU time the process has used, user and system, in
// nanoseconds. Divided by the iterations, it is a cost that other processes
// competing for the cores do not inflate, unlike ns/op: on a shared
// machine, compare cpu-ns/op. It includes the garbage collector's work on
// other threads, which is part of the cost.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// otelBenchSDK returns a tracer provider of the SDK that samples and records
// every span and exports none: the cost of making spans, without the cost of
// shipping them.
func otelBenchSDK(b *testing.B) *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

func BenchmarkOTel(b *testing.B) {
	b.Run("case=bare", func(b *testing.B) {
		otelBenchClient(b, &http.Client{Transport: otelBenchTransport{}})
	})
	b.Run("case=otelhttp-noop", func(b *testing.B) {
		otelBenchClient(b, &http.Client{Transport: otelhttp.NewTransport(otelBenchTransport{})})
	})
	b.Run("case=resilient-noop", func(b *testing.B) {
		rt := resilient.NewTransport(otelBenchTransport{})
		otelBenchClient(b, &http.Client{Transport: rt})
	})
	b.Run("case=otelhttp-sdk", func(b *testing.B) {
		tp := otelBenchSDK(b)
		// With Trace Context injected, as resilient does when no global
		// propagator is set, so that both do the same work.
		rt := otelhttp.NewTransport(otelBenchTransport{}, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagation.TraceContext{}))
		otelBenchClient(b, &http.Client{Transport: rt})
	})
	b.Run("case=resilient-sdk", func(b *testing.B) {
		tp := otelBenchSDK(b)
		rt := resilient.NewTransport(otelBenchTransport{}, resilient.WithTracerProvider(tp))
		otelBenchClient(b, &http.Client{Transport: rt})
	})
}

// BenchmarkOTelParts splits resilient's cost: the core without any
// instrumentation and without the per-attempt timer (AttemptTimeout -1),
// then with the SDK.
func BenchmarkOTelParts(b *testing.B) {
	noTimer := resilient.WithRetry(resilient.Retry{AttemptTimeout: -1})
	b.Run("case=resilient-noop-notimer", func(b *testing.B) {
		otelBenchClient(b, &http.Client{Transport: resilient.NewTransport(otelBenchTransport{}, noTimer)})
	})
	b.Run("case=resilient-sdk-notimer", func(b *testing.B) {
		tp := otelBenchSDK(b)
		otelBenchClient(b, &http.Client{Transport: resilient.NewTransport(otelBenchTransport{}, noTimer, resilient.WithTracerProvider(tp))})
	})
}
