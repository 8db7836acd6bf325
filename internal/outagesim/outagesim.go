// Package outagesim drives concurrent callers through a resilient client
// against a local server that fails completely for a while and then heals,
// and reports what the outage cost: server requests per call, how fast
// refused calls return, and how long recovery takes.
package outagesim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient"
)

// Config describes one run. Zero fields take the defaults in brackets.
type Config struct {
	Callers int           // concurrent callers [32]
	Healthy time.Duration // healthy phase before the outage [1s]
	Outage  time.Duration // every request answered 500 [10s]
	Healed  time.Duration // healthy again [DefaultBreaker.Cooldown + 2s]
	Pause   time.Duration // each caller's pause between calls [5ms]
	Options []resilient.Option
}

// Report is what a run measured.
type Report struct {
	Calls          int64         // calls made during the outage
	ServerRequests int64         // requests that reached the server during the outage
	Refused        int64         // calls refused by the breaker during the outage
	Amplification  float64       // ServerRequests / Calls
	RefusedP50     time.Duration // latency of refused calls
	RefusedP99     time.Duration
	FirstSuccess   time.Duration // from healing to the first successful call
	FullTraffic    time.Duration // from healing to the last refused or failed call
	Untyped        int64         // errors that were not a resilient type (should be 0)
}

// String renders the report as a few readable lines.
func (r Report) String() string {
	return fmt.Sprintf("outage: %d calls, %d reached the server (%.3f per call), %d refused by the breaker\n"+
		"refused-call latency: p50 %s, p99 %s\n"+
		"after healing: first success in %s, full traffic in %s; untyped errors: %d",
		r.Calls, r.ServerRequests, r.Amplification, r.Refused,
		r.RefusedP50, r.RefusedP99, r.FirstSuccess.Round(time.Millisecond), r.FullTraffic.Round(time.Millisecond), r.Untyped)
}

// Run performs one simulated outage.
func Run(ctx context.Context, cfg Config) Report {
	if cfg.Callers <= 0 {
		cfg.Callers = 32
	}
	if cfg.Healthy <= 0 {
		cfg.Healthy = time.Second
	}
	if cfg.Outage <= 0 {
		cfg.Outage = 10 * time.Second
	}
	if cfg.Healed <= 0 {
		cfg.Healed = resilient.DefaultBreaker.Cooldown + 2*time.Second
	}
	if cfg.Pause <= 0 {
		cfg.Pause = 5 * time.Millisecond
	}

	const (
		healthy = iota
		down
		healed
	)
	var phase atomic.Int32
	var serverDown atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if phase.Load() == down {
			serverDown.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	client := resilient.New(cfg.Options...)
	defer resilient.Close(client)

	var (
		mu          sync.Mutex
		refusedLat  []time.Duration
		rep         Report
		healedAt    time.Time
		firstOK     time.Time
		lastFailure time.Time
	)
	var calls, refused, untyped atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < cfg.Callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				p := phase.Load()
				start := time.Now()
				resp, err := client.Get(srv.URL)
				lat := time.Since(start)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				switch p {
				case down:
					calls.Add(1)
					if errors.Is(err, resilient.ErrCircuitOpen) {
						refused.Add(1)
						mu.Lock()
						refusedLat = append(refusedLat, lat)
						mu.Unlock()
					} else if resilient.StatusCode(err) == 0 && err != nil {
						untyped.Add(1)
					}
				case healed:
					mu.Lock()
					if err == nil && firstOK.IsZero() {
						firstOK = time.Now()
					}
					if err != nil {
						lastFailure = time.Now()
					}
					mu.Unlock()
				}
				time.Sleep(cfg.Pause)
			}
		}()
	}
	time.Sleep(cfg.Healthy)
	phase.Store(down)
	time.Sleep(cfg.Outage)
	mu.Lock()
	healedAt = time.Now()
	mu.Unlock()
	phase.Store(healed)
	time.Sleep(cfg.Healed)
	close(stop)
	wg.Wait()

	rep.Calls, rep.Refused, rep.Untyped = calls.Load(), refused.Load(), untyped.Load()
	rep.ServerRequests = serverDown.Load()
	if rep.Calls > 0 {
		rep.Amplification = float64(rep.ServerRequests) / float64(rep.Calls)
	}
	if len(refusedLat) > 0 {
		slices.Sort(refusedLat)
		rep.RefusedP50 = refusedLat[len(refusedLat)/2]
		rep.RefusedP99 = refusedLat[len(refusedLat)*99/100]
	}
	if !firstOK.IsZero() {
		rep.FirstSuccess = firstOK.Sub(healedAt)
	}
	if !lastFailure.IsZero() {
		rep.FullTraffic = lastFailure.Sub(healedAt)
	}
	return rep
}
