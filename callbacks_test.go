package resilient

import (
	"sync"
	"testing"
	"time"
)

// collect returns a callback that sends what it receives to a channel, and
// a function that receives n of them, failing the test after 10s.
func collect[T any](t *testing.T) (func(T), func(n int) []T) {
	ch := make(chan T, 100)
	return func(v T) { ch <- v }, func(n int) []T {
		t.Helper()
		var got []T
		timeout := time.After(10 * time.Second)
		for len(got) < n {
			select {
			case v := <-ch:
				got = append(got, v)
			case <-timeout:
				t.Fatalf("received %d events, want %d: %+v", len(got), n, got)
			}
		}
		select {
		case v := <-ch:
			t.Fatalf("an event more than the %d expected: %+v", n, v)
		default:
		}
		return got
	}
}

func TestWithOnRetry_receivesEachRetryWithItsWait(t *testing.T) {
	srv := newServer(t, failThen(3, 503))
	clk := newFakeClock()
	onRetry, events := collect[RetryEvent](t)
	r := Retry{Max: 3, MinWait: 100 * time.Millisecond, MaxWait: time.Second}
	c := newClient(t, WithRetry(r), withClock(clk), withRand(half), WithOnRetry(onRetry))
	resp, err := c.Get(srv.URL + "/orders?token=s3cret")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := events(3)
	waits := clk.waits()
	host := "http://" + srv.Listener.Addr().String()
	for i, ev := range got {
		want := RetryEvent{Host: host, Method: "GET", URL: srv.URL + "/orders?token=REDACTED", Attempt: i + 2,
			Wait: time.Duration(50<<i) * time.Millisecond, Reason: "503 Service Unavailable", StatusCode: 503}
		if ev != want {
			t.Errorf("event %d = %+v\nwant      %+v", i, ev, want)
		}
		if ev.Wait != waits[i] {
			t.Errorf("event %d: wait %s, but the client waited %s", i, ev.Wait, waits[i])
		}
	}
}

func TestWithOnBreakerChange_reportsTransitionsWithCountsBefore(t *testing.T) {
	f := &flip{}
	f.code.Store(500)
	srv := newServer(t, f.handle)
	clk := newFakeClock()
	onChange, changes := collect[BreakerChange](t)
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(probing), withClock(clk), withRand(half), WithOnBreakerChange(onChange))
	c.Get(srv.URL) // one success first, so the counts are not all failures
	f.code.Store(200)
	resp, _ := c.Get(srv.URL)
	resp.Body.Close()
	f.code.Store(500)
	for range 5 {
		c.Get(srv.URL)
	}
	opened := clk.Now()
	clk.Advance(100 * time.Millisecond) // the hold
	f.code.Store(200)
	resp, err := c.Get(srv.URL) // the probe
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	host := "http://" + srv.Listener.Addr().String()
	want := []BreakerChange{
		{Host: host, From: BreakerClosed, To: BreakerOpen, At: opened,
			Counts: BreakerCounts{Requests: 7, TotalSuccesses: 1, TotalFailures: 6, ConsecutiveFailures: 5}},
		{Host: host, From: BreakerOpen, To: BreakerHalfOpen, At: clk.Now()},
		{Host: host, From: BreakerHalfOpen, To: BreakerClosed, At: clk.Now(),
			Counts: BreakerCounts{Requests: 1, TotalSuccesses: 1, ConsecutiveSuccesses: 1}},
	}
	got := changes(3)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("change %d = %+v\nwant       %+v", i, got[i], want[i])
		}
	}
}

func TestWithOnBreakerChange_failedProbeCounts(t *testing.T) {
	srv := newServer(t, status(503, ""))
	clk := newFakeClock()
	onChange, changes := collect[BreakerChange](t)
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(probing), withClock(clk), withRand(half), WithOnBreakerChange(onChange))
	for range 5 {
		c.Get(srv.URL)
	}
	clk.Advance(100 * time.Millisecond)
	c.Get(srv.URL) // the probe fails
	got := changes(3)
	want := BreakerCounts{Requests: 1, TotalFailures: 1, ConsecutiveFailures: 1}
	if got[2].From != BreakerHalfOpen || got[2].To != BreakerOpen || got[2].Counts != want {
		t.Errorf("last change %+v; want half-open to open with %+v", got[2], want)
	}
}

// A callback that blocks stalls neither requests nor other callbacks'
// queueing: events past the queue are dropped and counted.
func TestDispatcher_neverBlocksAndCountsDrops(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	delivered := 0
	d := newDispatcher(&config{onRetry: func(RetryEvent) {}})
	const posted = 3000
	for i := range posted {
		d.post(func() {
			if i == 0 {
				<-release
			}
			mu.Lock()
			delivered++
			mu.Unlock()
		})
	}
	dropped := int(d.dropped.Load())
	if dropped < posted-callbackQueue-1 || dropped > posted-callbackQueue {
		t.Errorf("dropped %d of %d with a queue of %d and one callback stuck", dropped, posted, callbackQueue)
	}
	close(release)
	waitFor(t, "the queue to drain", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return delivered == posted-dropped && !d.running.Load()
	})
}

// A client with callbacks that is never closed leaves no goroutine once its
// events are delivered: TestMain's goleak checks it.
func TestDispatcher_noGoroutineLeftWithoutClose(t *testing.T) {
	srv := newServer(t, failThen(1, 503))
	onRetry, events := collect[RetryEvent](t)
	c := New(WithRetry(fast), WithOnRetry(onRetry)) // not closed on purpose
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	events(1)
	c.CloseIdleConnections()
	waitFor(t, "the dispatcher to stop", func() bool { return !c.Transport.(*Transport).events.running.Load() })
}

func TestWithOnBreakerChange_remoteOpen(t *testing.T) {
	clk := newFakeClock()
	onChange, changes := collect[BreakerChange](t)
	rt := NewTransport(&memTransport{}, WithBreaker(probing), withClock(clk), withRand(half), WithOnBreakerChange(onChange))
	defer rt.Close()
	rt.remoteEvent(BreakerEvent{Host: "http://api.test:80", Open: true, Until: clk.Now().Add(time.Second)})
	want := BreakerChange{Host: "http://api.test:80", From: BreakerClosed, To: BreakerOpen, At: clk.Now(), Remote: true,
		Counts: BreakerCounts{Requests: 1, TotalFailures: 1, ConsecutiveFailures: 1}} // the failure that applied it
	if got := changes(1)[0]; got != want {
		t.Errorf("change %+v\nwant   %+v", got, want)
	}
	if h := rt.Hosts()[0]; h.State != BreakerOpen || !h.Remote || h.Reason != "failing for another instance" {
		t.Errorf("host %+v; want open for another instance", h)
	}
}
