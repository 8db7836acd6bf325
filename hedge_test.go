package resilient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/goleak"
)

// pending is a request held by a gated server until the test answers it
// or the client cancels it.
type pending struct {
	n      int64
	body   string
	answer chan int
}

// gated is a server that holds every request until the test answers it
// (with a status code, through its pending's answer) or the client
// cancels it; canceled counts the latter.
type gated struct {
	*server
	reqs     chan *pending
	canceled atomic.Int64
}

func newGated(t *testing.T) *gated {
	t.Helper()
	g := &gated{reqs: make(chan *pending, 64)}
	g.server = newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		p := &pending{n: n, answer: make(chan int, 1)}
		g.mu.Lock()
		p.body = g.bodies[len(g.bodies)-1]
		g.mu.Unlock()
		g.reqs <- p
		select {
		case code := <-p.answer:
			w.WriteHeader(code)
			fmt.Fprintf(w, "%d to request %d", code, n)
		case <-r.Context().Done():
			g.canceled.Add(1)
		}
	})
	return g
}

// next returns the next request to arrive.
func (g *gated) next(t *testing.T) *pending {
	t.Helper()
	select {
	case p := <-g.reqs:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no request arrived within 10s")
		return nil
	}
}

// outcome is what a call in the background returned.
type outcome struct {
	code int
	body string
	err  error
}

// callAsync sends req with c in the background.
func callAsync(c *http.Client, req *http.Request) <-chan outcome {
	out := make(chan outcome, 1)
	go func() {
		resp, err := c.Do(req)
		if err != nil {
			out <- outcome{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		out <- outcome{code: resp.StatusCode, body: string(b), err: err}
	}()
	return out
}

func newGet(t *testing.T, url string) *http.Request {
	t.Helper()
	return must[*http.Request](t)(http.NewRequest(http.MethodGet, url, nil))
}

// hedgeNow advances clk past the hedge delay d once the call has armed its
// timer.
func hedgeNow(clk *fakeClock, d time.Duration) {
	clk.awaitTimer()
	clk.Advance(d)
}

func TestHedging_slowFirstAttemptLosesToTheHedge(t *testing.T) {
	g := newGated(t)
	clk := newFakeClock()
	c := newClient(t, withClock(clk), WithHedging(Hedging{Delay: 50 * time.Millisecond}))
	out := callAsync(c, newGet(t, g.URL))
	first := g.next(t)
	hedgeNow(clk, 50*time.Millisecond)
	hedge := g.next(t)
	hedge.answer <- 200
	o := <-out
	if o.err != nil || o.code != 200 || o.body != fmt.Sprintf("200 to request %d", hedge.n) {
		t.Fatalf("got %d %q %v, want the hedge's 200", o.code, o.body, o.err)
	}
	waitFor(t, "the first attempt to be canceled", func() bool { return g.canceled.Load() == 1 })
	if n := g.hits.Load(); n != 2 || first.n != 1 {
		t.Errorf("server saw %d requests, want 2", n)
	}
}

func TestHedging_noHedgeWhenTheAnswerComesInTime(t *testing.T) {
	g := newGated(t)
	clk := newFakeClock()
	c := newClient(t, withClock(clk), WithHedging(Hedging{Delay: 50 * time.Millisecond}))
	out := callAsync(c, newGet(t, g.URL))
	g.next(t).answer <- 200
	if o := <-out; o.err != nil || o.code != 200 {
		t.Fatalf("got %d %v", o.code, o.err)
	}
	clk.Advance(time.Hour) // the timer was stopped: nothing more goes
	if n := g.hits.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

// bodyCounter wraps a transport and counts the response bodies it hands
// out and those closed.
type bodyCounter struct {
	base           http.RoundTripper
	opened, closed atomic.Int64
	statuses       chan int
}

func (b *bodyCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.base.RoundTrip(r)
	if resp != nil {
		b.opened.Add(1)
		resp.Body = &countedBody{ReadCloser: resp.Body, closed: &b.closed}
		b.statuses <- resp.StatusCode
	}
	return resp, err
}

type countedBody struct {
	io.ReadCloser
	closed *atomic.Int64
	once   sync.Once
}

func (c *countedBody) Close() error {
	c.once.Do(func() { c.closed.Add(1) })
	return c.ReadCloser.Close()
}

func TestHedging_fastRetryableFailureDoesNotBeatSlowerSuccess(t *testing.T) {
	g := newGated(t)
	clk := newFakeClock()
	base := &bodyCounter{base: http.DefaultTransport.(*http.Transport).Clone(), statuses: make(chan int, 8)}
	t.Cleanup(base.base.(*http.Transport).CloseIdleConnections)
	c := &http.Client{Transport: NewTransport(base, withClock(clk), WithHedging(Hedging{Delay: 50 * time.Millisecond}))}
	t.Cleanup(func() { Close(c) })
	out := callAsync(c, newGet(t, g.URL))
	first := g.next(t)
	hedgeNow(clk, 50*time.Millisecond)
	g.next(t).answer <- 503
	if s := <-base.statuses; s != 503 {
		t.Fatalf("first response to come back is %d, want the hedge's 503", s)
	}
	first.answer <- 200
	o := <-out
	if o.err != nil || o.code != 200 || o.body != "200 to request 1" {
		t.Fatalf("got %d %q %v, want the first attempt's 200", o.code, o.body, o.err)
	}
	if n := g.hits.Load(); n != 2 {
		t.Errorf("server saw %d requests, want 2: the 503 must not be retried", n)
	}
	// The losing 503 is drained and closed in the background, off the
	// winner's path.
	waitFor(t, "both response bodies to be closed", func() bool { return base.closed.Load() == 2 })
	if o := base.opened.Load(); o != 2 {
		t.Errorf("%d response bodies handed out, want 2", o)
	}
}

func TestHedging_allAttemptsFailThenRetry(t *testing.T) {
	g := newGated(t)
	clk := newFakeClock()
	c := newClient(t, withClock(clk), withRand(half), WithRetry(Retry{Max: 1, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}),
		WithHedging(Hedging{Delay: 50 * time.Millisecond}))
	out := callAsync(c, newGet(t, g.URL))
	first := g.next(t)
	hedgeNow(clk, 50*time.Millisecond)
	g.next(t).answer <- 503
	first.answer <- 502
	// Both failed: the retry is a hedged group of its own, answered in time.
	g.next(t).answer <- 200
	o := <-out
	if o.err != nil || o.code != 200 {
		t.Fatalf("got %d %v, want the retry's 200", o.code, o.err)
	}
}

func TestHedging_hedgesAndRetriesShareTheBudget(t *testing.T) {
	e := newTelEnv(t)
	g := newGated(t)
	clk := newFakeClock()
	c := e.client(t, withClock(clk),
		WithRetry(Retry{Max: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond,
			Budget: RetryBudget{Ratio: 1e-9, MinRetries: 2, Window: time.Hour}}),
		WithHedging(Hedging{Delay: 50 * time.Millisecond}))
	for range 2 { // two hedges spend the budget
		out := callAsync(c, newGet(t, g.URL))
		g.next(t)
		hedgeNow(clk, 50*time.Millisecond)
		g.next(t).answer <- 200
		if o := <-out; o.err != nil || o.code != 200 {
			t.Fatalf("got %d %v", o.code, o.err)
		}
	}
	// The third call's hedge is refused.
	out := callAsync(c, newGet(t, g.URL))
	first := g.next(t)
	hedgeNow(clk, 50*time.Millisecond)
	waitFor(t, "the budget to refuse the hedge", func() bool {
		return telSum(t, e.collect(t), "resilient.hedges.refused", attribute.String("resilient.hedge.refusal", "budget")) == 1
	})
	first.answer <- 200
	if o := <-out; o.err != nil || o.code != 200 {
		t.Fatalf("got %d %v", o.code, o.err)
	}
	// And a retry of a 429 (held to the share, as every retry is while the
	// host says it gets too much) finds the budget spent by the hedges.
	out = callAsync(c, newGet(t, g.URL))
	g.next(t).answer <- 429
	o := <-out
	if !errors.Is(o.err, ErrRetryBudgetExhausted) {
		t.Fatalf("got %d %v, want ErrRetryBudgetExhausted", o.code, o.err)
	}
	if n := g.hits.Load(); n != 6 {
		t.Errorf("server saw %d requests, want 6: 2 calls with a hedge, 2 without", n)
	}
	rm := e.collect(t)
	if n := telSum(t, rm, "resilient.hedges"); n != 2 {
		t.Errorf("resilient.hedges = %d, want 2", n)
	}
	if n := telSum(t, rm, "resilient.hedges.won"); n != 2 {
		t.Errorf("resilient.hedges.won = %d, want 2", n)
	}
	// The unit doc.go documents: a refused hedge is never sent, so the
	// three count hedges, not attempts.
	for _, name := range []string{"resilient.hedges", "resilient.hedges.won", "resilient.hedges.refused"} {
		if m := telMetric(rm, name); m == nil {
			t.Errorf("%s was not recorded", name)
		} else if m.Unit != "{hedge}" {
			t.Errorf("%s has unit %q, want {hedge}", name, m.Unit)
		}
	}
}

// collect reads e's metrics.
func (e *telEnv) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

func TestHedging_noHedgeToAnOpenHost(t *testing.T) {
	e := newTelEnv(t)
	g := newGated(t)
	clk := newFakeClock()
	c := e.client(t, withClock(clk), WithRetry(Retry{Max: -1}),
		WithBreaker(Breaker{ConsecutiveFailures: 2, ProbeInterval: time.Hour, Cooldown: time.Hour, RampUp: -1}),
		WithHedging(Hedging{Delay: 50 * time.Millisecond}))
	out := callAsync(c, newGet(t, g.URL))
	first := g.next(t)
	// Two failed POSTs (never hedged) open the breaker meanwhile.
	for range 2 {
		post := callAsync(c, must[*http.Request](t)(http.NewRequest(http.MethodPost, g.URL, nil)))
		g.next(t).answer <- 503
		if o := <-post; o.err == nil {
			t.Fatal("POST answered 503 did not fail")
		}
	}
	hedgeNow(clk, 50*time.Millisecond)
	waitFor(t, "admission to refuse the hedge", func() bool {
		return telSum(t, e.collect(t), "resilient.hedges.refused", attribute.String("resilient.hedge.refusal", "breaker")) == 1
	})
	first.answer <- 200
	if o := <-out; o.err != nil || o.code != 200 {
		t.Fatalf("got %d %v, want the first attempt's 200", o.code, o.err)
	}
	if n := g.hits.Load(); n != 3 {
		t.Errorf("server saw %d requests, want 3: no hedge", n)
	}
	if n := telSum(t, e.collect(t), "resilient.hedges"); n != 0 {
		t.Errorf("resilient.hedges = %d, want 0", n)
	}
}

func TestHedging_atMostMaxAttemptsInFlight(t *testing.T) {
	g := newGated(t)
	clk := newFakeClock()
	c := newClient(t, withClock(clk), WithHedging(Hedging{Delay: 50 * time.Millisecond, MaxAttempts: 3}))
	out := callAsync(c, newGet(t, g.URL))
	g.next(t)
	hedgeNow(clk, 50*time.Millisecond)
	g.next(t)
	hedgeNow(clk, 50*time.Millisecond)
	third := g.next(t)
	clk.Advance(time.Hour)
	third.answer <- 200
	if o := <-out; o.err != nil || o.code != 200 || o.body != fmt.Sprintf("200 to request %d", third.n) {
		t.Fatalf("got %d %q %v", o.code, o.body, o.err)
	}
	waitFor(t, "the two losers to be canceled", func() bool { return g.canceled.Load() == 2 })
	if n := g.hits.Load(); n != 3 {
		t.Errorf("server saw %d requests, want 3", n)
	}
	if len(clk.armed) != 0 {
		t.Errorf("%d timers armed after the third attempt, want none", len(clk.armed))
	}
}

func TestHedging_onlyCallsThatMaySendTwice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		req    func(url string) *http.Request
		hedged bool
	}{
		{"POST", func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("order"))
			return r
		}, false},
		{"POST with an Idempotency-Key", func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("order"))
			r.Header.Set("Idempotency-Key", "k1")
			return r
		}, true},
		{"PUT whose body cannot be replayed", func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodPut, u, io.NopCloser(strings.NewReader("order")))
			return r
		}, false},
		{"PUT", func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader([]byte("order")))
			return r
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGated(t)
			clk := newFakeClock()
			c := newClient(t, withClock(clk), WithHedging(Hedging{Delay: 50 * time.Millisecond}))
			out := callAsync(c, tc.req(g.URL))
			first := g.next(t)
			if !tc.hedged {
				first.answer <- 200
				<-out
				if len(clk.armed) != 0 || g.hits.Load() != 1 {
					t.Fatalf("hedged: %d timers, %d requests", len(clk.armed), g.hits.Load())
				}
				return
			}
			hedgeNow(clk, 50*time.Millisecond)
			hedge := g.next(t)
			hedge.answer <- 200
			if o := <-out; o.err != nil || o.code != 200 {
				t.Fatalf("got %d %v", o.code, o.err)
			}
			if first.body != "order" || hedge.body != "order" {
				t.Errorf("bodies %q and %q, want the request's body twice", first.body, hedge.body)
			}
		})
	}
}

func TestHedging_adaptiveDelayWaitsForSamples(t *testing.T) {
	g := newGated(t)
	clk := newFakeClock()
	c := newClient(t, withClock(clk), WithHedging(Hedging{MinSamples: 10, Quantile: 0.5, MinDelay: 20 * time.Millisecond}))
	for i := range 10 {
		out := callAsync(c, newGet(t, g.URL))
		p := g.next(t)
		clk.Advance(time.Duration(i+1) * time.Millisecond) // latencies 1..10ms
		p.answer <- 200
		<-out
		if len(clk.armed) != 0 {
			t.Fatalf("call %d armed a hedge timer before 10 samples", i+1)
		}
	}
	// The median is about 5ms, below the 20ms floor: the delay is 20ms.
	out := callAsync(c, newGet(t, g.URL))
	first := g.next(t)
	clk.awaitTimer()
	clk.Advance(19 * time.Millisecond)
	select {
	case p := <-g.reqs:
		t.Fatalf("request %d sent before the 20ms floor", p.n)
	default:
	}
	clk.Advance(time.Millisecond)
	g.next(t).answer <- 200
	if o := <-out; o.err != nil || o.code != 200 {
		t.Fatalf("got %d %v", o.code, o.err)
	}
	waitFor(t, "the first attempt to be canceled", func() bool { return g.canceled.Load() == 1 })
	_ = first
}

func TestHedging_hedgeIsAnAttemptSpanOfItsOwn(t *testing.T) {
	for _, callers := range []bool{false, true} {
		name := "New"
		if callers {
			name = "caller's transport, attempt timeout"
		}
		t.Run(name, func(t *testing.T) { testHedgeSpans(t, callers) })
	}
}

// testHedgeSpans checks the spans of one hedged call: the hedge is an
// attempt span of its own, and both attempts are children of the call's
// span, also when the attempt timeout gives each attempt a context of
// its own (a base transport of the caller's).
func testHedgeSpans(t *testing.T, callersTransport bool) {
	e := newTelEnv(t)
	g := newGated(t)
	clk := newFakeClock()
	opts := []Option{withClock(clk), WithHedging(Hedging{Delay: 50 * time.Millisecond})}
	c := e.client(t, opts...)
	if callersTransport {
		base := &http.Transport{}
		t.Cleanup(base.CloseIdleConnections)
		c = &http.Client{Transport: NewTransport(base, append([]Option{WithTracerProvider(e.tp), WithMeterProvider(e.mp),
			WithRetry(Retry{AttemptTimeout: time.Minute})}, opts...)...)}
		t.Cleanup(func() { Close(c) })
	}
	out := callAsync(c, newGet(t, g.URL))
	g.next(t)
	hedgeNow(clk, 50*time.Millisecond)
	g.next(t).answer <- 200
	if o := <-out; o.err != nil {
		t.Fatal(o.err)
	}
	waitFor(t, "both attempt spans to end", func() bool { return len(e.rec.Ended()) == 3 })
	hedges := 0
	for _, s := range e.rec.Ended() {
		if v, ok := spanAttr(s, "resilient.hedge"); ok && v.AsBool() {
			hedges++
			if rc, _ := spanAttr(s, "http.request.resend_count"); rc.AsInt64() != 1 {
				t.Errorf("hedge span resend_count = %v, want 1", rc)
			}
		}
	}
	if hedges != 1 {
		t.Errorf("%d spans marked resilient.hedge, want 1", hedges)
	}
	var root sdktrace.ReadOnlySpan
	for _, s := range e.rec.Ended() {
		if !s.Parent().IsValid() {
			root = s
		}
	}
	if root == nil {
		t.Fatal("no call span")
	}
	for _, s := range e.rec.Ended() {
		if s != root && s.Parent().SpanID() != root.SpanContext().SpanID() {
			t.Errorf("attempt span %q is not a child of the call span %q", s.Name(), root.Name())
		}
	}
	rm := e.collect(t)
	if s, w := telSum(t, rm, "resilient.hedges"), telSum(t, rm, "resilient.hedges.won"); s != 1 || w != 1 {
		t.Errorf("hedges sent %d, won %d; want 1 and 1", s, w)
	}
}

func TestWithHedging_rejectsBadInput(t *testing.T) {
	for _, h := range []Hedging{{Quantile: 1}, {Quantile: -0.5}, {Delay: -1}, {MaxAttempts: -2}} {
		err := Validate(WithHedging(h))
		if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), "Hedging") {
			t.Errorf("%+v: got %v, want ErrInvalidOption naming Hedging", h, err)
		}
		if v := recoverFrom(func() { New(WithHedging(h)) }); v == nil {
			t.Errorf("%+v: New did not panic", h)
		}
	}
}

// TestHedging_tenThousandCallsLeakNothing sends 10,000 hedged calls, a
// tenth of which meet a slow answer and are hedged, and checks that no goroutine
// outlives them and that every connection opened is closed once the
// client and server are.
func TestHedging_tenThousandCallsLeakNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var opened, closed atomic.Int64
	var slow atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rand.IntN(10) == 0 {
			slow.Add(1)
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			closed.Add(1)
		}
	}
	srv.Start()
	c := New(WithRetry(Retry{Budget: RetryBudget{Disabled: true}}), WithHedging(Hedging{Delay: 10 * time.Millisecond}))
	const calls, workers = 10000, 4
	var wg sync.WaitGroup
	var failed atomic.Int64
	jobs := make(chan struct{})
	for range workers {
		wg.Go(func() {
			for range jobs {
				resp, err := c.Get(srv.URL)
				if err != nil {
					failed.Add(1)
					continue
				}
				if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
					failed.Add(1)
				}
				resp.Body.Close()
			}
		})
	}
	for range calls {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d calls failed", n, calls)
	}
	t.Logf("%d calls, %d slow answers, %d connections opened", calls, slow.Load(), opened.Load())
	Close(c)
	srv.Close()
	if o, cl := opened.Load(), closed.Load(); o != cl {
		t.Errorf("%d connections opened, %d closed", o, cl)
	}
}

// BenchmarkGETHedged is BenchmarkGET's resilient client with hedging on,
// on calls that answer before the delay: the cost of the hedged group
// when no hedge goes (a goroutine, a context and a timer per call).
func BenchmarkGETHedged(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"hedging=off", nil},
		{"hedging=fixed", []Option{WithHedging(Hedging{Delay: time.Second})}},
		{"hedging=adaptive", []Option{WithHedging(Hedging{MinDelay: time.Second})}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			t := NewTransport(&memTransport{}, tc.opts...)
			defer t.Close()
			c := &http.Client{Transport: t}
			req, _ := http.NewRequest(http.MethodGet, "http://api.test/orders/42", nil)
			benchDo(b, c, req)
		})
	}
}

// TestHedging_perCallPolicy: a Policy turns hedging on for one call of a
// client built without it, and MaxAttempts 1 turns it off for one call of
// a client that hedges.
func TestHedging_perCallPolicy(t *testing.T) {
	t.Run("on for one call", func(t *testing.T) {
		g := newGated(t)
		clk := newFakeClock()
		c := newClient(t, withClock(clk))
		req := newGet(t, g.URL)
		req = req.WithContext(ContextWithPolicy(req.Context(), Policy{Hedging: &Hedging{Delay: 50 * time.Millisecond}}))
		out := callAsync(c, req)
		g.next(t)
		hedgeNow(clk, 50*time.Millisecond)
		g.next(t).answer <- 200
		if o := <-out; o.err != nil || o.code != 200 {
			t.Fatalf("got %d %v, want the hedge's 200", o.code, o.err)
		}
		if n := g.hits.Load(); n != 2 {
			t.Errorf("server saw %d requests, want 2 (the attempt and its hedge)", n)
		}
	})
	t.Run("off for one call", func(t *testing.T) {
		g := newGated(t)
		clk := newFakeClock()
		c := newClient(t, withClock(clk), WithHedging(Hedging{Delay: 50 * time.Millisecond}))
		req := newGet(t, g.URL)
		req = req.WithContext(ContextWithPolicy(req.Context(), Policy{Hedging: &Hedging{MaxAttempts: 1}}))
		out := callAsync(c, req)
		p := g.next(t)
		clk.Advance(time.Hour) // no hedge timer: nothing more goes
		p.answer <- 200
		if o := <-out; o.err != nil || o.code != 200 {
			t.Fatalf("got %d %v", o.code, o.err)
		}
		if n := g.hits.Load(); n != 1 {
			t.Errorf("server saw %d requests, want 1: the policy turned hedging off", n)
		}
		// A hedged call arms its hedge timer before it waits for an
		// answer, so a call that was hedged would have made one.
		if n := len(clk.armed); n != 0 {
			t.Errorf("%d hedge timers armed, want none: the policy turned hedging off", n)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		c := newClient(t)
		req := newGet(t, "http://127.0.0.1:1/")
		req = req.WithContext(ContextWithPolicy(req.Context(), Policy{Hedging: &Hedging{Quantile: 2}}))
		_, err := c.Do(req)
		if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), "Quantile") {
			t.Fatalf("err = %v, want ErrInvalidOption naming Quantile", err)
		}
	})
}

// TestHedging_overACallersTransport: with a base transport of the caller's,
// the attempt timeout is enforced through each attempt's context
// (timeout.go); the losing attempt is still canceled alone, and the winner's
// body still reads after RoundTrip returned.
func TestHedging_overACallersTransport(t *testing.T) {
	g := newGated(t)
	clk := newFakeClock()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	tr := NewTransport(base, withClock(clk), WithHedging(Hedging{Delay: 50 * time.Millisecond}),
		WithRetry(Retry{AttemptTimeout: time.Minute}))
	c := &http.Client{Transport: tr}
	t.Cleanup(func() { Close(c) })
	out := callAsync(c, newGet(t, g.URL))
	g.next(t)
	hedgeNow(clk, 50*time.Millisecond)
	hedge := g.next(t)
	hedge.answer <- 200
	o := <-out
	if o.err != nil || o.code != 200 || o.body != fmt.Sprintf("200 to request %d", hedge.n) {
		t.Fatalf("got %d %q %v, want the hedge's 200", o.code, o.body, o.err)
	}
	waitFor(t, "the first attempt to be canceled", func() bool { return g.canceled.Load() == 1 })
}
