package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/redisstore"
)

// propagationBound is how soon after one instance's breaker opens the
// others must refuse calls to the host (issue 7).
const propagationBound = 100 * time.Millisecond

func waitConnected(t testing.TB, ins ...*instance) {
	t.Helper()
	for _, in := range ins {
		waitFor(t, 5*time.Second, in.name+" connected to redis", in.store.Connected)
	}
}

func TestStore_openOnOneInstanceRefusesTheOthersWithin100ms(t *testing.T) {
	r := startRedis(t)
	dep := newDependency(t)
	const cooldown = 700 * time.Millisecond
	a := newInstance(t, r.Addr, "a", testBreaker(cooldown))
	b := newInstance(t, r.Addr, "b", testBreaker(cooldown))
	c := newInstance(t, r.Addr, "c", testBreaker(cooldown))
	waitConnected(t, a, b, c)

	if n := a.tripLocally(t, dep.URL); n != 5 {
		t.Errorf("a sent %d calls before its breaker opened, want ConsecutiveFailures = 5", n)
	}
	opened, ok := a.rec.lastPublished(dep.host(), true)
	if !ok {
		t.Fatal("a's breaker opened but a published nothing")
	}

	for _, in := range []*instance{b, c} {
		var got timedEvent
		waitFor(t, 2*time.Second, in.name+" to receive a's open", func() bool {
			got, ok = in.rec.lastReceived(dep.host(), true)
			return ok
		})
		d := got.at.Sub(opened.at)
		t.Logf("%s learned of a's open %s after a's breaker opened", in.name, d)
		if d > propagationBound {
			t.Errorf("%s learned of a's open %s after it happened, want at most %s", in.name, d, propagationBound)
		}
		if skew := got.Until.Sub(opened.Until).Abs(); skew > 50*time.Millisecond {
			t.Errorf("%s refuses until %s, a until %s: differ by %s", in.name, got.Until, opened.Until, skew)
		}
		for range 3 {
			coe := in.remoteRefusal(t, dep.URL)
			if coe.Host != dep.host() || coe.Until.IsZero() {
				t.Errorf("%s: refusal names host %q until %v", in.name, coe.Host, coe.Until)
			}
		}
		if n := dep.count(in.name); n != 0 {
			t.Errorf("the dependency saw %d calls from %s, want 0: it should have been warned by a", n, in.name)
		}
	}

	// The host heals. Once the open's TTL has passed, every instance calls
	// it again: b and c because the remote open ended, a through its probe.
	dep.healthy.Store(true)
	for _, in := range []*instance{b, c, a} {
		waitFor(t, cooldown+3*time.Second, in.name+" to call the healed host", func() bool {
			return in.get(dep.URL) == nil
		})
		// b and c add the TTL to their own clock on receipt, after a
		// computed it: they may end a millisecond early, never more.
		if now := time.Now(); now.Before(opened.Until.Add(-5 * time.Millisecond)) {
			t.Errorf("%s called the host at %s, before the open ended at %s", in.name, now, opened.Until)
		}
	}
	if n := dep.count("b"); n != 1 {
		t.Errorf("the dependency saw %d calls from b, want 1: b never called while the open was in force", n)
	}
	// a's probe closed its breaker; it publishes the close.
	waitFor(t, time.Second, "a to publish its close", func() bool {
		_, ok := a.rec.lastPublished(dep.host(), false)
		return ok
	})
	waitFor(t, time.Second, "b to receive a's close", func() bool {
		_, ok := b.rec.lastReceived(dep.host(), false)
		return ok
	})
	for _, in := range []*instance{a, b, c} {
		for range 3 {
			if err := in.get(dep.URL); err != nil {
				t.Errorf("%s after healing: %v", in.name, err)
			}
		}
	}
}

func TestStore_instanceStartedLaterLearnsOpenBreakers(t *testing.T) {
	r := startRedis(t)
	dep := newDependency(t)
	const cooldown = 700 * time.Millisecond
	a := newInstance(t, r.Addr, "a", testBreaker(cooldown))
	waitConnected(t, a)
	a.tripLocally(t, dep.URL)
	opened, _ := a.rec.lastPublished(dep.host(), true)
	waitFor(t, time.Second, "a's open to reach redis", func() bool { return a.store.Stats().Sent == 1 })

	// d starts after the message was published: it reads the key.
	d := newInstance(t, r.Addr, "d", testBreaker(cooldown))
	waitConnected(t, d)
	got, ok := d.rec.lastReceived(dep.host(), true)
	if !ok {
		t.Fatal("d did not learn of a's open when it started")
	}
	if skew := got.Until.Sub(opened.Until).Abs(); skew > 50*time.Millisecond {
		t.Errorf("d refuses until %s, a until %s: differ by %s", got.Until, opened.Until, skew)
	}
	d.remoteRefusal(t, dep.URL)
	if n := dep.count("d"); n != 0 {
		t.Errorf("the dependency saw %d calls from d, want 0", n)
	}

	// Once a closes its breaker the key is gone: a new instance learns
	// of nothing.
	dep.healthy.Store(true)
	waitFor(t, cooldown+3*time.Second, "a's probe to close its breaker", func() bool {
		_ = a.get(dep.URL)
		_, ok := a.rec.lastPublished(dep.host(), false)
		return ok
	})
	waitFor(t, time.Second, "a's close to reach redis", func() bool { return a.store.Stats().Sent == 2 })
	e := newInstance(t, r.Addr, "e", testBreaker(cooldown))
	waitConnected(t, e)
	if st := e.store.Stats(); st.Received != 0 {
		t.Errorf("e received %d events at start, want 0 once a's breaker closed", st.Received)
	}
}

func TestStore_Subscribe_ignoresOwnEventsAndCarriesTTL(t *testing.T) {
	r := startRedis(t)
	newStore := func(id string) *redisstore.Store {
		s := redisstore.New(newRedisClient(t, r.Addr), fastOptions(id, slogDiscard()))
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	s1, s2, s3 := newStore("one"), newStore("two"), newStore("three")
	got1, got2 := make(chan resilient.BreakerEvent, 10), make(chan resilient.BreakerEvent, 10)
	defer s1.Subscribe(func(ev resilient.BreakerEvent) { got1 <- ev })()
	defer s2.Subscribe(func(ev resilient.BreakerEvent) { got2 <- ev })()
	waitFor(t, 5*time.Second, "subscriptions", func() bool { return s1.Connected() && s2.Connected() })

	const host = "https://api.example.com:443"
	sent := time.Now()
	s1.Publish(resilient.BreakerEvent{Host: host, Open: true, Until: sent.Add(3 * time.Second)})
	ev := receive(t, got2)
	if !ev.Open || ev.Host != host {
		t.Fatalf("s2 got %+v, want an open of %s", ev, host)
	}
	if d := ev.Until.Sub(sent.Add(3 * time.Second)).Abs(); d > 100*time.Millisecond {
		t.Errorf("s2's Until is %s off the publisher's", d)
	}
	// Messages on the channel arrive in order: once s1 has s3's event it
	// would have had its own, had it not ignored it.
	s3.Publish(resilient.BreakerEvent{Host: "http://other:80", Open: true, Until: time.Now().Add(time.Second)})
	if ev := receive(t, got1); ev.Host != "http://other:80" {
		t.Errorf("s1 received %+v, its own event", ev)
	}
	receive(t, got2) // s3's

	rdb := newRedisClient(t, r.Addr)
	key := "resilient:test:breaker:" + host
	if ttl := rdb.PTTL(context.Background(), key).Val(); ttl <= 2*time.Second || ttl > 3*time.Second {
		t.Errorf("key %s has TTL %s, want about 3s", key, ttl)
	}
	s1.Publish(resilient.BreakerEvent{Host: host})
	if ev := receive(t, got2); ev.Open || ev.Host != host {
		t.Errorf("s2 got %+v, want the close of %s", ev, host)
	}
	if n := rdb.Exists(context.Background(), key).Val(); n != 0 {
		t.Errorf("key %s still exists after the close", key)
	}
	// s2 may receive the close before s1's Exec returns and counts it.
	waitFor(t, time.Second, "s1 to count its sends", func() bool { return s1.Stats().Sent == 2 })
	if st := s1.Stats(); st.Sent != 2 || st.Received != 1 || st.Errors != 0 {
		t.Errorf("s1 stats %+v, want 2 sent, 1 received, no errors", st)
	}
}

func receive(t testing.TB, ch chan resilient.BreakerEvent) resilient.BreakerEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(2 * time.Second):
		t.Fatal("no event within 2s")
		return resilient.BreakerEvent{}
	}
}

func TestStore_Subscribe_ignoresForeignAndMalformedKeysAndMessages(t *testing.T) {
	r := startRedis(t)
	rdb := newRedisClient(t, r.Addr)
	ctx := context.Background()
	// A key without a TTL, garbage, another version, another service,
	// and a key whose value names another host: none is ours to apply.
	rdb.Set(ctx, "resilient:test:breaker:http://a:80", `{"v":1,"instance":"x","host":"http://a:80","open":true,"ttl_ms":5000}`, 0)
	rdb.Set(ctx, "resilient:test:breaker:http://b:80", `not json`, time.Minute)
	rdb.Set(ctx, "resilient:test:breaker:http://c:80", `{"v":2,"instance":"x","host":"http://c:80","open":true,"ttl_ms":5000}`, time.Minute)
	rdb.Set(ctx, "resilient:other:breaker:http://d:80", `{"v":1,"instance":"x","host":"http://d:80","open":true,"ttl_ms":5000}`, time.Minute)
	rdb.Set(ctx, "resilient:test:breaker:http://e:80", `{"v":1,"instance":"x","host":"http://f:80","open":true,"ttl_ms":5000}`, time.Minute)
	// A valid one with a huge TTL is capped by MaxRemoteOpen.
	rdb.Set(ctx, "resilient:test:breaker:http://g:80", `{"v":1,"instance":"x","host":"http://g:80","open":true,"ttl_ms":99999999}`, time.Hour)

	opts := fastOptions("me", slogDiscard())
	opts.MaxRemoteOpen = 10 * time.Second
	s := redisstore.New(newRedisClient(t, r.Addr), opts)
	defer s.Close()
	got := make(chan resilient.BreakerEvent, 10)
	defer s.Subscribe(func(ev resilient.BreakerEvent) { got <- ev })()
	ev := receive(t, got)
	if ev.Host != "http://g:80" || time.Until(ev.Until) > 10*time.Second {
		t.Errorf("got %+v, want only http://g:80, capped at 10s", ev)
	}
	for _, p := range []string{"garbage", `{"v":1,"instance":"x","host":"","open":true}`, `{"v":1,"instance":"x","host":"http://h:80","open":true,"ttl_ms":0}`} {
		rdb.Publish(ctx, "resilient:test:breaker", p)
	}
	rdb.Publish(ctx, "resilient:test:breaker", `{"v":1,"instance":"x","host":"http://i:80","open":false}`)
	if ev := receive(t, got); ev.Host != "http://i:80" || ev.Open {
		t.Errorf("got %+v, want only the close of http://i:80", ev)
	}
}

func TestStore_redisDownChangesNothingButSharing(t *testing.T) {
	r := startRedis(t)
	dep := newDependency(t)
	healthy := newDependency(t)
	healthy.healthy.Store(true)
	// a's open must outlive the outage, so that its resending shows.
	const cooldown = 20 * time.Second
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	a := newInstance(t, r.Addr, "a", testBreaker(cooldown), func(o *redisstore.Options) { o.MeterProvider = mp })
	b := newInstance(t, r.Addr, "b", testBreaker(cooldown))
	waitConnected(t, a, b)
	if v := gauge(t, reader, "resilient.redisstore.connected"); v != 1 {
		t.Errorf("connected gauge = %d while redis answers, want 1", v)
	}

	if err := r.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, in := range []*instance{a, b} {
		waitFor(t, 5*time.Second, in.name+" to notice redis is gone", func() bool {
			return !in.store.Connected() && in.store.Stats().Errors >= 3 // several failed reconnections
		})
	}
	if v := gauge(t, reader, "resilient.redisstore.connected"); v != 0 {
		t.Errorf("connected gauge = %d while redis is down, want 0", v)
	}
	if v := sum(t, reader, "resilient.redisstore.errors"); v < 3 {
		t.Errorf("errors counter = %d, want at least 3", v)
	}

	// Requests go on as before.
	for _, in := range []*instance{a, b} {
		for range 20 {
			if err := in.get(healthy.URL); err != nil {
				t.Fatalf("%s with redis down: %v", in.name, err)
			}
		}
	}
	// a's breaker still opens, alone: publishing to a dead Redis neither
	// blocks the call that trips it nor refuses anything.
	start := time.Now()
	if n := a.tripLocally(t, dep.URL); n != 5 {
		t.Errorf("a sent %d calls before its breaker opened, want 5", n)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("tripping a's breaker took %s with redis down: something waited for redis", d)
	}
	if err := b.get(dep.URL); err == nil || errors.Is(err, resilient.ErrCircuitOpen) {
		t.Errorf("b with redis down: got %v, want the dependency's 503: sharing is off", err)
	}
	if n := dep.count("b"); n != 1 {
		t.Errorf("the dependency saw %d calls from b, want 1", n)
	}
	for _, in := range []*instance{a, b} {
		if n := in.logs.count("redis unreachable, breakers are local only"); n != 1 {
			t.Errorf("%s logged the outage %d times, want once:\n%s", in.name, n, in.logs)
		}
	}

	// Redis comes back: sharing resumes, and a resends its open, still in
	// force, so that b learns of it.
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, a, b)
	waitFor(t, 5*time.Second, "b to learn of a's open made during the outage", func() bool {
		_, ok := b.rec.lastReceived(dep.host(), true)
		return ok
	})
	b.remoteRefusal(t, dep.URL)
	if n := dep.count("b"); n != 1 {
		t.Errorf("the dependency saw %d calls from b, want still 1", n)
	}
	for _, in := range []*instance{a, b} {
		if n := in.logs.count("redis reachable again"); n != 1 {
			t.Errorf("%s logged the recovery %d times, want once:\n%s", in.name, n, in.logs)
		}
		if n := in.logs.count("redis unreachable"); n != 1 {
			t.Errorf("%s logged the outage %d times, want once:\n%s", in.name, n, in.logs)
		}
	}
	if v := gauge(t, reader, "resilient.redisstore.connected"); v != 1 {
		t.Errorf("connected gauge = %d after redis returned, want 1", v)
	}

	// And new transitions travel again, the other way.
	dep2 := newDependency(t)
	b.tripLocally(t, dep2.URL)
	waitFor(t, time.Second, "a to learn of b's open", func() bool {
		_, ok := a.rec.lastReceived(dep2.host(), true)
		return ok
	})
	a.remoteRefusal(t, dep2.URL)
	if n := dep2.count("a"); n != 0 {
		t.Errorf("dep2 saw %d calls from a, want 0", n)
	}
}

func TestStore_stalledRedisNeverBlocksRequests(t *testing.T) {
	r := startRedis(t)
	dep := newDependency(t)
	a := newInstance(t, r.Addr, "a", testBreaker(10*time.Second), func(o *redisstore.Options) { o.QueueSize = 16 })
	waitConnected(t, a)

	// SIGSTOP: Redis accepts connections (the kernel does) but never
	// answers, the worst case for a client.
	if err := syscall.Kill(r.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(r.PID(), syscall.SIGCONT) }()

	start := time.Now()
	a.tripLocally(t, dep.URL)
	for i := range 1000 {
		a.store.Publish(resilient.BreakerEvent{Host: "http://h" + string(rune('a'+i%26)) + ":80", Open: true, Until: time.Now().Add(time.Minute)})
	}
	// The client's ReadTimeout is 500ms: a request or a Publish that
	// waited for Redis even once would take that long.
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("6 requests and 1000 publishes took %s with redis stalled", d)
	}
	waitFor(t, 5*time.Second, "a to notice redis is stalled", func() bool { return !a.store.Connected() })
	if st := a.store.Stats(); st.Dropped == 0 {
		t.Errorf("stats %+v: want drops once the queue of 16 is full", st)
	}
	_ = syscall.Kill(r.PID(), syscall.SIGCONT)
	waitConnected(t, a)
}

func TestStore_Close(t *testing.T) {
	r := startRedis(t)
	s := redisstore.New(newRedisClient(t, r.Addr), fastOptions("x", slogDiscard()))
	cancel := s.Subscribe(func(resilient.BreakerEvent) {})
	waitFor(t, 5*time.Second, "connected", s.Connected)
	s.Publish(resilient.BreakerEvent{Host: "http://x:80", Open: true, Until: time.Now().Add(time.Minute)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close sent what was queued.
	if st := s.Stats(); st.Sent+st.Dropped != 1 {
		t.Errorf("stats after Close %+v: the queued event is neither sent nor dropped", st)
	}
	cancel() // after Close: does nothing
	_ = s.Close()
	s.Publish(resilient.BreakerEvent{Host: "http://x:80"})
	if st := s.Stats(); st.Dropped == 0 {
		t.Errorf("Publish after Close was not counted as dropped: %+v", st)
	}
	s.Subscribe(func(resilient.BreakerEvent) { t.Error("called after Close") })()
}

func TestStore_InstanceID_defaultsToUniqueNames(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	a := redisstore.New(rdb, redisstore.Options{Logger: slogDiscard()})
	b := redisstore.New(rdb, redisstore.Options{Logger: slogDiscard()})
	defer a.Close()
	defer b.Close()
	if a.InstanceID() == "" || a.InstanceID() == b.InstanceID() {
		t.Errorf("instance IDs %q and %q, want distinct non-empty", a.InstanceID(), b.InstanceID())
	}
	if !strings.Contains(a.InstanceID(), "-") {
		t.Errorf("instance ID %q, want host-random", a.InstanceID())
	}
}

func gauge(t testing.TB, r sdkmetric.Reader, name string) int64 {
	t.Helper()
	for _, dp := range points(t, r, name) {
		return dp
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func sum(t testing.TB, r sdkmetric.Reader, name string) int64 {
	t.Helper()
	var n int64
	for _, dp := range points(t, r, name) {
		n += dp
	}
	return n
}

func points(t testing.TB, r sdkmetric.Reader, name string) []int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					out = append(out, dp.Value)
				}
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					out = append(out, dp.Value)
				}
			}
		}
	}
	return out
}

// An idle subscription pings Redis every HealthInterval; the answers keep
// it connected, with no error and no reconnection.
func TestStore_Subscribe_idleConnectionStaysUp(t *testing.T) {
	r := startRedis(t)
	opts := fastOptions("idle", slogDiscard())
	opts.HealthInterval = 50 * time.Millisecond
	s := redisstore.New(newRedisClient(t, r.Addr), opts)
	defer s.Close()
	defer s.Subscribe(func(resilient.BreakerEvent) {})()
	waitFor(t, 5*time.Second, "connected", s.Connected)
	rdb := newRedisClient(t, r.Addr)
	before := connectionsReceived(t, rdb)
	time.Sleep(20 * opts.HealthInterval)
	if st := s.Stats(); st.Errors != 0 || st.Outages != 0 || !s.Connected() {
		t.Errorf("after %s idle: %+v, connected %v; want no errors", 20*opts.HealthInterval, st, s.Connected())
	}
	// The subscription kept its connection: Redis accepted no new one.
	if n := connectionsReceived(t, rdb) - before; n != 0 {
		t.Errorf("redis accepted %d connections while the subscription was idle, want 0", n)
	}
}

// connectionsReceived returns Redis's count of accepted connections.
func connectionsReceived(t testing.TB, rdb *redis.Client) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_connections_received:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no total_connections_received in INFO stats")
	return 0
}

// Redis restarted without persistence has lost every key: each instance
// writes its opens still in force again, so that an instance starting
// after the restart learns of them too.
func TestStore_rewritesOpensARestartedRedisLost(t *testing.T) {
	r := startRedis(t)
	dep := newDependency(t)
	const cooldown = 20 * time.Second
	a := newInstance(t, r.Addr, "a", testBreaker(cooldown))
	waitConnected(t, a)
	a.tripLocally(t, dep.URL)
	waitFor(t, time.Second, "a's open to reach redis", func() bool { return a.store.Stats().Sent == 1 })

	if err := r.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a to notice redis is gone", func() bool { return !a.store.Connected() })
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, a)
	waitFor(t, 2*time.Second, "a to write its open again", func() bool { return a.store.Stats().Sent == 2 })
	rdb := newRedisClient(t, r.Addr)
	key := "resilient:test:breaker:" + dep.host()
	if ttl := rdb.PTTL(context.Background(), key).Val(); ttl <= 0 || ttl > cooldown {
		t.Errorf("key %s has TTL %s after the restart, want a's remaining cooldown", key, ttl)
	}

	d := newInstance(t, r.Addr, "d", testBreaker(cooldown))
	waitConnected(t, d)
	if _, ok := d.rec.lastReceived(dep.host(), true); !ok {
		t.Fatal("d, started after the restart, did not learn of a's open")
	}
	d.remoteRefusal(t, dep.URL)
	if n := dep.count("d"); n != 0 {
		t.Errorf("the dependency saw %d calls from d, want 0", n)
	}
}
