package fromretryable_test

// docs/migrating.md, checked: each case sends the same requests through
// go-retryablehttp's own rc.StandardClient() and through the switch, to
// the same server, one after the other, and compares what the server saw
// and what came back. TestMigrating_differences holds one case or more
// per paragraph of the document's "What differs, and why", and
// TestMigrating_docNamesEveryCase ties the two together;
// TestMigrating_sameAsRetryablehttp holds what must not differ, the
// issue's four shortfalls among it. Waits are real here (go-retryablehttp
// has no clock to inject), so the clients wait milliseconds, and a second
// where a server asks for one.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/fromretryable"
)

// got is what one client's calls came to, and what the server saw of them.
type got struct {
	status   int    // the last call's response status; 0 for an error
	body     string // its body, read to the end
	readErr  error  // the error reading it, if any
	err      error  // the last call's error
	panicked any    // what the client panicked with, if it did
	hits     int64
	dials    int64
	reqs     []*http.Request
	bodies   []string
	gaps     []time.Duration // between the arrivals of consecutive requests
	took     time.Duration
	caller   *http.Request // the last call's request, as the caller holds it after the call
}

// paths returns the paths the server saw, in order.
func (g got) paths() []string {
	var p []string
	for _, r := range g.reqs {
		p = append(p, r.URL.Path)
	}
	return p
}

// headers returns the values of header k in each request the server saw.
func (g got) headers(k string) []string {
	var v []string
	for _, r := range g.reqs {
		v = append(v, strings.Join(r.Header.Values(k), ","))
	}
	return v
}

// migration is one case: a go-retryablehttp configuration, a server, the
// calls, and what std (rc.StandardClient()) and sw (the switch) must show.
type migration struct {
	doc    string // the bold lead of the paragraph of docs/migrating.md it checks
	name   string
	rc     func(rc *retryablehttp.Client) // changes to quick(); nil: none
	opts   []resilient.Option             // the switch's options after rc
	handle func(int64, http.ResponseWriter, *http.Request)
	calls  int                                                 // calls made in a row; 0 means 1
	req    func(ctx context.Context, url string) *http.Request // nil: a GET of url
	ctx    time.Duration                                       // a deadline for each call; 0: none
	check  func(t *testing.T, std, sw got)
	custom func(t *testing.T) // in place of the above, for a case of another shape
}

// quick is retryablehttp.NewClient() without its logger, waiting
// milliseconds instead of seconds.
func quick() *retryablehttp.Client {
	rc := retryablehttp.NewClient()
	rc.Logger = nil
	rc.RetryWaitMin, rc.RetryWaitMax = time.Millisecond, 10*time.Millisecond
	return rc
}

// run sends m's calls through c to srv, which it resets first.
func (m migration) run(t *testing.T, srv *server, c *http.Client) (g got) {
	t.Helper()
	srv.reset()
	start := time.Now()
	for range max(m.calls, 1) {
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if m.ctx > 0 {
			ctx, cancel = context.WithTimeout(ctx, m.ctx)
		}
		req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/", nil))
		if m.req != nil {
			req = m.req(ctx, srv.URL)
		}
		g.caller = req
		g.status, g.body, g.readErr, g.err = 0, "", nil, nil
		func() {
			defer func() { g.panicked = recover() }()
			resp, err := c.Do(req)
			g.err = err
			if err == nil {
				g.status = resp.StatusCode
				b, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				g.body, g.readErr = string(b), rerr
			}
		}()
		cancel()
	}
	g.took = time.Since(start)
	g.hits, g.dials = srv.hits.Load(), srv.dials.Load()
	srv.mu.Lock()
	g.reqs, g.bodies = slices.Clone(srv.seen), slices.Clone(srv.bodies)
	for i := 1; i < len(srv.times); i++ {
		g.gaps = append(g.gaps, srv.times[i].Sub(srv.times[i-1]))
	}
	srv.mu.Unlock()
	return g
}

// compare runs m through rc.StandardClient() and through the switch,
// each with a go-retryablehttp client configured afresh, and checks them.
func (m migration) compare(t *testing.T) {
	if m.custom != nil {
		m.custom(t)
		return
	}
	srv := newServer(t, m.handle)
	c := m.clients(t)
	std := m.run(t, srv, c[0].client)
	m.check(t, std, m.run(t, srv, c[1].client))
}

// The paragraphs of docs/migrating.md's "What differs, and why".
const (
	docSafe       = "Only what is safe is retried."
	docBudget     = "Retries have a budget."
	docBreaker    = "Hosts have a breaker, and it follows `CheckRetry`."
	docCheckRetry = "`CheckRetry`."
	docWaits      = "`Retry-After` and the deadline."
	docErrors     = "Errors."
	docTimeouts   = "Timeouts."
	docRedirects  = "Redirects"
	docLogs       = "Logs."
	docHooks      = "Hooks never change your request."
	docConns      = "Connections and bodies."
)

// is reports whether err matches target, for a check's message.
func is(err, target error) bool { return errors.Is(err, target) }

// statusErr returns the *resilient.StatusError in err, or nil.
func statusErr(err error) *resilient.StatusError {
	var se *resilient.StatusError
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// differences are the cases of TestMigrating_differences.
func differences() []migration {
	errAuth := errors.New("token expired")
	retry409 := func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if resp != nil && resp.StatusCode == http.StatusConflict {
			return true, nil
		}
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	never := func(context.Context, *http.Response, error) (bool, error) { return false, nil }
	breaker := resilient.WithBreaker(resilient.Breaker{ConsecutiveFailures: 3, ProbeInterval: time.Minute})
	noRetries := func(rc *retryablehttp.Client) { rc.RetryMax = 0 }
	redirect := func(n int64, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a":
			http.Redirect(w, r, "/b", http.StatusFound)
		case "/b":
			if n == 2 { // the first /b
				w.WriteHeader(503)
				return
			}
			io.WriteString(w, "b")
		}
	}
	getA := func(ctx context.Context, u string) *http.Request {
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, u+"/a", nil)
		return r
	}
	return []migration{
		{doc: docSafe, name: "POST 503 without Idempotency-Key: sent once",
			handle: status(503, "down"),
			req: func(ctx context.Context, u string) *http.Request {
				r, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(`{"amount":42}`))
				return r
			},
			check: func(t *testing.T, std, sw got) {
				if std.hits != 5 || sw.hits != 1 || statusErr(sw.err) == nil {
					t.Errorf("server saw std %d, switch %d POSTs (switch: %v); want 5 and 1, a *StatusError", std.hits, sw.hits, sw.err)
				}
			}},

		{doc: docBudget, name: "a host answering 429: retries held to the budget",
			rc:     func(rc *retryablehttp.Client) { rc.RetryMax = 10 },
			handle: status(429, "slow down"),
			check: func(t *testing.T, std, sw got) {
				// DefaultRetry's budget on a throttling host: 3 retries a
				// second for a quiet client.
				if std.hits != 11 || sw.hits != 4 || !is(sw.err, resilient.ErrRetryBudgetExhausted) {
					t.Errorf("server saw std %d, switch %d (%v); want 11, and 4 with ErrRetryBudgetExhausted", std.hits, sw.hits, sw.err)
				}
			}},

		{doc: docBreaker, name: "a host failing every call is refused locally",
			rc: noRetries, opts: []resilient.Option{breaker}, handle: status(503, "down"), calls: 4,
			check: func(t *testing.T, std, sw got) {
				if std.hits != 4 || sw.hits != 3 || !is(sw.err, resilient.ErrCircuitOpen) {
					t.Errorf("server saw std %d, switch %d (last: %v); want 4, and 3 then ErrCircuitOpen", std.hits, sw.hits, sw.err)
				}
			}},
		{doc: docBreaker, name: "a 409 that CheckRetry retries counts against the host",
			rc:   func(rc *retryablehttp.Client) { rc.RetryMax, rc.CheckRetry = 0, retry409 },
			opts: []resilient.Option{breaker}, handle: status(409, "conflict"), calls: 4,
			check: func(t *testing.T, std, sw got) {
				if std.hits != 4 || std.err == nil || sw.hits != 3 || !is(sw.err, resilient.ErrCircuitOpen) {
					t.Errorf("server saw std %d, switch %d (last: %v); want 4, and 3 then ErrCircuitOpen", std.hits, sw.hits, sw.err)
				}
			}},
		{doc: docBreaker, name: "a 503 that CheckRetry does not retry does not",
			rc:   func(rc *retryablehttp.Client) { rc.RetryMax, rc.CheckRetry = 0, never },
			opts: []resilient.Option{breaker}, handle: status(503, "down"), calls: 4,
			check: func(t *testing.T, std, sw got) {
				if std.hits != 4 || sw.hits != 4 || is(sw.err, resilient.ErrCircuitOpen) {
					t.Errorf("server saw std %d, switch %d (last: %v); want 4 each, no refusal", std.hits, sw.hits, sw.err)
				}
			}},

		{doc: docCheckRetry, name: "`false, nil` on a 503: a *StatusError, where go-retryablehttp gives the response",
			rc: func(rc *retryablehttp.Client) { rc.CheckRetry = never }, handle: status(503, "down"),
			check: func(t *testing.T, std, sw got) {
				if std.status != 503 || std.err != nil || std.hits != 1 {
					t.Errorf("std: %d %v after %d; want the 503 response after 1", std.status, std.err, std.hits)
				}
				if se := statusErr(sw.err); se == nil || se.StatusCode != 503 || sw.hits != 1 {
					t.Errorf("switch: %v after %d; want a *StatusError 503 after 1", sw.err, sw.hits)
				}
			}},
		{doc: docCheckRetry, name: "`false, err` on a 401: the error with the response's status and body",
			rc: func(rc *retryablehttp.Client) {
				rc.CheckRetry = func(_ context.Context, resp *http.Response, _ error) (bool, error) {
					if resp != nil && resp.StatusCode == http.StatusUnauthorized {
						return false, errAuth
					}
					return false, nil
				}
			},
			handle: status(401, "expired"),
			check: func(t *testing.T, std, sw got) {
				if !is(std.err, errAuth) || statusErr(std.err) != nil || !strings.Contains(std.err.Error(), "giving up after 1 attempt(s)") {
					t.Errorf("std: %v; want giving up after 1 attempt(s), matching the error, without the response", std.err)
				}
				if se := statusErr(sw.err); se == nil || se.StatusCode != 401 || string(se.Body) != "expired" || !is(sw.err, errAuth) {
					t.Errorf("switch: %v; want a *StatusError 401 with its body, matching the error", sw.err)
				}
			}},
		{doc: docCheckRetry, name: "`true, err`: retried, the error dropped",
			rc: func(rc *retryablehttp.Client) { rc.CheckRetry = retryablehttp.ErrorPropagatedRetryPolicy }, handle: status(503, "down"),
			check: func(t *testing.T, std, sw got) {
				if std.hits != 5 || sw.hits != 5 {
					t.Errorf("server saw std %d, switch %d; want 5 each", std.hits, sw.hits)
				}
				if !strings.Contains(fmt.Sprint(std.err), "unexpected HTTP status 503") || statusErr(sw.err) == nil || strings.Contains(sw.err.Error(), "unexpected HTTP status") {
					t.Errorf("std %v, switch %v; want CheckRetry's error in std's only", std.err, sw.err)
				}
			}},
		{doc: docCheckRetry, name: "a 409 retried until RetryMax comes back as a response",
			rc: func(rc *retryablehttp.Client) { rc.CheckRetry = retry409 }, handle: status(409, "conflict"),
			check: func(t *testing.T, std, sw got) {
				if std.hits != 5 || !strings.Contains(fmt.Sprint(std.err), "giving up after 5 attempt(s)") {
					t.Errorf("std: %v after %d; want giving up after 5 attempt(s)", std.err, std.hits)
				}
				if sw.hits != 5 || sw.err != nil || sw.status != 409 || sw.body != "conflict" {
					t.Errorf("switch: %d %q %v after %d; want the 409 with its body after 5", sw.status, sw.body, sw.err, sw.hits)
				}
			}},
		{doc: docCheckRetry, name: "a 2xx retried until RetryMax comes back as a response",
			rc: func(rc *retryablehttp.Client) {
				rc.CheckRetry = func(_ context.Context, resp *http.Response, err error) (bool, error) {
					return err == nil && resp.StatusCode == http.StatusAccepted, nil // still pending
				}
			},
			handle: status(202, "pending"),
			check: func(t *testing.T, std, sw got) {
				if std.hits != 5 || !strings.Contains(fmt.Sprint(std.err), "giving up after 5 attempt(s)") {
					t.Errorf("std: %v after %d; want giving up after 5 attempt(s)", std.err, std.hits)
				}
				if sw.hits != 5 || sw.err != nil || sw.status != 202 || sw.body != "pending" {
					t.Errorf("switch: %d %q %v after %d; want the 202 with its body after 5", sw.status, sw.body, sw.err, sw.hits)
				}
			}},
		{doc: docCheckRetry, name: "a body CheckRetry read is given back",
			rc: func(rc *retryablehttp.Client) {
				rc.CheckRetry = func(_ context.Context, resp *http.Response, err error) (bool, error) {
					if err == nil {
						io.ReadAll(resp.Body)
					}
					return false, nil
				}
			},
			handle: status(200, `{"order":42}`),
			check: func(t *testing.T, std, sw got) {
				if std.status != 200 || std.body != "" || sw.status != 200 || sw.body != `{"order":42}` {
					t.Errorf("caller read std %q, switch %q; want nothing, and the whole body", std.body, sw.body)
				}
			}},

		{doc: docWaits, name: "Retry-After on a 500 is waited for",
			handle: retryAfterThen(500, "1"),
			check: func(t *testing.T, std, sw got) {
				if std.hits != 2 || sw.hits != 2 || std.status != 200 || sw.status != 200 {
					t.Fatalf("std %d %v after %d, switch %d %v after %d; want 200 after 2 each", std.status, std.err, std.hits, sw.status, sw.err, sw.hits)
				}
				if std.gaps[0] >= 900*time.Millisecond || sw.gaps[0] < 900*time.Millisecond {
					t.Errorf("retry after std %s, switch %s; want DefaultBackoff's milliseconds, and the second asked for", std.gaps[0], sw.gaps[0])
				}
			}},
		{doc: docWaits, name: "an ask above MaxServerWait ends the call at once",
			handle: retryAfterThen(503, "120"), ctx: 300 * time.Millisecond,
			check: func(t *testing.T, std, sw got) {
				if !is(std.err, context.DeadlineExceeded) || statusErr(std.err) != nil || std.took < 250*time.Millisecond {
					t.Errorf("std: %v after %s; want the bare context error, at the deadline", std.err, std.took)
				}
				if se := statusErr(sw.err); se == nil || se.RetryAfter != 2*time.Minute || !is(sw.err, resilient.ErrRetryAfterTooLong) || sw.took >= 250*time.Millisecond {
					t.Errorf("switch: %v after %s; want a *StatusError with RetryAfter 2m, at once", sw.err, sw.took)
				}
				if std.hits != 1 || sw.hits != 1 {
					t.Errorf("server saw std %d, switch %d; want 1 each", std.hits, sw.hits)
				}
			}},
		{doc: docWaits, name: "a wait past the deadline is not started",
			rc: func(rc *retryablehttp.Client) {
				rc.Backoff = func(time.Duration, time.Duration, int, *http.Response) time.Duration { return time.Hour }
			},
			handle: status(503, "down"), ctx: 300 * time.Millisecond,
			check: func(t *testing.T, std, sw got) {
				if !is(std.err, context.DeadlineExceeded) || statusErr(std.err) != nil || std.took < 250*time.Millisecond {
					t.Errorf("std: %v after %s; want the bare context error, at the deadline", std.err, std.took)
				}
				if se := statusErr(sw.err); se == nil || se.StatusCode != 503 || !is(sw.err, resilient.ErrDeadline) || sw.took >= 250*time.Millisecond {
					t.Errorf("switch: %v after %s; want the 503's *StatusError with ErrDeadline, at once", sw.err, sw.took)
				}
			}},

		{doc: docErrors, name: "a final 503: a *StatusError, not a string",
			handle: status(503, "db pool exhausted"),
			check: func(t *testing.T, std, sw got) {
				if statusErr(std.err) != nil || !strings.Contains(fmt.Sprint(std.err), "giving up after 5 attempt(s)") || strings.Contains(fmt.Sprint(std.err), "db pool") {
					t.Errorf("std: %v; want only giving up after 5 attempt(s)", std.err)
				}
				if se := statusErr(sw.err); se == nil || se.StatusCode != 503 || se.Attempts != 5 || string(se.Body) != "db pool exhausted" {
					t.Errorf("switch: %v; want a *StatusError 503 after 5 with the body", sw.err)
				}
			}},
		{doc: docErrors, name: "a 501: a *StatusError, where go-retryablehttp gives the response",
			handle: status(501, "no"),
			check: func(t *testing.T, std, sw got) {
				if std.status != 501 || std.err != nil {
					t.Errorf("std: %d %v; want the 501 response", std.status, std.err)
				}
				if se := statusErr(sw.err); se == nil || se.StatusCode != 501 || sw.hits != 1 {
					t.Errorf("switch: %v after %d; want a *StatusError 501 after 1", sw.err, sw.hits)
				}
			}},
		{doc: docErrors, name: "ErrorHandler is not called",
			rc: func(rc *retryablehttp.Client) {
				rc.ErrorHandler = func(resp *http.Response, err error, n int) (*http.Response, error) {
					if resp != nil {
						resp.Body.Close()
					}
					return nil, fmt.Errorf("handled after %d", n)
				}
			},
			handle: status(503, "down"),
			check: func(t *testing.T, std, sw got) {
				if !strings.Contains(fmt.Sprint(std.err), "handled after 5") || statusErr(sw.err) == nil || strings.Contains(sw.err.Error(), "handled") {
					t.Errorf("std %v, switch %v; want the handler's error in std's only", std.err, sw.err)
				}
			}},

		{doc: docTimeouts, name: "HTTPClient.Timeout no longer bounds reading the body",
			rc: func(rc *retryablehttp.Client) { rc.HTTPClient.Timeout = 200 * time.Millisecond },
			handle: func(_ int64, w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				select {
				case <-time.After(400 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, "slow body")
			},
			check: func(t *testing.T, std, sw got) {
				if std.err != nil || std.readErr == nil {
					t.Errorf("std: %v, reading %v; want the body's read cut by the Timeout", std.err, std.readErr)
				}
				if sw.err != nil || sw.readErr != nil || sw.body != "slow body" {
					t.Errorf("switch: %v, reading %v, %q; want the whole body", sw.err, sw.readErr, sw.body)
				}
			}},

		{doc: docRedirects, name: "each hop is one call with its own retries",
			handle: redirect, req: getA,
			check: func(t *testing.T, std, sw got) {
				if p := std.paths(); !slices.Equal(p, []string{"/a", "/b", "/a", "/b"}) {
					t.Errorf("std: server saw %v; want the whole chain again", p)
				}
				if p := sw.paths(); !slices.Equal(p, []string{"/a", "/b", "/b"}) || sw.body != "b" {
					t.Errorf("switch: server saw %v, body %q; want /b retried alone", p, sw.body)
				}
			}},
		{doc: docRedirects, name: "CheckRedirect's ErrUseLastResponse gives the 3xx back",
			rc: func(rc *retryablehttp.Client) {
				rc.HTTPClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			},
			handle: func(_ int64, w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/a" {
					http.Redirect(w, r, "/b", http.StatusFound)
					return
				}
				io.WriteString(w, "b")
			},
			req: getA,
			check: func(t *testing.T, std, sw got) {
				if p := std.paths(); !slices.Equal(p, []string{"/a", "/b"}) || std.status != 200 {
					t.Errorf("std: server saw %v, status %d; want the redirect followed by the outer client", p, std.status)
				}
				if p := sw.paths(); !slices.Equal(p, []string{"/a"}) || sw.status != 302 {
					t.Errorf("switch: server saw %v, status %d; want the 302", p, sw.status)
				}
			}},

		{doc: docHooks, name: "RequestLogHook's changes: that attempt's only, the caller's request untouched",
			rc: func(rc *retryablehttp.Client) {
				rc.RequestLogHook = func(_ retryablehttp.Logger, r *http.Request, n int) { r.Header.Add("X-Hook", strconv.Itoa(n)) }
			},
			handle: failThen(2, 503),
			check: func(t *testing.T, std, sw got) {
				if h := std.headers("X-Hook"); !slices.Equal(h, []string{"0", "0,1", "0,1,2"}) || std.caller.Header.Get("X-Hook") == "" {
					t.Errorf("std: server saw X-Hook %q, caller's %q; want them piling up, on the caller's request", h, std.caller.Header.Values("X-Hook"))
				}
				if h := sw.headers("X-Hook"); !slices.Equal(h, []string{"0", "1", "2"}) || len(sw.caller.Header) != 0 {
					t.Errorf("switch: server saw X-Hook %q, caller's header %v; want one per attempt, the caller's untouched", h, sw.caller.Header)
				}
			}},
		{doc: docHooks, name: "PrepareRetry's changes persist, and the caller's request is untouched",
			rc: func(rc *retryablehttp.Client) {
				rc.PrepareRetry = func(r *http.Request) error { r.Header.Add("X-Prepared", "p"); return nil }
			},
			handle: failThen(2, 503),
			check: func(t *testing.T, std, sw got) {
				want := []string{"", "p", "p,p"}
				if h := std.headers("X-Prepared"); !slices.Equal(h, want) || std.caller.Header.Get("X-Prepared") == "" {
					t.Errorf("std: server saw %q, caller's %q; want %q, and the caller's header changed", h, std.caller.Header.Values("X-Prepared"), want)
				}
				if h := sw.headers("X-Prepared"); !slices.Equal(h, want) || len(sw.caller.Header) != 0 {
					t.Errorf("switch: server saw %q, caller's header %v; want %q, the caller's untouched", h, sw.caller.Header, want)
				}
			}},
		{doc: docHooks, name: "a PrepareRetry error ends the call with a *TransportError",
			rc: func(rc *retryablehttp.Client) {
				rc.PrepareRetry = func(*http.Request) error { return errAuth }
			},
			handle: status(503, "down"),
			check: func(t *testing.T, std, sw got) {
				var te *resilient.TransportError
				if std.hits != 1 || sw.hits != 1 || !is(std.err, errAuth) || !errors.As(sw.err, &te) || !is(sw.err, errAuth) {
					t.Errorf("std %v after %d, switch %v after %d; want each to match the error after 1, the switch's a *TransportError", std.err, std.hits, sw.err, sw.hits)
				}
			}},

		{doc: docLogs, name: "a Logger of another type: New panics with ErrInvalidOption, go-retryablehttp at its first line",
			custom: func(t *testing.T) {
				srv := newServer(t, status(200, "ok"))
				rc := quick()
				rc.Logger = "stderr"
				m := migration{handle: status(200, "ok")}
				std := m.run(t, srv, rc.StandardClient())
				rc.HTTPClient.CloseIdleConnections()
				sw := recoverFrom(func() { fromretryable.New(rc) })
				if err, ok := sw.(error); std.panicked == nil || !ok || !is(err, resilient.ErrInvalidOption) {
					t.Errorf("std panicked with %v in its request, switch with %v; want a panic each, the switch's at New matching ErrInvalidOption", std.panicked, sw)
				}
			}},

		{doc: docConns, name: "a retried 32 KiB error body costs at most its own connection",
			rc: func(rc *retryablehttp.Client) { rc.RetryMax = 1 },
			handle: func(n int64, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.WriteHeader(503)
					w.Write(bytes.Repeat([]byte("e"), 32<<10))
					return
				}
				io.WriteString(w, "ok")
			},
			check: func(t *testing.T, std, sw got) {
				if std.dials != 2 || sw.dials > 2 || sw.status != 200 {
					t.Errorf("connections: std %d, switch %d; want 2 (4 KiB drained) and at most 2", std.dials, sw.dials)
				}
			}},
		{doc: docConns, name: "a failed call empties go-retryablehttp's pool, other hosts' connections included",
			custom: func(t *testing.T) {
				ok, down := newServer(t, status(200, "ok")), newServer(t, status(503, "down"))
				m := migration{rc: noRetries}
				for _, c := range m.clients(t) {
					ok.reset()
					for _, u := range []string{ok.URL, down.URL, ok.URL} {
						if resp, err := c.client.Get(u); err == nil {
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
						}
					}
					want := map[string]int64{"std": 2, "switch": 1}[c.name]
					if got := ok.dials.Load(); got != want {
						t.Errorf("%s: the healthy host saw %d connections for 2 calls around a failed call to another, want %d", c.name, got, want)
					}
				}
			}},
		{doc: docConns, name: "a body without GetBody, longer than 2 MiB, is sent once",
			handle: status(503, "down"),
			req: func(ctx context.Context, u string) *http.Request {
				big := bytes.Repeat([]byte("x"), 3<<20)
				r, _ := http.NewRequestWithContext(ctx, http.MethodPut, u, bufio.NewReader(bytes.NewReader(big))) // no GetBody
				r.ContentLength = int64(len(big))
				return r
			},
			check: func(t *testing.T, std, sw got) {
				if std.hits != 5 || sw.hits != 1 || !is(sw.err, resilient.ErrBodyNotReplayable) {
					t.Errorf("server saw std %d, switch %d (%v); want 5, and 1 with ErrBodyNotReplayable", std.hits, sw.hits, sw.err)
				}
				for i, b := range append(std.bodies, sw.bodies...) {
					if len(b) != 3<<20 {
						t.Errorf("request %d carried %d bytes, want all 3 MiB", i, len(b))
					}
				}
			}},
	}
}

// TestMigrating_differences: every difference docs/migrating.md states,
// shown against rc.StandardClient() on the same server.
func TestMigrating_differences(t *testing.T) {
	for _, m := range differences() {
		t.Run(m.name, func(t *testing.T) { m.compare(t) })
	}
}

// TestMigrating_docNamesEveryCase: each paragraph of the document's "What
// differs, and why" has a case, and each case names a paragraph that is
// there.
func TestMigrating_docNamesEveryCase(t *testing.T) {
	b, err := os.ReadFile("../docs/migrating.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "## What differs, and why")
	if !ok {
		t.Fatal(`docs/migrating.md has no "What differs, and why"`)
	}
	var leads []string
	for _, para := range strings.Split(section, "\n\n") {
		if rest, ok := strings.CutPrefix(para, "**"); ok {
			lead, _, _ := strings.Cut(rest, "**")
			leads = append(leads, lead)
		}
	}
	tested := map[string]bool{}
	for _, m := range differences() {
		tested[m.doc] = true
		if !slices.Contains(leads, m.doc) {
			t.Errorf("case %q checks %q, which docs/migrating.md does not say", m.name, m.doc)
		}
	}
	for _, l := range leads {
		if !tested[l] {
			t.Errorf("docs/migrating.md says %q, and no case shows it", l)
		}
	}
}

// TestMigrating_logs: go-retryablehttp logs a line per request with the
// query's secrets; the switch logs its retry, redacted.
func TestMigrating_logs(t *testing.T) {
	srv := newServer(t, failThen(1, 503))
	u := srv.URL + "/orders?token=secret"
	stdLog, swLog := &printfLogger{}, &printfLogger{}
	rc := quick()
	rc.Logger = stdLog
	if resp, err := rc.StandardClient().Get(u); err == nil {
		resp.Body.Close()
	}
	rc.HTTPClient.CloseIdleConnections()
	srv.reset()
	rc = quick()
	rc.Logger = swLog
	c := fromretryable.New(rc)
	defer resilient.Close(c)
	if resp, err := c.Get(u); err == nil {
		resp.Body.Close()
	}
	std, sw := strings.Join(stdLog.all(), "\n"), strings.Join(swLog.all(), "\n")
	if !strings.Contains(std, "[DEBUG] GET "+u) || !strings.Contains(std, "token=secret") {
		t.Errorf("std logged:\n%s\nwant a line per request, with the token", std)
	}
	if strings.Contains(sw, "secret") || strings.Count(sw, "[DEBUG] resilient: retrying") != 1 || strings.Contains(sw, "[DEBUG] GET") || !strings.Contains(sw, "token=REDACTED") {
		t.Errorf("switch logged:\n%s\nwant one retry line, redacted, and no line per request", sw)
	}
}

// TestMigrating_sameAsRetryablehttp: what must not differ, among it the
// four cases the switch once got wrong: a RateLimit-Reset given as a Unix
// time, a RetryWaitMax that bounds the jitter under a 429 that asks for a
// second (GitLab's configuration), CheckRetry reading a body that
// ResponseLogHook reads too, and a cookie set by a retried response.
func TestMigrating_sameAsRetryablehttp(t *testing.T) {
	t.Run("GitLab: a 429 with Retry-After and RateLimit-Reset as a Unix time, RetryWaitMax 400ms", func(t *testing.T) {
		var asked time.Duration // from the 429 to the reset it announced
		srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				now := time.Now()
				reset := now.Add(1500 * time.Millisecond).Truncate(time.Second)
				asked = reset.Sub(now)
				w.Header().Set("RateLimit-Remaining", "0")
				w.Header().Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			io.WriteString(w, "ok")
		})
		m := migration{rc: gitlab}
		for _, c := range m.clients(t) {
			g := m.run(t, srv, c.client)
			if g.hits != 2 || g.status != 200 || g.body != "ok" || g.gaps[0] < asked-50*time.Millisecond {
				t.Errorf("%s: %d %v after %d, retried after %v; want ok after 2, retried at the reset, %s after the 429", c.name, g.status, g.err, g.hits, g.gaps, asked)
			}
		}
	})
	t.Run("CheckRetry reads the body before ResponseLogHook", func(t *testing.T) {
		srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				io.WriteString(w, `{"state":"retry"}`)
				return
			}
			io.WriteString(w, `{"state":"done"}`)
		})
		var mu sync.Mutex
		var order []string
		m := migration{rc: func(rc *retryablehttp.Client) {
			rc.CheckRetry = func(_ context.Context, resp *http.Response, err error) (bool, error) {
				if err != nil {
					return true, nil
				}
				b, _ := io.ReadAll(resp.Body)
				mu.Lock()
				order = append(order, "check "+string(b))
				mu.Unlock()
				return bytes.Contains(b, []byte("retry")), nil
			}
			rc.ResponseLogHook = func(_ retryablehttp.Logger, resp *http.Response) {
				b, _ := io.ReadAll(resp.Body) // a log hook that reads the body
				mu.Lock()
				order = append(order, fmt.Sprintf("log %d bytes", len(b)))
				mu.Unlock()
			}
		}}
		for _, c := range m.clients(t) {
			mu.Lock()
			order = nil
			mu.Unlock()
			g := m.run(t, srv, c.client)
			want := []string{`check {"state":"retry"}`, "log 0 bytes", `check {"state":"done"}`, "log 0 bytes"}
			mu.Lock()
			if g.hits != 2 || !slices.Equal(order, want) {
				t.Errorf("%s: %d requests, hooks ran %q; want 2, and %q", c.name, g.hits, order, want)
			}
			mu.Unlock()
		}
	})
	t.Run("a cookie set by a retried 503 goes with the retry and stays in the jar", func(t *testing.T) {
		srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				http.SetCookie(w, &http.Cookie{Name: "lb", Value: "backend-2"})
				w.WriteHeader(503)
				return
			}
			io.WriteString(w, "ok")
		})
		jars := map[string]*cookiejar.Jar{}
		m := migration{rc: func(rc *retryablehttp.Client) {
			jar, _ := cookiejar.New(nil)
			rc.HTTPClient.Jar = jar
			jars[fmt.Sprint(len(jars))] = jar
		}}
		for i, c := range m.clients(t) {
			g := m.run(t, srv, c.client)
			u, _ := url.Parse(srv.URL)
			if h := g.headers("Cookie"); !slices.Equal(h, []string{"", "lb=backend-2"}) || g.status != 200 {
				t.Errorf("%s: server saw cookies %q, status %d; want none, then lb=backend-2", c.name, h, g.status)
			}
			if got := jars[fmt.Sprint(i)].Cookies(u); len(got) != 1 || got[0].Value != "backend-2" {
				t.Errorf("%s: the jar holds %v, want lb=backend-2", c.name, got)
			}
		}
	})
	t.Run("PassthroughErrorHandler gives the last 5xx back", func(t *testing.T) {
		srv := newServer(t, status(503, "down"))
		m := migration{rc: func(rc *retryablehttp.Client) { rc.ErrorHandler = retryablehttp.PassthroughErrorHandler }}
		for _, c := range m.clients(t) {
			if g := m.run(t, srv, c.client); g.status != 503 || g.err != nil || g.body != "down" || g.hits != 5 {
				t.Errorf("%s: %d %q %v after %d; want the 503 response after 5", c.name, g.status, g.body, g.err, g.hits)
			}
		}
	})
}

// named is a client under test, named for messages.
type named struct {
	name   string
	client *http.Client
}

// clients returns the two clients of m, each with a go-retryablehttp
// client configured afresh: rc.StandardClient() and the switch.
func (m migration) clients(t *testing.T) []named {
	config := func() *retryablehttp.Client {
		rc := quick()
		if m.rc != nil {
			m.rc(rc)
		}
		return rc
	}
	rc := config()
	t.Cleanup(rc.HTTPClient.CloseIdleConnections)
	sw := fromretryable.New(config(), m.opts...)
	t.Cleanup(func() { resilient.Close(sw) })
	return []named{{"std", rc.StandardClient()}, {"switch", sw}}
}

// gitlab configures rc as GitLab's Go client (gitlab.com/gitlab-org/api/client-go)
// does: its CheckRetry, its Backoff, RetryWaitMin 100ms, RetryWaitMax 400ms.
func gitlab(rc *retryablehttp.Client) {
	rc.RetryMax = 5
	rc.RetryWaitMin, rc.RetryWaitMax = 100*time.Millisecond, 400*time.Millisecond
	rc.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if err != nil {
			return false, err
		}
		return resp.StatusCode == 429 || resp.StatusCode >= 500, nil
	}
	rc.Backoff = func(min, max time.Duration, n int, resp *http.Response) time.Duration {
		if resp != nil && resp.StatusCode == 429 { // rateLimitBackoff
			jitter := time.Duration(rand.Float64() * float64(max-min))
			if v := resp.Header.Get("RateLimit-Reset"); v != "" {
				if reset, _ := strconv.ParseInt(v, 10, 64); reset > 0 {
					if wait := time.Until(time.Unix(reset, 0)); wait > min {
						min = wait
					}
				}
			} else {
				min = time.Duration(float64(min) * float64(int64(1)<<n))
			}
			return min + jitter
		}
		return retryablehttp.LinearJitterBackoff(700*time.Millisecond, 900*time.Millisecond, n, resp)
	}
}
