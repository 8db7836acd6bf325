package resilient

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func benchClients(b *testing.B, run func(b *testing.B, c *http.Client)) {
	b.Run("client=bare", func(b *testing.B) { run(b, &http.Client{Transport: &memTransport{}}) })
	b.Run("client=resilient", func(b *testing.B) {
		t := NewTransport(&memTransport{})
		defer t.Close()
		run(b, &http.Client{Transport: t})
	})
	b.Run("client=resilient-header-timeout-by-base", func(b *testing.B) {
		// What New gets: the attempt timeout enforced by its own
		// *http.Transport's ResponseHeaderTimeout, at no per-request cost.
		t := NewTransport(&memTransport{}, WithRetry(Retry{AttemptTimeout: -1}))
		defer t.Close()
		run(b, &http.Client{Transport: t})
	})
	b.Run("client=resilient-no-breaker", func(b *testing.B) {
		t := NewTransport(&memTransport{}, WithBreaker(Breaker{Disabled: true}), WithRetry(Retry{Budget: RetryBudget{Disabled: true}}))
		defer t.Close()
		run(b, &http.Client{Transport: t})
	})
}

// BenchmarkGET is a successful GET over an in-memory transport.
func BenchmarkGET(b *testing.B) {
	benchClients(b, func(b *testing.B, c *http.Client) {
		req, _ := http.NewRequest(http.MethodGet, "http://api.test/orders/42", nil)
		benchDo(b, c, req)
	})
}

// benchDo sends req with c in the benchmark's loop, reading and closing
// each response's body, and reports allocations.
func benchDo(b *testing.B, c *http.Client, req *http.Request) {
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkPUT is a successful 1 KiB PUT over an in-memory transport.
func BenchmarkPUT(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 1024)
	benchClients(b, func(b *testing.B, c *http.Client) {
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPut, "http://api.test/orders/42", bytes.NewReader(payload))
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkGET500Loopback is a GET answered 500 over loopback without
// retries; it reports the connections opened per request.
func BenchmarkGET500Loopback(b *testing.B) {
	var dials atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":"boom"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	b.Run("client=bare", func(b *testing.B) {
		c := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		defer c.CloseIdleConnections()
		dials.Store(0)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Get(srv.URL)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		b.ReportMetric(float64(dials.Load())/float64(b.N), "dials/op")
	})
	b.Run("client=resilient", func(b *testing.B) {
		c := New(WithRetry(Retry{Max: -1}), WithBreaker(Breaker{Disabled: true}))
		defer Close(c)
		dials.Store(0)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Get(srv.URL); StatusCode(err) != 500 {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(dials.Load())/float64(b.N), "dials/op")
	})
}

// BenchmarkRefused is a call to a host whose breaker is open: it must fail
// in microseconds, without touching the network.
func BenchmarkRefused(b *testing.B) {
	base := &memTransport{code: 503}
	t := NewTransport(base, WithRetry(Retry{Max: -1}), WithBreaker(Breaker{ConsecutiveFailures: 1, ProbeInterval: time.Hour, Cooldown: time.Hour}))
	defer t.Close()
	c := &http.Client{Transport: t}
	c.Get("http://down.test/")
	if _, err := c.Get("http://down.test/"); !errors.Is(err, ErrCircuitOpen) {
		b.Fatalf("breaker not open: %v", err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Get("http://down.test/")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Get("http://down.test/")
			}
		})
	})
	if n := base.calls.Load(); n != 1 {
		b.Errorf("%d requests reached the transport, want 1", n)
	}
}

// BenchmarkGETParallel is BenchmarkGET from 8 goroutines per core at once,
// all to one host: what gobreaker's mutex, which every attempt takes twice
// (Allow, then done), costs under contention.
func BenchmarkGETParallel(b *testing.B) {
	benchClients(b, func(b *testing.B, c *http.Client) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			req, _ := http.NewRequest(http.MethodGet, "http://api.test/orders/42", nil)
			for pb.Next() {
				resp, err := c.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	})
}

// BenchmarkGETLoopback is a successful GET to an httptest server over
// loopback: what New's own transport costs over a plain client's on the
// network path, its dialer's connections and, over TLS, HTTP/2 through
// x/net included. proto=h1 is plain HTTP/1.1; proto=h2 is HTTP/2 over
// TLS.
func BenchmarkGETLoopback(b *testing.B) {
	for _, proto := range []string{"h1", "h2"} {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "ok")
		}))
		var dials atomic.Int64
		srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				dials.Add(1)
			}
		}
		if proto == "h2" {
			srv.EnableHTTP2 = true
			srv.StartTLS()
		} else {
			srv.Start()
		}
		tr := func() *http.Transport {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.MaxIdleConnsPerHost = 100
			if proto == "h2" {
				tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
			}
			return tr
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		b.Run("proto="+proto+"/client=bare", func(b *testing.B) {
			t := tr()
			defer t.CloseIdleConnections()
			dials.Store(0)
			benchDo(b, &http.Client{Transport: t}, req)
			b.ReportMetric(float64(dials.Load())/float64(b.N), "dials/op")
		})
		b.Run("proto="+proto+"/client=resilient", func(b *testing.B) {
			c := newLoopbackClient(proto, tr())
			defer Close(c)
			dials.Store(0)
			benchDo(b, c, req)
			b.ReportMetric(float64(dials.Load())/float64(b.N), "dials/op")
		})
		srv.Close()
	}
}

// newLoopbackClient is New's client; over HTTP/2, on a clone of tr,
// which trusts the server's certificate.
func newLoopbackClient(proto string, tr *http.Transport) *http.Client {
	if proto == "h1" {
		return New()
	}
	return New(WithTransport(tr))
}
