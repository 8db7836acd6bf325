package fromretryable_test

// Tests of New with real go-retryablehttp configurations: its defaults, a
// custom CheckRetry, a custom Backoff, its loggers and hooks, and its
// inner *http.Client. Waits run on a virtual clock (internal/testhook), so
// a test of go-retryablehttp's 1 s, 2 s, 4 s, 8 s waits takes none.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/fromretryable"
	"github.com/resilient-http/resilient/internal/testhook"
)

// fromRetryable returns fromretryable.New(rc, opts...) on a virtual
// clock, closed with the test.
func fromRetryable(t *testing.T, rc *retryablehttp.Client, opts ...resilient.Option) (*http.Client, *testhook.Clock) {
	t.Helper()
	fc := testhook.NewClock()
	c := fromretryable.New(rc, append([]resilient.Option{testhook.WithClock(fc).(resilient.Option)}, opts...)...)
	t.Cleanup(func() { resilient.Close(c) })
	return c, fc
}

// quietRetryable is retryablehttp.NewClient() without its stderr logger.
func quietRetryable() *retryablehttp.Client {
	rc := retryablehttp.NewClient()
	rc.Logger = nil
	return rc
}

// outcomeOf reads what a call returned, for comparison: the status, or
// the error's type, status and attempts.
func outcomeOf(t *testing.T, resp *http.Response, err error) string {
	t.Helper()
	var se *resilient.StatusError
	var te *resilient.TransportError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("*StatusError %d after %d", se.StatusCode, se.Attempts)
	case errors.As(err, &te):
		return fmt.Sprintf("*TransportError after %d", te.Attempts)
	case err != nil:
		return "error " + err.Error()
	}
	readAll(t, resp)
	return resp.Status
}

// TestNew_defaults runs go-retryablehttp's NewClient as it
// comes (RetryMax 4, waits 1 s to 30 s, DefaultRetryPolicy, DefaultBackoff)
// and checks what the server saw, what came back and the waits.
func TestNew_defaults(t *testing.T) {
	s := time.Second
	cases := []struct {
		name      string
		method    string
		header    http.Header
		handle    func(int64, http.ResponseWriter, *http.Request)
		wantHits  int64
		want      string
		wantWaits []time.Duration
	}{
		{name: "503 every time: RetryMax 4, DefaultBackoff's waits",
			handle: status(503, "down"), wantHits: 5, want: "*StatusError 503 after 5", wantWaits: []time.Duration{s, 2 * s, 4 * s, 8 * s}},
		{name: "503 twice, then 200",
			handle: failThen(2, 503), wantHits: 3, want: "200 OK", wantWaits: []time.Duration{s, 2 * s}},
		{name: "connection dropped, then 200",
			handle: func(n int64, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					dropConn(w)
					return
				}
				io.WriteString(w, "ok")
			}, wantHits: 2, want: "200 OK", wantWaits: []time.Duration{s}},
		{name: "connection dropped every time",
			handle:   func(_ int64, w http.ResponseWriter, _ *http.Request) { dropConn(w) },
			wantHits: 5, want: "*TransportError after 5", wantWaits: []time.Duration{s, 2 * s, 4 * s, 8 * s}},
		{name: "429 Retry-After 3: DefaultBackoff and resilient agree",
			handle: retryAfterThen(429, "3"), wantHits: 2, want: "200 OK", wantWaits: []time.Duration{3 * s}},
		{name: "500 Retry-After 3: DefaultBackoff says 1s, the server's ask is kept",
			handle: retryAfterThen(500, "3"), wantHits: 2, want: "200 OK", wantWaits: []time.Duration{3 * s}},
		{name: "503 Retry-After 60, above RetryWaitMax 30s: waited, as go-retryablehttp waits (up to DefaultMaxServerWait)",
			handle: retryAfterThen(503, "60"), wantHits: 2, want: "200 OK", wantWaits: []time.Duration{time.Minute}},
		{name: "503 Retry-After 120, above DefaultMaxServerWait: stop at once",
			handle: retryAfterThen(503, "120"), wantHits: 1, want: "*StatusError 503 after 1"},
		{name: "505: DefaultRetryPolicy retries it, so resilient does",
			handle: status(505, ""), wantHits: 5, want: "*StatusError 505 after 5", wantWaits: []time.Duration{s, 2 * s, 4 * s, 8 * s}},
		{name: "501: not retried, and a *resilient.StatusError where go-retryablehttp returns the response",
			handle: status(501, ""), wantHits: 1, want: "*StatusError 501 after 1"},
		{name: "408: DefaultRetryPolicy does not retry it",
			handle: status(408, ""), wantHits: 1, want: "408 Request Timeout"},
		{name: "404 comes back as a response",
			handle: status(404, ""), wantHits: 1, want: "404 Not Found"},
		{name: "POST 503 without Idempotency-Key: sent once", method: "POST",
			handle: status(503, ""), wantHits: 1, want: "*StatusError 503 after 1"},
		{name: "POST 503 with Idempotency-Key: retried", method: "POST", header: http.Header{"Idempotency-Key": {"k1"}},
			handle: status(503, ""), wantHits: 5, want: "*StatusError 503 after 5", wantWaits: []time.Duration{s, 2 * s, 4 * s, 8 * s}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.handle)
			c, fc := fromRetryable(t, quietRetryable())
			req := must[*http.Request](t)(http.NewRequest(cmpOr(tc.method, "GET"), srv.URL, strings.NewReader("body")))
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := c.Do(req)
			if got := outcomeOf(t, resp, err); got != tc.want {
				t.Errorf("got %s, want %s (err %v)", got, tc.want, err)
			}
			if got := srv.hits.Load(); got != tc.wantHits {
				t.Errorf("server saw %d requests, want %d", got, tc.wantHits)
			}
			if got := fc.Waits(); !slices.Equal(got, tc.wantWaits) {
				t.Errorf("waits %v, want %v", got, tc.wantWaits)
			}
		})
	}
}

// TestNew_retryAfterAboveTheServerCap: the error says what the server
// asked and why retrying stopped.
func TestNew_retryAfterAboveTheServerCap(t *testing.T) {
	srv := newServer(t, retryAfterThen(503, "120"))
	c, _ := fromRetryable(t, quietRetryable())
	_, err := c.Get(srv.URL)
	var se *resilient.StatusError
	if !errors.As(err, &se) || se.RetryAfter != 2*time.Minute || !errors.Is(err, resilient.ErrRetryAfterTooLong) {
		t.Fatalf("got %v, want a *resilient.StatusError with RetryAfter 2m and Stop resilient.ErrRetryAfterTooLong", err)
	}
}

// TestNew_checkRetry: a CheckRetry of the user's decides
// which outcomes are worth another attempt; whether one is made stays
// resilient's.
func TestNew_checkRetry(t *testing.T) {
	errUnauthorized := errors.New("token expired")
	on409 := func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if resp != nil && resp.StatusCode == http.StatusConflict {
			return true, nil
		}
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	cases := []struct {
		name     string
		check    retryablehttp.CheckRetry
		method   string
		ctx      func(context.Context) context.Context
		handle   func(int64, http.ResponseWriter, *http.Request)
		wantHits int64
		want     string
	}{
		{name: "retry on 409", check: on409,
			handle: failThen(2, 409), wantHits: 3, want: "200 OK"},
		{name: "409 to the end: the last 409 comes back as a response", check: on409,
			handle: status(409, ""), wantHits: 5, want: "409 Conflict"},
		{name: "POST 409 without Idempotency-Key: sent once", check: on409, method: "POST",
			handle: failThen(2, 409), wantHits: 1, want: "409 Conflict"},
		{name: "POST 409 with resilient.Policy.Idempotent: retried", check: on409, method: "POST",
			ctx: func(ctx context.Context) context.Context {
				return resilient.ContextWithPolicy(ctx, resilient.Policy{Idempotent: true})
			},
			handle: failThen(2, 409), wantHits: 3, want: "200 OK"},
		{name: "false on 503: not retried, still a *resilient.StatusError",
			check:  func(context.Context, *http.Response, error) (bool, error) { return false, nil },
			handle: status(503, ""), wantHits: 1, want: "*StatusError 503 after 1"},
		{name: "true and an error: retried, the error dropped",
			check: func(_ context.Context, resp *http.Response, err error) (bool, error) {
				return retryablehttp.ErrorPropagatedRetryPolicy(context.Background(), resp, err)
			},
			handle: failThen(1, 503), wantHits: 2, want: "200 OK"},
		{name: "false and an error on a 401: a *resilient.StatusError for the 401",
			check: func(_ context.Context, resp *http.Response, _ error) (bool, error) {
				if resp != nil && resp.StatusCode == http.StatusUnauthorized {
					return false, errUnauthorized
				}
				return false, nil
			},
			handle: status(401, "expired"), wantHits: 1, want: "*StatusError 401 after 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.handle)
			rc := quietRetryable()
			rc.CheckRetry = tc.check
			c, _ := fromRetryable(t, rc)
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx(ctx)
			}
			req := must[*http.Request](t)(http.NewRequestWithContext(ctx, cmpOr(tc.method, "GET"), srv.URL, strings.NewReader("body")))
			resp, err := c.Do(req)
			if got := outcomeOf(t, resp, err); got != tc.want {
				t.Errorf("got %s, want %s (err %v)", got, tc.want, err)
			}
			if got := srv.hits.Load(); got != tc.wantHits {
				t.Errorf("server saw %d requests, want %d", got, tc.wantHits)
			}
		})
	}
}

// TestNew_checkRetryError: a CheckRetry that returns false
// and an error ends the call with an error that errors.Is finds, with the
// response's status and whole body, even a 200's the hook read; and it
// receives the request's context and, after a network failure, a
// *url.Error as from an *http.Client.
func TestNew_checkRetryError(t *testing.T) {
	errInBody := errors.New("error in a 200's body")
	type key struct{}
	srv := newServer(t, status(200, `{"error":"quota"}`))
	rc := quietRetryable()
	var sawValue any
	rc.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		sawValue = ctx.Value(key{})
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			if strings.Contains(string(b), "error") {
				return false, errInBody
			}
		}
		return false, nil
	}
	c, _ := fromRetryable(t, rc)
	req := must[*http.Request](t)(http.NewRequestWithContext(context.WithValue(context.Background(), key{}, "v"), "GET", srv.URL, nil))
	_, err := c.Do(req)
	var se *resilient.StatusError
	if !errors.As(err, &se) || se.StatusCode != 200 || string(se.Body) != `{"error":"quota"}` || !errors.Is(err, errInBody) {
		t.Fatalf("got %v, want a *resilient.StatusError 200 with the whole body, matching the CheckRetry's error", err)
	}
	if sawValue != "v" {
		t.Errorf("CheckRetry's context had %v, want the request's value", sawValue)
	}

	// A network failure: the hook sees a *url.Error, and its error stops
	// the call inside a *resilient.TransportError.
	errNoConn := errors.New("no connection, no retry")
	dropping := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { dropConn(w) })
	var op string
	rc.CheckRetry = func(_ context.Context, _ *http.Response, err error) (bool, error) {
		var ue *url.Error
		if errors.As(err, &ue) {
			op = ue.Op
		}
		return false, errNoConn
	}
	c, _ = fromRetryable(t, rc)
	_, err = c.Get(dropping.URL)
	var te *resilient.TransportError
	if !errors.As(err, &te) || te.Attempts != 1 || !errors.Is(err, errNoConn) {
		t.Fatalf("got %v, want a *resilient.TransportError after 1 attempt matching the CheckRetry's error", err)
	}
	if op != "Get" {
		t.Errorf("CheckRetry's error had Op %q, want a *url.Error with Op Get", op)
	}
}

// TestNew_backoff: a Backoff of the user's gives the waits,
// receives rc's RetryWaitMin and RetryWaitMax and the failed response.
func TestNew_backoff(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		switch n {
		case 1:
			dropConn(w)
		case 2, 3:
			w.WriteHeader(503)
		default:
			io.WriteString(w, "ok")
		}
	})
	rc := quietRetryable()
	rc.RetryWaitMin, rc.RetryWaitMax = 2*time.Second, 20*time.Second
	var seen []string
	rc.Backoff = func(min, max time.Duration, n int, resp *http.Response) time.Duration {
		st := "no response"
		if resp != nil {
			st = resp.Status
		}
		seen = append(seen, fmt.Sprintf("%d %s %s-%s", n, st, min, max))
		return time.Duration(n+1) * 7 * time.Second
	}
	c, fc := fromRetryable(t, rc)
	resp, err := c.Get(srv.URL)
	if got := outcomeOf(t, resp, err); got != "200 OK" || srv.hits.Load() != 4 {
		t.Fatalf("got %s after %d requests, want 200 OK after 4", got, srv.hits.Load())
	}
	wantWaits := []time.Duration{7 * time.Second, 14 * time.Second, 21 * time.Second}
	if got := fc.Waits(); !slices.Equal(got, wantWaits) {
		t.Errorf("waits %v, want what Backoff returned: %v", got, wantWaits)
	}
	want := []string{"0 no response 2s-20s", "1 503 Service Unavailable 2s-20s", "2 503 Service Unavailable 2s-20s"}
	if !slices.Equal(seen, want) {
		t.Errorf("Backoff received %q, want %q", seen, want)
	}
}

// TestNew_backoffBounded: a Backoff's wait is still bounded
// by the context's deadline and the retry budget; a Retry-After above
// RetryWaitMax stops whatever Backoff says.
func TestNew_backoffBounded(t *testing.T) {
	t.Run("a wait past the deadline is not made", func(t *testing.T) {
		srv := newServer(t, status(503, ""))
		rc := quietRetryable()
		rc.Backoff = func(time.Duration, time.Duration, int, *http.Response) time.Duration { return time.Hour }
		c, fc := fromRetryable(t, rc)
		fc.Set(time.Now()) // the context's deadline is on the wall clock
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		req := must[*http.Request](t)(http.NewRequestWithContext(ctx, "GET", srv.URL, nil))
		_, err := c.Do(req)
		if !errors.Is(err, resilient.ErrDeadline) || srv.hits.Load() != 1 || len(fc.Waits()) != 0 {
			t.Fatalf("got %v after %d requests and waits %v; want resilient.ErrDeadline after 1, no wait", err, srv.hits.Load(), fc.Waits())
		}
	})
	t.Run("the retry budget still applies", func(t *testing.T) {
		srv := newServer(t, status(429, "")) // the host says load hurts it
		rc := quietRetryable()
		rc.RetryMax = 10
		rc.Backoff = func(time.Duration, time.Duration, int, *http.Response) time.Duration { return time.Millisecond }
		c, _ := fromRetryable(t, rc)
		_, err := c.Get(srv.URL)
		// DefaultRetry's budget on a throttling host: 3 retries per second
		// for a quiet client.
		if !errors.Is(err, resilient.ErrRetryBudgetExhausted) || srv.hits.Load() != 4 {
			t.Fatalf("got %v after %d requests, want resilient.ErrRetryBudgetExhausted after 4", err, srv.hits.Load())
		}
	})
	t.Run("Retry-After above RetryWaitMax stops", func(t *testing.T) {
		srv := newServer(t, retryAfterThen(503, "120"))
		rc := quietRetryable()
		rc.Backoff = func(time.Duration, time.Duration, int, *http.Response) time.Duration { return time.Millisecond }
		c, _ := fromRetryable(t, rc)
		_, err := c.Get(srv.URL)
		if !errors.Is(err, resilient.ErrRetryAfterTooLong) || srv.hits.Load() != 1 {
			t.Fatalf("got %v after %d requests, want resilient.ErrRetryAfterTooLong after 1", err, srv.hits.Load())
		}
	})
}

// leveled is a retryablehttp.LeveledLogger that keeps what it was given.
type leveled struct {
	mu    sync.Mutex
	lines []string
}

func (l *leveled) log(level, msg string, kv []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprint(level, " ", msg, " ", kv))
}

func (l *leveled) Error(msg string, kv ...any) { l.log("ERROR", msg, kv) }
func (l *leveled) Info(msg string, kv ...any)  { l.log("INFO", msg, kv) }
func (l *leveled) Debug(msg string, kv ...any) { l.log("DEBUG", msg, kv) }
func (l *leveled) Warn(msg string, kv ...any)  { l.log("WARN", msg, kv) }

func (l *leveled) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// printfLogger is a retryablehttp.Logger that keeps its lines.
type printfLogger struct {
	mu    sync.Mutex
	lines []string
}

func (p *printfLogger) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, fmt.Sprintf(format, args...))
}

func (p *printfLogger) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// TestNew_leveledLogger: resilient's log lines reach a
// LeveledLogger at their levels, with their attributes as key-value
// pairs, and the log hooks receive it as go-retryablehttp gives it.
func TestNew_leveledLogger(t *testing.T) {
	srv := newServer(t, status(503, "down"))
	l := &leveled{}
	rc := quietRetryable()
	rc.Logger = l
	rc.RetryMax = 1
	rc.RequestLogHook = func(lg retryablehttp.Logger, r *http.Request, n int) {
		lg.Printf("attempt %d of %s", n, r.Method)
	}
	c, _ := fromRetryable(t, rc)
	c.Get(srv.URL + "/orders?token=secret")
	u := srv.URL + "/orders?token=REDACTED"
	want := []string{
		"INFO attempt 0 of GET []",
		fmt.Sprintf(`DEBUG resilient: retrying [method GET url %s attempt 2 wait 1s reason 503 Service Unavailable]`, u),
		"INFO attempt 1 of GET []",
		fmt.Sprintf(`WARN resilient: request failed [method GET url %s status 503 attempts 2 error resilient: 503 Service Unavailable after 2 attempts in 1s: down]`, u),
	}
	if got := l.all(); !slices.Equal(got, want) {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestNew_printfLogger: a Logger gets one line per record,
// prefixed as go-retryablehttp prefixes its own.
func TestNew_printfLogger(t *testing.T) {
	srv := newServer(t, failThen(1, 503))
	l := &printfLogger{}
	rc := quietRetryable()
	rc.Logger = l
	c, _ := fromRetryable(t, rc)
	resp, err := c.Get(srv.URL)
	if got := outcomeOf(t, resp, err); got != "200 OK" {
		t.Fatalf("got %s, want 200 OK", got)
	}
	want := []string{`[DEBUG] resilient: retrying method=GET url=` + srv.URL + ` attempt=2 wait=1s reason="503 Service Unavailable"`}
	if got := l.all(); !slices.Equal(got, want) {
		t.Errorf("logged %q, want %q", got, want)
	}
}

// TestNew_invalidLogger: a Logger of another type makes New panic with
// resilient.ErrInvalidOption, before any request, where go-retryablehttp
// panics at its first log line.
func TestNew_invalidLogger(t *testing.T) {
	rc := quietRetryable()
	rc.Logger = "stderr"
	v := recoverFrom(func() { fromretryable.New(rc) })
	if err, ok := v.(error); !ok || !errors.Is(err, resilient.ErrInvalidOption) || !strings.Contains(err.Error(), "Logger is a string") {
		t.Fatalf("New panicked with %v, want resilient.ErrInvalidOption naming the Logger", v)
	}
}

// TestNew_hooks: RequestLogHook, ResponseLogHook and
// PrepareRetry run where go-retryablehttp runs them, and never change the
// caller's request.
func TestNew_hooks(t *testing.T) {
	srv := newServer(t, failThen(2, 503))
	rc := quietRetryable()
	var log []string
	rc.RequestLogHook = func(_ retryablehttp.Logger, r *http.Request, n int) {
		r.Header.Set("X-Attempt", strconv.Itoa(n))
		log = append(log, fmt.Sprintf("request %d", n))
	}
	rc.ResponseLogHook = func(_ retryablehttp.Logger, resp *http.Response) {
		log = append(log, "response "+resp.Status)
	}
	signed := 0
	rc.PrepareRetry = func(r *http.Request) error {
		signed++
		r.Header.Set("X-Signature", "sig"+strconv.Itoa(signed))
		log = append(log, "prepare")
		return nil
	}
	c, _ := fromRetryable(t, rc)
	req := must[*http.Request](t)(http.NewRequest("PUT", srv.URL, strings.NewReader("payload")))
	resp, err := c.Do(req)
	if got := outcomeOf(t, resp, err); got != "200 OK" {
		t.Fatalf("got %s, want 200 OK", got)
	}
	want := []string{
		"request 0", "response 503 Service Unavailable",
		"prepare", "request 1", "response 503 Service Unavailable",
		"prepare", "request 2", "response 200 OK",
	}
	if !slices.Equal(log, want) {
		t.Errorf("hooks ran %q, want %q", log, want)
	}
	srv.mu.Lock()
	var saw []string
	for i, r := range srv.seen {
		saw = append(saw, fmt.Sprintf("%s %s %s", r.Header.Get("X-Attempt"), r.Header.Get("X-Signature"), srv.bodies[i]))
	}
	srv.mu.Unlock()
	if want := []string{"0  payload", "1 sig1 payload", "2 sig2 payload"}; !slices.Equal(saw, want) {
		t.Errorf("server saw %q, want %q", saw, want)
	}
	if len(req.Header) != 0 {
		t.Errorf("the caller's request was changed: %v", req.Header)
	}
}

// TestNew_prepareRetryError: a PrepareRetry that fails ends
// the call before the retry is sent, with its error.
func TestNew_prepareRetryError(t *testing.T) {
	srv := newServer(t, status(503, ""))
	errSign := errors.New("signing key unavailable")
	rc := quietRetryable()
	rc.PrepareRetry = func(*http.Request) error { return errSign }
	c, _ := fromRetryable(t, rc)
	_, err := c.Get(srv.URL)
	var te *resilient.TransportError
	if !errors.As(err, &te) || te.Attempts != 1 || !errors.Is(err, errSign) || srv.hits.Load() != 1 {
		t.Fatalf("got %v after %d requests, want a *resilient.TransportError after 1 attempt matching PrepareRetry's error", err, srv.hits.Load())
	}
}

// headerTransport is a caller's transport: a real *http.Transport that
// marks what it sends.
type headerTransport struct{ base *http.Transport }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Via", "user transport")
	return h.base.RoundTrip(r)
}

// TestNew_httpClient: the inner *http.Client's Transport
// sends every attempt; its CheckRedirect and Jar are the returned
// client's; its Timeout bounds each attempt.
func TestNew_httpClient(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/login":
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "s1"})
			http.Redirect(w, r, "/me", http.StatusFound)
		case "/me":
			c, _ := r.Cookie("session")
			fmt.Fprintf(w, "%v via %s", c, r.Header.Get("X-Via"))
		case "/hang":
			<-r.Context().Done()
		}
	})
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	jar, _ := cookiejar.New(nil)
	rc := quietRetryable()
	rc.HTTPClient = &http.Client{Transport: headerTransport{base}, Jar: jar}
	c, _ := fromRetryable(t, rc)
	resp, err := c.Get(srv.URL + "/login")
	if err != nil || readAll(t, resp) != "session=s1 via user transport" {
		t.Fatalf("got %v, want the cookie from the jar, sent through the user's transport", err)
	}

	rc.HTTPClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c, _ = fromRetryable(t, rc)
	resp, err = c.Get(srv.URL + "/login")
	if got := outcomeOf(t, resp, err); got != "302 Found" {
		t.Errorf("got %s, want 302 Found: CheckRedirect stops at the redirect", got)
	}

	rc.HTTPClient.Timeout = 20 * time.Millisecond
	rc.RetryMax = 0
	c = fromretryable.New(rc) // the attempt timeout runs on the clock: the real one
	t.Cleanup(func() { resilient.Close(c) })
	_, err = c.Get(srv.URL + "/hang")
	if !errors.Is(err, resilient.ErrAttemptTimeout) {
		t.Errorf("got %v, want resilient.ErrAttemptTimeout: the inner client's Timeout bounds each attempt", err)
	}
}

// TestNew_errorHandler: PassthroughErrorHandler gives the
// last 5xx back as a response; another ErrorHandler is not called.
func TestNew_errorHandler(t *testing.T) {
	srv := newServer(t, status(503, "down"))
	rc := quietRetryable()
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c, _ := fromRetryable(t, rc)
	resp, err := c.Get(srv.URL)
	if got := outcomeOf(t, resp, err); got != "503 Service Unavailable" || srv.hits.Load() != 5 {
		t.Errorf("PassthroughErrorHandler: got %s after %d requests, want the 503 response after 5", got, srv.hits.Load())
	}

	called := false
	rc.ErrorHandler = func(resp *http.Response, err error, _ int) (*http.Response, error) {
		called = true
		return resp, err
	}
	c, _ = fromRetryable(t, rc)
	_, err = c.Get(srv.URL)
	var se *resilient.StatusError
	if !errors.As(err, &se) || called {
		t.Errorf("custom ErrorHandler: got %v, called %v; want a *resilient.StatusError, the handler not called", err, called)
	}
}

// TestNew_optionsOverride: options after rc override it,
// and the breaker applies as to any client.
func TestNew_optionsOverride(t *testing.T) {
	srv := newServer(t, status(503, ""))
	c, _ := fromRetryable(t, quietRetryable(), resilient.WithRetry(resilient.Retry{Max: 1}))
	c.Get(srv.URL)
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("resilient.WithRetry(resilient.Retry{Max: 1}) after rc: server saw %d requests, want 2", got)
	}

	other := newServer(t, status(503, ""))
	rc := quietRetryable()
	rc.RetryMax = 0
	c, _ = fromRetryable(t, rc, resilient.WithBreaker(resilient.Breaker{ConsecutiveFailures: 3, ProbeInterval: time.Minute}))
	for range 3 {
		c.Get(other.URL)
	}
	if _, err := c.Get(other.URL); !errors.Is(err, resilient.ErrCircuitOpen) || other.hits.Load() != 3 {
		t.Errorf("got %v after %d requests, want resilient.ErrCircuitOpen after 3", err, other.hits.Load())
	}
}

// TestNew_nil: a nil rc is New's configuration.
func TestNew_nil(t *testing.T) {
	srv := newServer(t, failThen(1, 503))
	c, _ := fromRetryable(t, nil)
	resp, err := c.Get(srv.URL)
	if got := outcomeOf(t, resp, err); got != "200 OK" || srv.hits.Load() != 2 {
		t.Errorf("got %s after %d requests, want 200 OK after 2", got, srv.hits.Load())
	}
}

// TestNew_hedgedLogHooks: with resilient.WithHedging, each attempt of
// a hedged group runs the log hooks with its own number, from its own
// goroutine, without a race on the call.
func TestNew_hedgedLogHooks(t *testing.T) {
	hedged := make(chan struct{})
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select { // the first attempt answers only once the hedge came
			case <-hedged:
			case <-r.Context().Done():
				return
			}
			w.WriteHeader(503)
			return
		}
		close(hedged)
		io.WriteString(w, "ok")
	})
	var mu sync.Mutex
	var numbers []int
	rc := quietRetryable()
	rc.RequestLogHook = func(_ retryablehttp.Logger, _ *http.Request, n int) {
		mu.Lock()
		numbers = append(numbers, n)
		mu.Unlock()
	}
	c := fromretryable.New(rc, resilient.WithHedging(resilient.Hedging{Delay: time.Millisecond}))
	t.Cleanup(func() { resilient.Close(c) })
	resp, err := c.Get(srv.URL)
	if got := outcomeOf(t, resp, err); got != "200 OK" || srv.hits.Load() != 2 {
		t.Fatalf("got %s after %d requests, want the hedge's 200 OK after 2", got, srv.hits.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(numbers)
	if !slices.Equal(numbers, []int{0, 1}) {
		t.Errorf("RequestLogHook numbers %v, want [0 1]", numbers)
	}
}

// closeCounter is a caller's transport that counts CloseIdleConnections.
type closeCounter struct {
	http.RoundTripper
	mu     sync.Mutex
	closed int
}

func (c *closeCounter) CloseIdleConnections() {
	c.mu.Lock()
	c.closed++
	c.mu.Unlock()
}

// TestNew_closeReachesTheInnerTransport: with a Jar or a RequestLogHook,
// which sit between resilient and the inner client's Transport,
// resilient.Close still closes that transport's idle connections.
func TestNew_closeReachesTheInnerTransport(t *testing.T) {
	for _, name := range []string{"Jar", "RequestLogHook"} {
		t.Run(name, func(t *testing.T) {
			base := &closeCounter{RoundTripper: http.DefaultTransport}
			rc := quietRetryable()
			rc.HTTPClient = &http.Client{Transport: base}
			if name == "Jar" {
				rc.HTTPClient.Jar, _ = cookiejar.New(nil)
			} else {
				rc.RequestLogHook = func(retryablehttp.Logger, *http.Request, int) {}
			}
			c := fromretryable.New(rc)
			resilient.Close(c)
			base.mu.Lock()
			defer base.mu.Unlock()
			if base.closed != 1 {
				t.Errorf("the inner transport's idle connections closed %d times, want 1", base.closed)
			}
		})
	}
}
