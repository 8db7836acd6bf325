// Package sim simulates a fleet of instances calling a dependency that has
// just failed, with and without breaker state shared through Redis, and
// counts the failing calls the dependency receives before the whole fleet
// stops sending. redisstore's TestSimulation_fleet runs it and prints the
// figures that docs/testing.md quotes ("What sharing saves: a fleet,
// simulated").
//
// Everything is real except the fleet's processes: each instance is a
// resilient client with its own go-redis client and its own
// redisstore.Store, in one process; the dependency is an httptest server that
// answers 503; Redis is a real server.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/redisstore"
)

// Config describes one run.
type Config struct {
	// RedisAddr is the Redis the instances share breaker state through;
	// "" runs the fleet without sharing.
	RedisAddr string
	// Rates are the instances' request rates, one per instance, in
	// requests per second. Requests arrive as a Poisson process.
	Rates []float64
	// Breaker is every instance's breaker policy. Its Cooldown should
	// outlast the run, so that no instance probes during it.
	Breaker resilient.Breaker
	// Seed makes the arrivals reproducible.
	Seed uint64
	// Timeout ends a run in which some instance has not stopped.
	Timeout time.Duration
}

// Result is what the dependency and the instances saw.
type Result struct {
	// FailingCalls is the number of calls the dependency received before
	// every instance stopped sending: they all failed.
	FailingCalls int
	// Stopped is how long after the first call the last instance stopped.
	Stopped time.Duration
	// LocalTrips counts the instances whose last call was refused by
	// their own breaker; RemoteStops those refused because of another
	// instance's, through Redis. An instance that tripped its own breaker
	// and then heard of another's counts as remote: the remote refusal is
	// checked first.
	LocalTrips, RemoteStops int
}

// Run simulates one fleet.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	n := len(cfg.Rates)
	if n == 0 {
		return res, errors.New("sim: no instances")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	var hits atomic.Int64
	dep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "dependency down", http.StatusServiceUnavailable)
	}))
	defer dep.Close()

	// Build the fleet; tear it down in reverse order whatever happens.
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	clients := make([]*http.Client, n)
	stores := make([]*redisstore.Store, 0, n)
	for i := range n {
		opts := []resilient.Option{
			resilient.WithBreaker(cfg.Breaker),
			resilient.WithRetry(resilient.Retry{Max: -1}),
		}
		if cfg.RedisAddr != "" {
			rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, DialTimeout: time.Second, ReadTimeout: time.Second})
			closers = append(closers, func() { _ = rdb.Close() })
			s := redisstore.New(rdb, redisstore.Options{
				Service:    "sim",
				InstanceID: "instance-" + strconv.Itoa(i),
				Logger:     slog.New(slog.DiscardHandler),
			})
			closers = append(closers, func() { _ = s.Close() })
			stores = append(stores, s)
			opts = append(opts, resilient.WithSharedBreakers(s))
		}
		c := resilient.New(opts...)
		closers = append(closers, func() { _ = resilient.Close(c) })
		clients[i] = c
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range stores {
		for !s.Connected() {
			if time.Now().After(deadline) {
				return res, fmt.Errorf("sim: store %s did not connect to %s", s.InstanceID(), cfg.RedisAddr)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	start := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var runErr error
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
			remote, err := sendUntilRefused(ctx, c, dep.URL, cfg.Rates[i], rng)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				if runErr == nil {
					runErr = fmt.Errorf("sim: instance %d: %w", i, err)
				}
			case remote:
				res.RemoteStops++
			default:
				res.LocalTrips++
			}
			res.Stopped = max(res.Stopped, time.Since(start))
		}()
	}
	wg.Wait()
	res.FailingCalls = int(hits.Load())
	return res, runErr
}

// sendUntilRefused sends GETs at rate per second, Poisson arrivals, until
// the client's breaker refuses one; remote tells whose breaker it was.
func sendUntilRefused(ctx context.Context, c *http.Client, u string, rate float64, rng *rand.Rand) (remote bool, err error) {
	mean := float64(time.Second) / rate
	for {
		wait := time.Duration(-math.Log(1-rng.Float64()) * mean)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, errors.New("still sending when the run timed out")
		case <-t.C:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			return false, fmt.Errorf("dependency answered %s", resp.Status)
		}
		var coe *resilient.CircuitOpenError
		if errors.As(err, &coe) {
			return coe.Remote, nil
		}
		var se *resilient.StatusError
		if !errors.As(err, &se) {
			return false, err
		}
	}
}

// UniformRates returns n equal rates.
func UniformRates(n int, rate float64) []float64 {
	r := make([]float64, n)
	for i := range r {
		r[i] = rate
	}
	return r
}

// SpreadRates returns n rates spaced geometrically from lo to hi, as in a
// fleet where some instances call the dependency far more than others.
func SpreadRates(n int, lo, hi float64) []float64 {
	r := make([]float64, n)
	for i := range r {
		f := 0.0
		if n > 1 {
			f = float64(i) / float64(n-1)
		}
		r[i] = lo * math.Pow(hi/lo, f)
	}
	return r
}

// Median returns the median of xs.
func Median(xs []int) int {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
