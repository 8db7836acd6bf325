package resilient

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server is an httptest server that counts what it saw, per method and in
// total, and answers with handle.
type server struct {
	*httptest.Server
	hits   atomic.Int64
	dials  atomic.Int64
	mu     sync.Mutex
	bodies []string // request bodies, in arrival order
	seen   []*http.Request
}

// newServer starts a server; handle gets the 1-based index of the request.
func newServer(t testing.TB, handle func(n int64, w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.seen = append(s.seen, r.Clone(context.Background()))
		s.mu.Unlock()
		handle(s.hits.Add(1), w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.dials.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// status answers every request with code and body.
func status(code int, body string) func(int64, http.ResponseWriter, *http.Request) {
	return func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// failThen answers fails requests with code, then 200 "ok".
func failThen(fails int64, code int) func(int64, http.ResponseWriter, *http.Request) {
	return func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n <= fails {
			w.WriteHeader(code)
			io.WriteString(w, "failing")
			return
		}
		io.WriteString(w, "ok")
	}
}

// dropConn closes the connection without an answer.
func dropConn(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// retryAfterThen answers the first request with code and Retry-After:
// after, then 200 "ok".
func retryAfterThen(code int, after string) func(int64, http.ResponseWriter, *http.Request) {
	return func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", after)
			w.WriteHeader(code)
			return
		}
		io.WriteString(w, "ok")
	}
}

// hang answers nothing until the client gives up on the request.
func hang(_ int64, _ http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
}

// fast is a retry policy with short waits, for tests.
var fast = Retry{Max: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}

// newClient returns a client that closes with the test.
func newClient(t testing.TB, opts ...Option) *http.Client {
	t.Helper()
	c := New(opts...)
	t.Cleanup(func() { Close(c) })
	return c
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// memTransport answers from memory with code and a small body, for tests
// that need many hosts or no network.
type memTransport struct {
	code  int
	calls atomic.Int64
}

func (m *memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	m.calls.Add(1)
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	code := m.code
	if code == 0 {
		code = 200
	}
	return &http.Response{
		StatusCode: code, Status: http.StatusText(code), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader("hello")), ContentLength: 5, Request: r,
	}, nil
}

// fakeClock is a virtual clock for tests: Now moves only when the test
// advances it, and Sleep advances it by the whole wait at once, recording
// the wait, so that a test of a five-second wait takes no time. It does
// not mix with context deadlines, which are real time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	slept  []time.Duration
	timers []*fakeTimer
	armed  chan struct{} // one token per Timer made
}

// fakeTimer is a Timer of the fakeClock: it fires when the clock is
// advanced past at.
type fakeTimer struct {
	at      time.Time
	c       chan time.Time
	f       func() // AfterFunc's; nil for a Timer
	stopped bool
	clock   *fakeClock
}

// Stop stops an AfterFunc timer, and reports whether it had not fired.
func (ft *fakeTimer) Stop() bool {
	ft.clock.mu.Lock()
	defer ft.clock.mu.Unlock()
	was := !ft.stopped
	ft.stopped = true
	return was
}

// AfterFunc calls f, in its own goroutine, when Advance or Sleep moves the
// clock past d from now.
func (f *fakeClock) AfterFunc(d time.Duration, fn func()) stopper {
	f.mu.Lock()
	defer f.mu.Unlock()
	ft := &fakeTimer{at: f.now.Add(d), f: fn, clock: f}
	f.timers = append(f.timers, ft)
	f.fireLocked()
	return ft
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), armed: make(chan struct{}, 1024)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.fireLocked()
	f.mu.Unlock()
}

// Timer fires when Advance or Sleep moves the clock past d from now.
func (f *fakeClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	f.mu.Lock()
	ft := &fakeTimer{at: f.now.Add(d), c: make(chan time.Time, 1)}
	f.timers = append(f.timers, ft)
	f.fireLocked()
	f.mu.Unlock()
	select {
	case f.armed <- struct{}{}:
	default:
	}
	return ft.c, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		was := !ft.stopped
		ft.stopped = true
		return was
	}
}

// awaitTimer blocks until the code under test has made a Timer: a test
// advances the clock after it, so that the timer sees the advance.
func (f *fakeClock) awaitTimer() { <-f.armed }

// fireLocked fires the timers that are due. f.mu must be held.
func (f *fakeClock) fireLocked() {
	kept := f.timers[:0]
	for _, ft := range f.timers {
		switch {
		case ft.stopped:
		case !f.now.Before(ft.at):
			ft.stopped = true
			if ft.f != nil {
				go ft.f()
			} else {
				ft.c <- f.now
			}
		default:
			kept = append(kept, ft)
		}
	}
	f.timers = kept
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.slept = append(f.slept, d)
	f.fireLocked()
	f.mu.Unlock()
	return true
}

// waits returns the waits slept so far.
func (f *fakeClock) waits() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.slept...)
}

// half is a jitter source that always draws the middle: backoff waits are
// half their ceiling, and admission holds exactly their nominal length.
func half() float64 { return 0.5 }
