package redisstore_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/redisstore"
)

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// okBase answers every request with 200 in memory, so that the benchmark
// measures the transport's own path and nothing of the network.
var okBase = roundTripperFunc(func(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: r}, nil
})

// BenchmarkTransport_RoundTrip compares the request path without a shared
// store, with one connected to a real Redis, and with one that also holds
// remote opens for 100 other hosts. The store is never on the request path,
// so the three should cost the same.
func BenchmarkTransport_RoundTrip(b *testing.B) {
	b.Run("local", func(b *testing.B) {
		benchRoundTrip(b)
	})
	b.Run("shared", func(b *testing.B) {
		r := startRedis(b)
		s := redisstore.New(newRedisClient(b, r.Addr), fastOptions("bench", slogDiscard()))
		b.Cleanup(func() { _ = s.Close() })
		benchRoundTrip(b, resilient.WithSharedBreakers(s))
	})
	b.Run("shared-100-remote-opens", func(b *testing.B) {
		r := startRedis(b)
		other := redisstore.New(newRedisClient(b, r.Addr), fastOptions("other", slogDiscard()))
		b.Cleanup(func() { _ = other.Close() })
		for i := range 100 {
			other.Publish(resilient.BreakerEvent{Host: fmt.Sprintf("http://down-%d.internal:80", i), Open: true, Until: time.Now().Add(time.Minute)})
		}
		waitFor(b, 5*time.Second, "the opens to reach redis", func() bool { return other.Stats().Sent == 100 })
		s := redisstore.New(newRedisClient(b, r.Addr), fastOptions("bench", slogDiscard()))
		b.Cleanup(func() { _ = s.Close() })
		benchRoundTrip(b, resilient.WithSharedBreakers(s))
	})
}

func benchRoundTrip(b *testing.B, opts ...resilient.Option) {
	rt := resilient.NewTransport(okBase, opts...)
	defer rt.Close()
	req, err := http.NewRequest(http.MethodGet, "http://api.internal/orders/42", nil)
	if err != nil {
		b.Fatal(err)
	}
	for range 10 { // create the host's breaker, warm the pools
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}
