package chaos_test

// The tests send real requests through resilient and plain clients to
// httptest servers, and assert on what the servers saw.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/chaos"
)

// upstream is a server that counts the requests its handler served; chaos
// sits in front of the handler when in is not nil.
type upstream struct {
	*httptest.Server
	served atomic.Int64
}

func newUpstream(t *testing.T, in *chaos.Injector) *upstream {
	t.Helper()
	u := &upstream{}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.served.Add(1)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	if in != nil {
		h = in.Handler(h)
	}
	u.Server = httptest.NewServer(h)
	t.Cleanup(func() {
		u.CloseClientConnections()
		u.Close()
	})
	return u
}

func mustNew(t *testing.T, c chaos.Config) *chaos.Injector {
	t.Helper()
	in, err := chaos.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// fastRetries retries up to 20 times at once: no budget, no breaker, waits
// of a millisecond or two.
func fastRetries(base http.RoundTripper) *http.Client {
	tr := resilient.NewTransport(base,
		resilient.WithRetry(resilient.Retry{Max: 20, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond,
			Budget: resilient.RetryBudget{Disabled: true}}),
		resilient.WithBreaker(resilient.Breaker{Disabled: true}))
	return &http.Client{Transport: tr}
}

// firstN accepts the first n requests it is asked about.
func firstN(n int64) func(*http.Request) bool {
	var seen atomic.Int64
	return func(*http.Request) bool { return seen.Add(1) <= n }
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// TestHandler_status503AtRate_resilientRetriesEveryOne: with 30% of the
// server's answers a 503, resilient gets every call through, and the
// server's counts add up: each injected 503 is one extra request.
func TestHandler_status503AtRate_resilientRetriesEveryOne(t *testing.T) {
	run := func() chaos.Stats {
		in := mustNew(t, chaos.Config{Seed: 42, Rules: []chaos.Rule{{Rate: 0.3,
			Fault: chaos.Fault{Status: http.StatusServiceUnavailable, Body: "busy"}}}})
		srv := newUpstream(t, in)
		c := fastRetries(nil)
		defer c.CloseIdleConnections()
		const calls = 100
		for i := range calls {
			resp, err := get(t, c, srv.URL)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		st := in.Stats()
		if got := srv.served.Load(); got != calls {
			t.Errorf("handler served %d requests, want one per call, %d", got, calls)
		}
		if st.Requests != calls+st.Status || st.Injected() != st.Status {
			t.Errorf("stats %+v: want Requests = %d calls + Status, every fault a status", st, calls)
		}
		if st.Status < 20 || st.Status > 70 {
			t.Errorf("%d of %d requests got 503, want about 30%% of them", st.Status, st.Requests)
		}
		return st
	}
	if a, b := run(), run(); a != b {
		t.Errorf("same seed, sequential calls: %+v then %+v; want the same", a, b)
	}
}

// TestTransport_statusCarriesHeaderAndBody: an injected status reaches the
// caller as a response with the fault's header and body, and resilient
// honours its Retry-After.
func TestTransport_statusCarriesHeaderAndBody(t *testing.T) {
	in := mustNew(t, chaos.Config{Rules: []chaos.Rule{{Rate: 1, Fault: chaos.Fault{
		Status: http.StatusTooManyRequests, Body: "slow down",
		Header: http.Header{"Retry-After": {"120"}}}}}})
	srv := newUpstream(t, nil)
	resp, err := get(t, &http.Client{Transport: in.Transport(nil)}, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "120" || resp.ContentLength != int64(len("slow down")) {
		t.Errorf("got %d, Retry-After %q, length %d; want 429, 120, 9", resp.StatusCode, resp.Header.Get("Retry-After"), resp.ContentLength)
	}
	_, err = get(t, resilient.New(), srv.URL) // not through chaos: a control
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: resilient.NewTransport(in.Transport(nil))}
	_, err = get(t, c, srv.URL)
	var se *resilient.StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 || se.Attempts != 1 || se.RetryAfter != 120*time.Second ||
		!errors.Is(err, resilient.ErrRetryAfterTooLong) {
		t.Errorf("got %v; want a *StatusError 429 after 1 attempt, RetryAfter 2m, ErrRetryAfterTooLong", err)
	}
	if got := srv.served.Load(); got != 1 {
		t.Errorf("server served %d requests; only the control should reach it", got)
	}
}

// TestHandler_reset_isARealResetThatResilientRetries: a reset by the
// middleware reaches a plain client as ECONNRESET, resilient retries it for
// a GET, and never for a POST without an idempotency key.
func TestHandler_reset_isARealResetThatResilientRetries(t *testing.T) {
	in := mustNew(t, chaos.Config{Rules: []chaos.Rule{{Rate: 1, Match: firstN(2), Fault: chaos.Fault{Reset: true}}}})
	srv := newUpstream(t, in)

	plain := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	_, err := get(t, plain, srv.URL)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("plain client got %v; want connection reset by peer", err)
	}
	c := fastRetries(&http.Transport{DisableKeepAlives: true})
	resp, err := get(t, c, srv.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("resilient GET through one reset: %v", err)
	}
	if st := in.Stats(); st.Reset != 2 || st.Requests != 3 || srv.served.Load() != 1 {
		t.Errorf("stats %+v, served %d; want 2 resets in 3 requests, 1 served", st, srv.served.Load())
	}

	in2 := mustNew(t, chaos.Config{Rules: []chaos.Rule{{Rate: 1, Fault: chaos.Fault{Reset: true}}}})
	srv2 := newUpstream(t, in2)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv2.URL, strings.NewReader("order"))
	_, err = c.Do(req)
	var te *resilient.TransportError
	if !errors.As(err, &te) || te.Attempts != 1 || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("POST through a reset: %v; want a *TransportError after 1 attempt wrapping ECONNRESET", err)
	}
	if got := in2.Stats().Requests; got != 1 {
		t.Errorf("the server got the POST %d times; want once", got)
	}
}

// TestTransport_reset_looksLikeAReadReset: the Transport's reset is the
// error a real one is: ECONNRESET in a *net.OpError, retryable, and, as
// the request may have left, a POST is not sent again.
func TestTransport_reset_looksLikeAReadReset(t *testing.T) {
	in := mustNew(t, chaos.Config{Rules: []chaos.Rule{{Rate: 1, Fault: chaos.Fault{Reset: true}}}})
	srv := newUpstream(t, nil)
	_, err := get(t, &http.Client{Transport: in.Transport(nil)}, srv.URL)
	if !errors.Is(err, syscall.ECONNRESET) || resilient.Classify(nil, err) != resilient.Retryable ||
		!strings.Contains(err.Error(), "read: connection reset by peer") {
		t.Fatalf("got %v (%v); want a retryable read: connection reset by peer", err, resilient.Classify(nil, err))
	}
	c := fastRetries(in.Transport(nil))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader("order"))
	_, err = c.Do(req)
	var te *resilient.TransportError
	if !errors.As(err, &te) || te.Attempts != 1 {
		t.Errorf("POST: %v; want a *TransportError after 1 attempt", err)
	}
	_, err = get(t, c, srv.URL)
	if !errors.As(err, &te) || te.Attempts != 21 {
		t.Errorf("GET: %v; want a *TransportError after 21 attempts", err)
	}
	if got := srv.served.Load(); got != 0 {
		t.Errorf("server served %d requests; an injected reset sends none", got)
	}
}

// TestHang_endsWithTheContext: a hung request ends when its context does,
// on both sides, and resilient's attempt timeout turns a hung first
// attempt into a retry that succeeds.
func TestHang_endsWithTheContext(t *testing.T) {
	hang := chaos.Fault{Hang: true}
	in := mustNew(t, chaos.Config{Rules: []chaos.Rule{{Rate: 1, Match: firstN(1), Fault: hang}}})
	srv := newUpstream(t, in)
	c := &http.Client{Transport: resilient.NewTransport(nil,
		resilient.WithRetry(resilient.Retry{AttemptTimeout: 200 * time.Millisecond, MinWait: time.Millisecond}))}
	defer c.CloseIdleConnections()
	resp, err := get(t, c, srv.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("through a hung first attempt: %v", err)
	}
	// A loaded machine may make a served attempt outlast the timeout too,
	// and be retried: count, rather than expect exactly two requests.
	if st := in.Stats(); st.Hang != 1 || st.Requests != 1+srv.served.Load() || srv.served.Load() < 1 {
		t.Errorf("stats %+v, served %d; want 1 hang and every other request served", st, srv.served.Load())
	}

	tin := mustNew(t, chaos.Config{Rules: []chaos.Rule{{Rate: 1, Fault: hang}}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		_, err := tin.Transport(nil).RoundTrip(req)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Transport hang: got %v; want context.Canceled", err)
	}
}

// TestLatency_delaysOrEndsWithTheContext: latency delays the answer by at
// least its length, and a request cancelled during it ends without one.
func TestLatency_delaysOrEndsWithTheContext(t *testing.T) {
	const d = 30 * time.Millisecond
	in := mustNew(t, chaos.Config{Rules: []chaos.Rule{{Rate: 1, Match: firstN(1), Fault: chaos.Fault{Latency: d}}}})
	srv := newUpstream(t, in)
	start := time.Now()
	resp, err := get(t, srv.Client(), srv.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(err)
	}
	if el := time.Since(start); el < d {
		t.Errorf("answered in %v; want at least the latency, %v", el, d)
	}
	if st := in.Stats(); st.Delayed != 1 || srv.served.Load() != 1 {
		t.Errorf("stats %+v, served %d; want 1 delayed and served", st, srv.served.Load())
	}

	long := mustNew(t, chaos.Config{Rules: []chaos.Rule{{Rate: 1, Fault: chaos.Fault{Latency: time.Hour}}}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if _, err := long.Transport(nil).RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled during an hour of latency: %v; want context.Canceled", err)
	}
	if got := srv.served.Load(); got != 1 {
		t.Errorf("server served %d; the cancelled request must not reach it", got)
	}
}

// TestPhases_followTheClock: a timetable moves on the injected clock,
// repeats when asked, and injects nothing before its start.
func TestPhases_followTheClock(t *testing.T) {
	var now atomic.Int64 // seconds since t0
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return t0.Add(time.Duration(now.Load()) * time.Second) }
	in := mustNew(t, chaos.Config{Start: t0.Add(time.Second), Now: clock, Repeat: true, Phases: []chaos.Phase{
		{Name: "flaky", Duration: 10 * time.Second, Rules: []chaos.Rule{{Rate: 1, Fault: chaos.Fault{Status: 503}}}},
		{Name: "outage", Duration: 5 * time.Second, Rules: []chaos.Rule{{Rate: 1, Fault: chaos.Fault{Reset: true}}}},
		{Name: "healthy", Duration: 5 * time.Second},
	}})
	srv := newUpstream(t, nil)
	c := &http.Client{Transport: in.Transport(nil)}
	for _, tc := range []struct {
		at    int64
		phase string
		want  string
	}{{0, "", "200"}, {1, "flaky", "503"}, {10, "flaky", "503"}, {11, "outage", "reset"}, {16, "healthy", "200"},
		{21, "flaky", "503"}, {32, "outage", "reset"}} {
		now.Store(tc.at)
		resp, err := get(t, c, srv.URL)
		got := "reset"
		if err == nil {
			got = strconv.Itoa(resp.StatusCode)
		}
		phase, _ := in.Phase()
		if got != tc.want || phase != tc.phase {
			t.Errorf("at %ds: phase %q, got %s; want %q, %s", tc.at, phase, got, tc.phase, tc.want)
		}
	}
}

// TestKey_sameKeySameFault: with Key, a request's fault depends on its key
// only, whatever the order and the other requests.
func TestKey_sameKeySameFault(t *testing.T) {
	cfg := chaos.Config{Seed: 9, Rules: []chaos.Rule{{Rate: 0.5, Fault: chaos.Fault{Status: 503}}},
		Key: func(r *http.Request) (uint64, bool) {
			k, err := strconv.ParseUint(r.Header.Get("X-Call"), 10, 64)
			return k, err == nil
		}}
	a, b := mustNew(t, cfg), mustNew(t, cfg)
	srv := newUpstream(t, nil)
	faulted := func(in *chaos.Injector, key int) bool {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		req.Header.Set("X-Call", strconv.Itoa(key))
		resp, err := (&http.Client{Transport: in.Transport(nil)}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	}
	hits := 0
	for k := range 40 {
		fa := faulted(a, k)
		faulted(b, 39-k) // b sees the keys in the other order
		if fa != (chaos.Draw(9, uint64(k)) < 0.5) {
			t.Errorf("key %d: faulted %v, want Draw < 0.5", k, fa)
		}
		if fa {
			hits++
		}
	}
	for k := range 40 {
		if faulted(a, k) != faulted(b, k) {
			t.Errorf("key %d: the two injectors disagree", k)
		}
	}
	if hits == 0 || hits == 40 {
		t.Errorf("%d of 40 keys faulted at rate 0.5", hits)
	}
}

// TestSetEnabled_passesEverythingWhenOff: a disabled injector passes and
// counts nothing, and picks up again when switched back on.
func TestSetEnabled_passesEverythingWhenOff(t *testing.T) {
	in := mustNew(t, chaos.Config{Disabled: true, Rules: []chaos.Rule{{Rate: 1, Fault: chaos.Fault{Status: 500}}}})
	srv := newUpstream(t, in)
	resp, err := get(t, srv.Client(), srv.URL)
	if err != nil || resp.StatusCode != 200 || in.Enabled() || in.Stats() != (chaos.Stats{}) {
		t.Fatalf("disabled: %v %v, stats %+v; want 200 and nothing counted", resp, err, in.Stats())
	}
	in.SetEnabled(true)
	if resp, err = get(t, srv.Client(), srv.URL); err != nil || resp.StatusCode != 500 {
		t.Fatalf("enabled: %v %v; want 500", resp, err)
	}
}

// TestRules_stackInOrder: the rules that accept a request share one draw,
// each taking its rate after those before it; Match leaves a request out.
func TestRules_stackInOrder(t *testing.T) {
	in := mustNew(t, chaos.Config{Seed: 3, Rules: []chaos.Rule{
		{Rate: 0.25, Fault: chaos.Fault{Status: 500}},
		{Rate: 0.25, Match: func(r *http.Request) bool { return r.Method == http.MethodGet }, Fault: chaos.Fault{Status: 502}},
		{Rate: 1, Fault: chaos.Fault{Status: 503}},
	}})
	srv := newUpstream(t, nil)
	c := &http.Client{Transport: in.Transport(nil)}
	count := map[string]map[int]int{"GET": {}, "HEAD": {}}
	for range 2000 {
		for m := range count {
			req, _ := http.NewRequestWithContext(t.Context(), m, srv.URL, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			count[m][resp.StatusCode]++
		}
	}
	near := func(n, want int) bool { return n > want-150 && n < want+150 }
	if g := count["GET"]; !near(g[500], 500) || !near(g[502], 500) || !near(g[503], 1000) || g[200] != 0 {
		t.Errorf("GET: %v; want about 500 × 500, 500 × 502, 1000 × 503", g)
	}
	if h := count["HEAD"]; !near(h[500], 500) || h[502] != 0 || !near(h[503], 1500) {
		t.Errorf("HEAD: %v; want about 500 × 500, 1500 × 503, no 502", h)
	}
}

// TestNew_rejectsBadConfig: each mistake gets an error naming where it is.
func TestNew_rejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    chaos.Config
		want string
	}{
		{"rate", chaos.Config{Rules: []chaos.Rule{{Rate: 1.5}}}, "Rules[0]: Rate 1.5"},
		{"two ends", chaos.Config{Rules: []chaos.Rule{{Rate: 1}, {Rate: 1, Fault: chaos.Fault{Reset: true, Hang: true}}}}, "Rules[1].Fault: sets both Reset and Hang"},
		{"status", chaos.Config{Rules: []chaos.Rule{{Fault: chaos.Fault{Status: 99}}}}, "Rules[0].Fault: status 99"},
		{"body", chaos.Config{Rules: []chaos.Rule{{Fault: chaos.Fault{Body: "x"}}}}, "without Status"},
		{"both", chaos.Config{Rules: []chaos.Rule{}, Phases: []chaos.Phase{}}, "both Rules and Phases"},
		{"open phase", chaos.Config{Phases: []chaos.Phase{{Name: "a"}, {Name: "b", Duration: 1}}}, `Phases[0] ("a") has no Duration`},
		{"repeat", chaos.Config{Repeat: true, Phases: []chaos.Phase{{Name: "a"}}}, "Repeat"},
		{"latency", chaos.Config{Rules: []chaos.Rule{{Fault: chaos.Fault{Latency: -1}}}}, "negative Latency"},
		{"phase rule", chaos.Config{Phases: []chaos.Phase{{Rules: []chaos.Rule{{Rate: -1}}}}}, "Phases[0].Rules[0]: Rate -1"},
	} {
		_, err := chaos.New(tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "chaos: ") {
			t.Errorf("%s: got %v; want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestStatusCut_bodyEndsEarlyOrStalls: with Status, Reset sends the
// status and a part of the body, then the body ends with
// io.ErrUnexpectedEOF; Hang stalls it until the context ends. Both sides.
func TestStatusCut_bodyEndsEarlyOrStalls(t *testing.T) {
	for _, side := range []string{"Transport", "Handler"} {
		for _, tc := range []struct {
			name  string
			fault chaos.Fault
			want  error
		}{
			{"reset", chaos.Fault{Status: 200, Body: `{"items":[1,2`, Reset: true}, io.ErrUnexpectedEOF},
			{"hang", chaos.Fault{Status: 200, Body: `{"items":[1,2`, Hang: true}, context.DeadlineExceeded},
		} {
			t.Run(side+"/"+tc.name, func(t *testing.T) {
				in := mustNew(t, chaos.Config{Rules: []chaos.Rule{{Rate: 1, Fault: tc.fault}}})
				c := &http.Client{Transport: in.Transport(nil)}
				srv := newUpstream(t, nil)
				if side == "Handler" {
					srv = newUpstream(t, in)
					c = &http.Client{Transport: &http.Transport{}}
					defer c.CloseIdleConnections()
				}
				ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("Do: %v; want the response, then a failing body", err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != tc.fault.Body || !errors.Is(err, tc.want) {
					t.Errorf("got %d %q, %v; want 200 %q, then %v", resp.StatusCode, body, err, tc.fault.Body, tc.want)
				}
				st := in.Stats()
				if n := map[string]int64{"reset": st.Reset, "hang": st.Hang}[tc.name]; n != 1 || srv.served.Load() != 0 {
					t.Errorf("stats %+v, served %d; want one %s and nothing served", st, srv.served.Load(), tc.name)
				}
			})
		}
	}
}
