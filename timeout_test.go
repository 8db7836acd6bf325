package resilient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// wrapped hides an *http.Transport behind another type, so that the
// attempt timeout is enforced through the context (timeout.go).
type wrapped struct{ base *http.Transport }

func (w wrapped) RoundTrip(r *http.Request) (*http.Response, error) { return w.base.RoundTrip(r) }

func newWrappedClient(t *testing.T, opts ...Option) *http.Client {
	t.Helper()
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	rt := NewTransport(wrapped{base}, opts...)
	t.Cleanup(func() { rt.Close() })
	return &http.Client{Transport: rt}
}

func TestTransport_RoundTrip_attemptTimeoutThroughTheContextOnEveryAttempt(t *testing.T) {
	srv := newServer(t, hang)
	c := newWrappedClient(t, WithRetry(Retry{Max: 2, MinWait: time.Millisecond, MaxWait: time.Millisecond, AttemptTimeout: 50 * time.Millisecond}))
	ctx, cancel := context.WithCancel(context.Background()) // a context that can end: the attempts follow it
	defer cancel()
	req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil))
	_, err := c.Do(req)
	var te *TransportError
	if !errors.As(err, &te) || !errors.Is(err, ErrAttemptTimeout) || te.Attempts != 3 || !te.Timeout() {
		t.Fatalf("err = %v, want *TransportError after 3 attempts matching ErrAttemptTimeout", err)
	}
	if n := srv.hits.Load(); n != 3 {
		t.Errorf("the server saw %d attempts, want 3", n)
	}
}

func TestTransport_RoundTrip_attemptContextFollowsTheCallersWhileTheBodyIsRead(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first part")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then stall
	})
	c := newWrappedClient(t, WithRetry(Retry{AttemptTimeout: time.Hour}))
	ctx, cancel := context.WithCancel(context.Background())
	req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, len("first part"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first part" {
		t.Fatalf("read %q, %v", buf, err)
	}
	cancel()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Fatalf("reading the rest after the caller canceled: %v, want context.Canceled", err)
	}
}

func TestTransport_RoundTrip_attemptTimeoutBoundsHeadersNotTheBody(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		time.Sleep(150 * time.Millisecond) // the body comes after the attempt timeout
		io.WriteString(w, "late body")
	})
	c := newWrappedClient(t, WithRetry(Retry{AttemptTimeout: 50 * time.Millisecond}))
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "late body" || srv.hits.Load() != 1 {
		t.Fatalf("body %q after %d attempts, want \"late body\" after 1", got, srv.hits.Load())
	}
}

// Many attempts in flight at once, some hung: the attempt timeout abandons the
// hung ones and the retries succeed, each on its own timer.
func TestTransport_RoundTrip_attemptTimeoutThroughTheContextConcurrently(t *testing.T) {
	var seen sync.Map
	srv := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Call")
		if _, again := seen.LoadOrStore(id, true); !again && strings.HasSuffix(id, "hang") {
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "ok")
	})
	c := newWrappedClient(t, WithBreaker(Breaker{Disabled: true}),
		WithRetry(Retry{MinWait: time.Millisecond, MaxWait: time.Millisecond, AttemptTimeout: time.Second, Budget: RetryBudget{Disabled: true}}))
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil))
			req.Header.Set("X-Call", fmt.Sprint(i, map[bool]string{true: "hang", false: "ok"}[i%4 == 0]))
			resp, err := c.Do(req)
			if err != nil {
				t.Errorf("call %d: %v", i, err)
				return
			}
			if got := readAll(t, resp); got != "ok" {
				t.Errorf("call %d: body %q", i, got)
			}
		}()
	}
	wg.Wait()
}

// The attempt timeout over a caller's transport runs on the Transport's
// clock: a one-minute timeout fires when the clock says a minute passed,
// and takes no real time.
func TestTransport_RoundTrip_attemptTimeoutRunsOnTheClock(t *testing.T) {
	clk := newFakeClock()
	started := make(chan struct{}, 3)
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		started <- struct{}{}
		<-r.Context().Done() // a server that never answers
		return nil, r.Context().Err()
	})
	rt := NewTransport(base, withClock(clk), withRand(half),
		WithRetry(Retry{Max: 2, AttemptTimeout: time.Minute, MaxWait: time.Second}))
	defer rt.Close()
	done := make(chan error, 1)
	go func() {
		_, err := (&http.Client{Transport: rt}).Get("http://api.test/slow")
		done <- err
	}()
	for range 3 {
		<-started // the attempt's timer is set before it is sent
		clk.Advance(time.Minute)
	}
	err := <-done
	var te *TransportError
	if !errors.As(err, &te) || !errors.Is(err, ErrAttemptTimeout) || te.Attempts != 3 {
		t.Fatalf("err = %v, want a *TransportError after 3 attempts matching ErrAttemptTimeout", err)
	}
	if got, want := clk.waits(), []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("waits between attempts %v, want %v", got, want)
	}
}

// TestHeaderTimedOut_knownByTypeWhereNetHTTPAllows: an *http.Transport's
// ResponseHeaderTimeout is an attempt timeout over HTTP/1 (known by type)
// and HTTP/2 (by its text, all net/http allows); its TLS handshake
// timeout is a timeout, retried, but not the attempt timeout. Each case
// fails if net/http changes what it returns.
func TestHeaderTimedOut_knownByTypeWhereNetHTTPAllows(t *testing.T) {
	hung := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("HTTP/2 %v", h2), func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.ProtoMajor == 2 != h2 {
					t.Errorf("request came over %s", r.Proto)
				}
				hung(w, r)
			}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			t.Cleanup(srv.Close)
			base := srv.Client().Transport.(*http.Transport).Clone()
			base.ResponseHeaderTimeout = 50 * time.Millisecond
			t.Cleanup(base.CloseIdleConnections)
			c := &http.Client{Transport: NewTransport(base, WithRetry(Retry{Max: -1}))}
			t.Cleanup(func() { Close(c) })
			_, err := c.Get(srv.URL)
			var te *TransportError
			if !errors.As(err, &te) || !errors.Is(err, ErrAttemptTimeout) || !te.Timeout() {
				t.Fatalf("got %v, want a *TransportError matching ErrAttemptTimeout", err)
			}
		})
	}

	t.Run("TLS handshake timeout", func(t *testing.T) {
		ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
		var mu sync.Mutex
		var conns []net.Conn
		go func() {
			for {
				conn, err := ln.Accept() // and say nothing
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, conn)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
		base := &http.Transport{TLSHandshakeTimeout: 50 * time.Millisecond, ResponseHeaderTimeout: time.Second}
		t.Cleanup(base.CloseIdleConnections)
		c := &http.Client{Transport: NewTransport(base, WithRetry(Retry{Max: 1, MinWait: time.Millisecond, MaxWait: time.Millisecond}))}
		t.Cleanup(func() { Close(c) })
		_, err := c.Get("https://" + ln.Addr().String())
		var te *TransportError
		if !errors.As(err, &te) || errors.Is(err, ErrAttemptTimeout) || !te.Timeout() || te.Attempts != 2 {
			t.Fatalf("got %v, want a *TransportError after 2 attempts, a timeout but not ErrAttemptTimeout", err)
		}
	})

	t.Run("the caller's deadline is not the attempt timeout", func(t *testing.T) {
		r := must[*http.Request](t)(http.NewRequest(http.MethodGet, "http://example.test/", nil))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if headerTimedOut(r.WithContext(ctx), context.DeadlineExceeded) {
			t.Error("a request whose context is done was taken for a header timeout")
		}
		if !headerTimedOut(r, context.DeadlineExceeded) || headerTimedOut(r, &net.OpError{Op: "dial", Err: context.DeadlineExceeded}) {
			t.Error("headerTimedOut misreads a bare deadline error or a dial timeout")
		}
	})
}
