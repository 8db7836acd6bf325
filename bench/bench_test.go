package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/resilient-http/resilient"
)

// benchCase is one request shape of BenchmarkPeers.
type benchCase struct {
	name     string
	method   string
	path     string
	body     []byte
	status   int
	profile  Profile
	parallel bool
}

var payload1KiB = bytes.Repeat([]byte("x"), 1024)

var benchCases = []benchCase{
	{name: "GET200", method: http.MethodGet, path: PathOK, status: 200, profile: Defaults},
	{name: "PUT1KiB", method: http.MethodPut, path: PathPut, body: payload1KiB, status: 200, profile: Defaults},
	// Retries off and breakers kept closed: the cost of one failure.
	{name: "GET500", method: http.MethodGet, path: Path500, status: 500, profile: NoRetry},
	{name: "GETParallel8", method: http.MethodGet, path: PathOK, status: 200, profile: Defaults, parallel: true},
}

// BenchmarkPeers measures every peer on every case, over the in-memory
// transport and over loopback, peers interleaved within each case so that
// drift on a noisy machine touches them all alike. Besides ns/op, B/op and
// allocs/op it reports cpu-ns/op (user+system CPU of the whole process per
// request, server included on loopback) and, on loopback, dials/op (new
// connections the server accepted per request).
//
// Name: BenchmarkPeers/case=C/transport=T/peer=P, for benchstat -col /peer.
func BenchmarkPeers(b *testing.B) {
	srv := NewServer(nil)
	defer srv.Close()
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())

	for _, bc := range benchCases {
		b.Run("case="+bc.name, func(b *testing.B) {
			for _, transport := range []string{"mem", "loopback"} {
				b.Run("transport="+transport, func(b *testing.B) {
					for _, p := range Peers() {
						b.Run("peer="+p.Name, func(b *testing.B) {
							cfg := Config{Profile: bc.profile, TracerProvider: tp}
							base := MemURL
							if transport == "mem" {
								cfg.Base = MemTransport{}
							} else {
								base = srv.URL
							}
							c := p.New(cfg)
							defer c.CloseIdleConnections()
							call := &Call{Method: bc.method, URL: base + bc.path, Body: bc.body}
							runBench(b, c, call, bc, srv, transport == "loopback")
						})
					}
				})
			}
		})
	}
}

// parallelism is the number of goroutines of the parallel case.
const parallelism = 8

func runBench(b *testing.B, c Client, call *Call, bc benchCase, srv *Server, countDials bool) {
	ctx := context.Background()
	var failed atomic.Pointer[string]
	check := func(o Outcome) bool {
		// go-retryablehttp returns no response for a final 500, only
		// an error that says it gave up.
		if o.Status == bc.status || bc.status >= 500 && o.Status == 0 && o.Err != nil {
			return true
		}
		msg := fmt.Sprintf("got status %d, err %v; want %d", o.Status, o.Err, bc.status)
		failed.CompareAndSwap(nil, &msg)
		return false
	}
	// Warm up: open the connections the loop will use and let every
	// peer build its per-host state.
	var wg sync.WaitGroup
	for range parallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			check(c.Do(ctx, call))
		}()
	}
	wg.Wait()
	check(c.Do(ctx, call))
	if msg := failed.Load(); msg != nil {
		b.Fatal(*msg)
	}

	var dials0 int64
	if countDials {
		dials0 = srv.Accepted()
	}
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	if bc.parallel {
		b.SetParallelism((parallelism + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !check(c.Do(ctx, call)) {
					return
				}
			}
		})
	} else {
		for range b.N {
			if !check(c.Do(ctx, call)) {
				break
			}
		}
	}
	b.StopTimer()
	if msg := failed.Load(); msg != nil {
		b.Fatal(*msg)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if countDials {
		b.ReportMetric(float64(srv.Accepted()-dials0)/float64(b.N), "dials/op")
	}
}

// cpuTime returns the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// costVariants takes resilient's defaults apart, one feature at a time, on
// the in-memory transport: the difference between two rows is what that
// feature costs per successful GET.
var costVariants = []struct {
	name string
	opts []resilient.Option
}{
	{"defaults", nil},
	{"no-timeout", []resilient.Option{resilient.WithRetry(resilient.Retry{AttemptTimeout: -1})}},
	{"no-timeout-no-breaker", []resilient.Option{resilient.WithRetry(resilient.Retry{AttemptTimeout: -1}),
		resilient.WithBreaker(resilient.Breaker{Disabled: true})}},
	{"no-timeout-no-breaker-no-retries", []resilient.Option{resilient.WithRetry(resilient.Retry{Max: -1, AttemptTimeout: -1}),
		resilient.WithBreaker(resilient.Breaker{Disabled: true})}},
}

// BenchmarkResilientCost measures where resilient's own cost per
// successful GET goes, over the in-memory transport, against bare
// net/http: the default per-attempt timeout (a context and a timer per
// attempt when the base is not an *http.Transport), the breaker, and the
// retry machinery (the budget and the call state). Name:
// BenchmarkResilientCost/variant=V, for benchstat -col /variant.
func BenchmarkResilientCost(b *testing.B) {
	bc := benchCases[0]
	call := &Call{Method: bc.method, URL: MemURL + bc.path}
	b.Run("variant=bare", func(b *testing.B) {
		runBench(b, newBare(Config{Base: MemTransport{}}), call, bc, nil, false)
	})
	for _, v := range costVariants {
		b.Run("variant="+v.name, func(b *testing.B) {
			c := stdClient{&http.Client{Transport: resilient.NewTransport(MemTransport{}, v.opts...)}}
			runBench(b, c, call, bc, nil, false)
		})
	}
}
