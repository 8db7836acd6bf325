package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/internal/testpeers"
	"github.com/resilient-http/resilient/redisstore"
)

// TestMain fails the package if a goroutine outlives the tests: the
// store's publisher and subscriptions, and go-redis's connections.
func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{}) // go-redis logs every failed reconnect to stderr
	goleak.VerifyTestMain(m)
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// startRedis starts a redis-server for the test and stops it at cleanup.
func startRedis(t testing.TB) *testpeers.Redis {
	t.Helper()
	r, err := testpeers.StartRedis()
	testpeers.Need(t, err)
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

// newRedisClient returns a go-redis client for addr with short timeouts, as
// the package documentation recommends, closed at cleanup.
func newRedisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{
		Addr:         addr,
		DialTimeout:  500 * time.Millisecond,
		ReadTimeout:  500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond,
		MaxRetries:   -1,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// fastOptions reconnect and notice a lost connection quickly, so that the
// tests need not wait for the production defaults.
func fastOptions(id string, logger *slog.Logger) redisstore.Options {
	return redisstore.Options{
		Service:        "test",
		InstanceID:     id,
		Logger:         logger,
		HealthInterval: 200 * time.Millisecond,
		ReconnectMin:   20 * time.Millisecond,
		ReconnectMax:   200 * time.Millisecond,
		Timeout:        time.Second,
	}
}

// logBuffer is a slog handler's output, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo})), b
}

// timedEvent is a breaker event and when it was seen.
type timedEvent struct {
	resilient.BreakerEvent
	at time.Time
}

// recorder wraps a store to record, with their times, the events its
// transport publishes and those it receives from other instances.
type recorder struct {
	*redisstore.Store
	mu        sync.Mutex
	published []timedEvent
	received  []timedEvent
}

func (r *recorder) Publish(ev resilient.BreakerEvent) {
	now := time.Now()
	r.mu.Lock()
	r.published = append(r.published, timedEvent{ev, now})
	r.mu.Unlock()
	r.Store.Publish(ev)
}

func (r *recorder) Subscribe(fn func(resilient.BreakerEvent)) func() {
	return r.Store.Subscribe(func(ev resilient.BreakerEvent) {
		now := time.Now()
		r.mu.Lock()
		r.received = append(r.received, timedEvent{ev, now})
		r.mu.Unlock()
		fn(ev)
	})
}

// lastPublished returns the latest event published for host.
func (r *recorder) lastPublished(host string, open bool) (timedEvent, bool) {
	return last(&r.mu, &r.published, host, open)
}

// lastReceived returns the latest event received for host.
func (r *recorder) lastReceived(host string, open bool) (timedEvent, bool) {
	return last(&r.mu, &r.received, host, open)
}

func last(mu *sync.Mutex, evs *[]timedEvent, host string, open bool) (timedEvent, bool) {
	mu.Lock()
	defer mu.Unlock()
	for i := len(*evs) - 1; i >= 0; i-- {
		if e := (*evs)[i]; e.Host == host && e.Open == open {
			return e, true
		}
	}
	return timedEvent{}, false
}

// instance stands for one process of the fleet: its own Redis client, its
// own store and its own resilient client.
type instance struct {
	name   string
	store  *redisstore.Store
	rec    *recorder
	client *http.Client
	logs   *logBuffer
}

// testBreaker opens after 5 failures in a row and holds for cooldown
// between probes; no ramp-up.
func testBreaker(cooldown time.Duration) resilient.Breaker {
	return resilient.Breaker{ConsecutiveFailures: 5, ProbeInterval: cooldown, Cooldown: cooldown, RampUp: -1}
}

func newInstance(t testing.TB, redisAddr, name string, b resilient.Breaker, extra ...func(*redisstore.Options)) *instance {
	t.Helper()
	logger, logs := newLogger()
	opts := fastOptions(name, logger)
	for _, f := range extra {
		f(&opts)
	}
	store := redisstore.New(newRedisClient(t, redisAddr), opts)
	rec := &recorder{Store: store}
	client := resilient.New(
		resilient.WithSharedBreakers(rec),
		resilient.WithBreaker(b),
		resilient.WithRetry(resilient.Retry{Max: -1}),
	)
	// Cleanups run last-in first-out: the client, then the store, then
	// the Redis client registered by newRedisClient.
	t.Cleanup(func() { _ = store.Close() })
	t.Cleanup(func() { _ = resilient.Close(client) })
	return &instance{name: name, store: store, rec: rec, client: client, logs: logs}
}

// get sends one GET to u, tagged with the instance's name, and returns the
// error (nil for any response, whose body it closes).
func (in *instance) get(u string) error {
	resp, err := in.client.Get(u + "?from=" + in.name)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return errors.New(resp.Status)
	}
	return nil
}

// tripLocally sends GETs to u until the instance's own breaker refuses one,
// and returns how many it sent.
func (in *instance) tripLocally(t testing.TB, u string) int {
	t.Helper()
	for i := 1; i <= 100; i++ {
		err := in.get(u)
		var coe *resilient.CircuitOpenError
		if errors.As(err, &coe) {
			if coe.Remote {
				t.Fatalf("%s: refused by a remote open while tripping its own breaker", in.name)
			}
			return i - 1
		}
	}
	t.Fatalf("%s: breaker did not open after 100 failing calls to %s", in.name, u)
	return 0
}

// remoteRefusal asserts that a GET to u is refused by a remote open, and
// returns the error.
func (in *instance) remoteRefusal(t testing.TB, u string) *resilient.CircuitOpenError {
	t.Helper()
	err := in.get(u)
	if !errors.Is(err, resilient.ErrCircuitOpen) {
		t.Fatalf("%s: GET %s: got %v, want ErrCircuitOpen", in.name, u, err)
	}
	var coe *resilient.CircuitOpenError
	if !errors.As(err, &coe) || !coe.Remote {
		t.Fatalf("%s: GET %s: got %v, want a *CircuitOpenError with Remote set", in.name, u, err)
	}
	return coe
}

// dependency is an httptest server standing for the dependency the fleet
// calls. It fails with 503 until heal, and counts requests per instance.
type dependency struct {
	*httptest.Server
	healthy atomic.Bool
	mu      sync.Mutex
	hits    map[string]int
}

func newDependency(t testing.TB) *dependency {
	d := &dependency{hits: make(map[string]int)}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.hits[r.URL.Query().Get("from")]++
		d.mu.Unlock()
		if !d.healthy.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *dependency) count(from string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hits[from]
}

// host returns the dependency's breaker name, scheme://host:port.
func (d *dependency) host() string {
	u, _ := url.Parse(d.URL)
	return u.Scheme + "://" + u.Host
}

// waitFor polls cond every 5ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
