package resilient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestTransport_RoundTrip_attemptsPerMethodAndStatus(t *testing.T) {
	cases := []struct {
		name       string
		method     string
		key        bool
		code       int
		wantHits   int64
		wantStatus bool // a *StatusError, rather than a plain response
	}{
		{"GET 503 retried", http.MethodGet, false, 503, 4, true},
		{"GET 500 retried", http.MethodGet, false, 500, 4, true},
		{"GET 502 retried", http.MethodGet, false, 502, 4, true},
		{"GET 504 retried", http.MethodGet, false, 504, 4, true},
		{"GET 429 retried", http.MethodGet, false, 429, 4, true},
		{"GET 408 retried, then passed through", http.MethodGet, false, 408, 4, false},
		{"HEAD 503 retried", http.MethodHead, false, 503, 4, true},
		{"PUT 503 retried", http.MethodPut, false, 503, 4, true},
		{"DELETE 503 retried", http.MethodDelete, false, 503, 4, true},
		{"OPTIONS 503 retried", http.MethodOptions, false, 503, 4, true},
		{"POST 503 sent once", http.MethodPost, false, 503, 1, true},
		{"PATCH 503 sent once", http.MethodPatch, false, 503, 1, true},
		{"POST with Idempotency-Key retried", http.MethodPost, true, 503, 4, true},
		{"PATCH with Idempotency-Key retried", http.MethodPatch, true, 503, 4, true},
		{"GET 404 passed through", http.MethodGet, false, 404, 1, false},
		{"GET 400 passed through", http.MethodGet, false, 400, 1, false},
		{"GET 501 not retried", http.MethodGet, false, 501, 1, true},
		{"GET 505 not retried", http.MethodGet, false, 505, 1, true},
		{"GET 511 not retried", http.MethodGet, false, 511, 1, true},
		{"GET 507 retried", http.MethodGet, false, 507, 4, true},
		{"GET 522 (Cloudflare) retried", http.MethodGet, false, 522, 4, true},
		{"GET 530 (Cloudflare) retried", http.MethodGet, false, 530, 4, true},
		{"GET 599 retried", http.MethodGet, false, 599, 4, true},
		{"POST 522 sent once", http.MethodPost, false, 522, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, status(tc.code, "body"))
			c := newClient(t, WithRetry(fast), WithBreaker(Breaker{Disabled: true}))
			req := must[*http.Request](t)(http.NewRequest(tc.method, srv.URL, strings.NewReader("payload")))
			if tc.key {
				req.Header.Set("Idempotency-Key", "k-1")
			}
			resp, err := c.Do(req)
			if got := srv.hits.Load(); got != tc.wantHits {
				t.Errorf("server saw %d attempts, want %d", got, tc.wantHits)
			}
			var se *StatusError
			if tc.wantStatus {
				if !errors.As(err, &se) {
					t.Fatalf("err = %v (resp %v), want *StatusError", err, resp)
				}
				if se.StatusCode != tc.code || se.Attempts != int(tc.wantHits) || se.Method != tc.method {
					t.Errorf("StatusError = {%d, attempts %d, %s}, want {%d, %d, %s}", se.StatusCode, se.Attempts, se.Method, tc.code, tc.wantHits, tc.method)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want the plain %d response", err, tc.code)
			}
			if resp.StatusCode != tc.code || readAll(t, resp) != "body" {
				t.Errorf("resp = %d, want %d with its body intact", resp.StatusCode, tc.code)
			}
		})
	}
}

func TestTransport_RoundTrip_succeedsAfterRetries(t *testing.T) {
	srv := newServer(t, failThen(2, 503))
	c := newClient(t, WithRetry(fast))
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); body != "ok" || srv.hits.Load() != 3 {
		t.Errorf("body %q after %d attempts, want ok after 3", body, srv.hits.Load())
	}
}

func TestTransport_RoundTrip_replaysIdenticalBodyOnEveryAttempt(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	srv := newServer(t, failThen(3, 502))
	c := newClient(t, WithRetry(fast))
	req := must[*http.Request](t)(http.NewRequest(http.MethodPut, srv.URL, bytes.NewReader(payload)))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := sha256.Sum256(payload)
	if len(srv.bodies) != 4 {
		t.Fatalf("server saw %d attempts, want 4", len(srv.bodies))
	}
	for i, b := range srv.bodies {
		if sha256.Sum256([]byte(b)) != want {
			t.Errorf("attempt %d: body of %d bytes differs from the 1 MiB sent", i+1, len(b))
		}
		if cl := srv.seen[i].ContentLength; cl != int64(len(payload)) {
			t.Errorf("attempt %d: Content-Length %d, want %d (not chunked)", i+1, cl, len(payload))
		}
	}
}

// onceBody is a caller's body that may be read once, by the first attempt,
// as net/http does; a retry must use GetBody instead of a copy of it.
type onceBody struct {
	r      io.Reader
	reads  int
	closed bool
}

func (b *onceBody) Read(p []byte) (int, error) {
	b.reads++
	return b.r.Read(p)
}
func (b *onceBody) Close() error { b.closed = true; return nil }

func TestTransport_RoundTrip_usesGetBodyAndNeverMutatesTheRequest(t *testing.T) {
	srv := newServer(t, failThen(1, 503))
	c := newClient(t, WithRetry(fast))
	req := must[*http.Request](t)(http.NewRequest(http.MethodPut, srv.URL+"/p?q=1", nil))
	body := &onceBody{r: strings.NewReader("hello")}
	gets := 0
	req.Body = body
	req.ContentLength = 5
	req.GetBody = func() (io.ReadCloser, error) { gets++; return io.NopCloser(strings.NewReader("hello")), nil }
	req.Header.Set("X-Caller", "yes")
	before := *req
	beforeURL := *req.URL
	beforeHeader := req.Header.Clone()

	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request != req {
		t.Error("resp.Request is not the caller's request")
	}
	if srv.bodies[0] != "hello" || srv.bodies[1] != "hello" {
		t.Errorf("server bodies %q, want hello twice", srv.bodies)
	}
	if !body.closed {
		t.Error("the caller's Body was not closed, as http.RoundTripper requires")
	}
	if gets < 1 || body.reads > 2 {
		t.Errorf("GetBody called %d times, Body read %d times: the retry must use GetBody", gets, body.reads)
	}
	if req.Body != before.Body || req.ContentLength != 5 || req.Method != before.Method ||
		*req.URL != beforeURL || req.Context() != before.Context() || len(req.Header) != len(beforeHeader) ||
		req.Header.Get("Traceparent") != "" {
		t.Errorf("the caller's request was modified: %+v", req)
	}
}

func TestTransport_RoundTrip_neverResendsUnreplayableBody(t *testing.T) {
	srv := newServer(t, status(503, "down"))
	c := newClient(t, WithRetry(fast), WithReplayLimit(3))
	// An io.Reader without GetBody, longer than the replay limit, cannot be
	// sent twice.
	req := must[*http.Request](t)(http.NewRequest(http.MethodPut, srv.URL, io.MultiReader(strings.NewReader("once"))))
	_, err := c.Do(req)
	if StatusCode(err) != 503 || srv.hits.Load() != 1 || srv.bodies[0] != "once" || !errors.Is(err, ErrBodyNotReplayable) {
		t.Errorf("err %v, %d attempts with %q; want one 503 attempt with the whole body", err, srv.hits.Load(), srv.bodies)
	}
}

func TestTransport_RoundTrip_retriesPOSTOnlyWhenNeverSent(t *testing.T) {
	// A port nobody listens on: the dial is refused, nothing reached a server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, WithRetry(fast), WithBreaker(Breaker{Disabled: true}))
	_, err = c.Post("http://"+addr+"/orders", "text/plain", strings.NewReader("x"))
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want *TransportError", err)
	}
	if te.Attempts != 4 {
		t.Errorf("Attempts = %d, want 4: a refused dial proves the POST was never sent", te.Attempts)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(err, ECONNREFUSED) = false for %v", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) {
		t.Errorf("err does not satisfy net.Error: %v", err)
	}
	if !IsRetryable(err) || Attempts(err) != 4 {
		t.Errorf("IsRetryable = %v, Attempts = %d", IsRetryable(err), Attempts(err))
	}
}

func TestTransport_RoundTrip_honoursRetryAfter(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	})
	clk := newFakeClock()
	c := newClient(t, WithRetry(Retry{MinWait: time.Millisecond}), withClock(clk))
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if w := clk.waits(); len(w) != 1 || w[0] != time.Second {
		t.Errorf("waits %v; the server asked for 1s and Retry-After must never be shortened", w)
	}
}

func TestTransport_RoundTrip_backoffIsJitteredExponentialUpToMaxWait(t *testing.T) {
	srv := newServer(t, status(503, "busy"))
	clk := newFakeClock()
	r := Retry{Max: 6, MinWait: 100 * time.Millisecond, MaxWait: time.Second, Budget: RetryBudget{Disabled: true}}
	c := newClient(t, WithRetry(r), withClock(clk), withRand(half), WithBreaker(Breaker{Disabled: true}))
	if _, err := c.Get(srv.URL); Attempts(err) != 7 {
		t.Fatalf("err = %v, want 7 attempts", err)
	}
	// Half of the ceiling: 100ms·2ⁿ, capped at 1s.
	want := []time.Duration{50, 100, 200, 400, 500, 500}
	got := clk.waits()
	if len(got) != len(want) {
		t.Fatalf("waits %v, want %v ms", got, want)
	}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Errorf("wait %d = %s, want %dms", i, got[i], want[i])
		}
	}
}

func TestTransport_RoundTrip_stopsWhenRetryAfterExceedsMaxWait(t *testing.T) {
	for _, h := range []struct{ name, value string }{
		{"Retry-After", "30"},
		{"Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)},
		{"RateLimit-Reset", "60"},
		{"RateLimit", `"default";r=0;t=45`},
	} {
		t.Run(h.name+"="+h.value, func(t *testing.T) {
			srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set(h.name, h.value)
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			c := newClient(t, WithRetry(Retry{Max: 3, MaxWait: 5 * time.Second}))
			start := time.Now()
			_, err := c.Get(srv.URL)
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *StatusError", err)
			}
			if srv.hits.Load() != 1 || se.Attempts != 1 {
				t.Errorf("%d attempts, want 1: the wait asked for is above MaxWait", srv.hits.Load())
			}
			if se.RetryAfter < 29*time.Second || !errors.Is(err, ErrRetryAfterTooLong) {
				t.Errorf("RetryAfter = %s, Is(ErrRetryAfterTooLong) = %v", se.RetryAfter, errors.Is(err, ErrRetryAfterTooLong))
			}
			if time.Since(start) > 4*time.Second {
				t.Errorf("took %s: it should stop at once, not wait", time.Since(start))
			}
		})
	}
}

// TestTransport_RoundTrip_waitsForARateLimitResetGivenAsUnixTime: GitLab's
// 429 carries RateLimit-Reset as a Unix time, GitHub's X-RateLimit-Reset
// too; the retry waits until then, where reading it as seconds made it
// "server asks to retry after 499078h" and ended the call.
func TestTransport_RoundTrip_waitsForARateLimitResetGivenAsUnixTime(t *testing.T) {
	for _, prefix := range []string{"", "X-"} {
		t.Run(prefix+"RateLimit-Reset", func(t *testing.T) {
			clk := newFakeClock()
			srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set(prefix+"RateLimit-Remaining", "0")
					w.Header().Set(prefix+"RateLimit-Reset", strconv.FormatInt(clk.Now().Add(3*time.Second).Unix(), 10))
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				io.WriteString(w, "ok")
			})
			c := newClient(t, withClock(clk), WithRetry(Retry{Budget: RetryBudget{Disabled: true}}))
			resp, err := c.Get(srv.URL)
			if err != nil || readAll(t, resp) != "ok" || srv.hits.Load() != 2 {
				t.Fatalf("got %v after %d requests, want ok after 2", err, srv.hits.Load())
			}
			if got := clk.waits(); len(got) != 1 || got[0] != 3*time.Second {
				t.Errorf("waits %v, want [3s]: until the reset", got)
			}
		})
	}
}

func TestTransport_RoundTrip_stopsBeforeCrossingTheDeadline(t *testing.T) {
	srv := newServer(t, status(503, "busy"))
	// The backoff draws its maximum: 1s, beyond the 200ms left.
	c := newClient(t, WithRetry(Retry{MinWait: time.Second, MaxWait: 2 * time.Second}), withRand(func() float64 { return 0.999 }))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil))
	_, err := c.Do(req)
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *StatusError with the last status, not a bare deadline error", err)
	}
	if se.StatusCode != 503 || se.Attempts != 1 || !errors.Is(err, ErrDeadline) || string(se.Body) != "busy" {
		t.Errorf("StatusError = %d after %d attempts, body %q, Stop %v", se.StatusCode, se.Attempts, se.Body, se.Stop)
	}
	if ctx.Err() != nil {
		t.Error("the call slept until the deadline instead of stopping at once")
	}
}

func TestTransport_RoundTrip_cancelDuringWaitReturnsAtOnce(t *testing.T) {
	srv := newServer(t, status(503, "busy"))
	c := newClient(t, WithRetry(Retry{MinWait: 10 * time.Second, MaxWait: 10 * time.Second}), withRand(func() float64 { return 0.999 }))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil))
	start := time.Now()
	_, err := c.Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want errors.Is(err, context.Canceled)", err)
	}
	if StatusCode(err) != 503 {
		t.Errorf("StatusCode(err) = %d, want the last status 503", StatusCode(err))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %s; a 10s wait must end at cancellation", d)
	}
}

func TestTransport_RoundTrip_boundsErrorBody(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 8<<20)
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
		w.Write(big)
	})
	c := newClient(t, WithRetry(Retry{Max: -1}))
	_, err := c.Get(srv.URL)
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
	if len(se.Body) != DefaultErrorBodyLimit || !se.Truncated {
		t.Errorf("Body is %d bytes, Truncated %v; want %d, true", len(se.Body), se.Truncated, DefaultErrorBodyLimit)
	}
	if len(se.Error()) > 600 {
		t.Errorf("Error() is %d bytes long; it should be one short line", len(se.Error()))
	}
}

func TestTransport_RoundTrip_parsesProblemDetails(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
		w.Header().Set("X-Request-Id", "7f3a9c")
		w.WriteHeader(503)
		io.WriteString(w, `{"type":"https://example.com/probs/db","title":"Database unavailable","status":503,"detail":"pool exhausted","instance":"/orders/42","retryable":true}`)
	})
	c := newClient(t, WithRetry(Retry{Max: -1}))
	_, err := c.Get(srv.URL + "/orders/42")
	var se *StatusError
	if !errors.As(err, &se) || se.Problem == nil {
		t.Fatalf("err = %v, want *StatusError with Problem", err)
	}
	want := Problem{Type: "https://example.com/probs/db", Title: "Database unavailable", Status: 503, Detail: "pool exhausted", Instance: "/orders/42"}
	p := *se.Problem
	if p.Type != want.Type || p.Title != want.Title || p.Status != want.Status || p.Detail != want.Detail || p.Instance != want.Instance || p.Extras["retryable"] != true {
		t.Errorf("Problem = %+v, want %+v with Extras[retryable]", p, want)
	}
	if se.RequestID != "7f3a9c" {
		t.Errorf("RequestID = %q", se.RequestID)
	}
	msg := err.Error()
	for _, s := range []string{"503 Service Unavailable", "after 1 attempt", "request 7f3a9c", "Database unavailable: pool exhausted"} {
		if !strings.Contains(msg, s) {
			t.Errorf("Error() = %q, missing %q", msg, s)
		}
	}
}

func TestTransport_RoundTrip_errorsCarryNoSecrets(t *testing.T) {
	srv := newServer(t, status(503, "down"))
	c := newClient(t, WithRetry(fast), WithRedactedParams("session_hint"))
	u, _ := url.Parse(srv.URL)
	u.User = url.UserPassword("alice", "hunter2-pw")
	u.RawQuery = "id=42&access_token=tok-SECRET1&api_key=key-SECRET2&sig=sig-SECRET3&session_hint=hint-SECRET4"
	req := must[*http.Request](t)(http.NewRequest(http.MethodGet, u.String(), nil))
	req.Header.Set("Authorization", "Bearer bearer-SECRET5")
	req.Header.Set("Cookie", "sid=cookie-SECRET6")
	_, err := c.Do(req)
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
	texts := []string{se.Error(), se.URL, strings.Join(se.Header.Values("Set-Cookie"), "")}
	for _, txt := range texts {
		for _, secret := range []string{"hunter2-pw", "alice", "SECRET"} {
			if strings.Contains(txt, secret) {
				t.Errorf("%q leaks %q", txt, secret)
			}
		}
	}
	if !strings.Contains(se.URL, "id=42") || !strings.Contains(se.URL, "access_token=REDACTED") {
		t.Errorf("URL = %q: want non-secret params kept and secret values replaced", se.URL)
	}
}

func TestTransport_RoundTrip_setCookieIsDroppedFromStatusErrorHeader(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s3cr3t"})
		w.Header().Set("X-Other", "kept")
		w.WriteHeader(500)
	})
	c := newClient(t, WithRetry(Retry{Max: -1}))
	_, err := c.Get(srv.URL)
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatal(err)
	}
	if se.Header.Get("Set-Cookie") != "" || se.Header.Get("X-Other") != "kept" {
		t.Errorf("Header = %v", se.Header)
	}
}

func TestDefaultClient_replacedByNew_retriesHTTPGet(t *testing.T) {
	srv := newServer(t, failThen(2, 503))
	old := http.DefaultClient
	http.DefaultClient = newClient(t, WithRetry(fast))
	defer func() { http.DefaultClient = old }()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if srv.hits.Load() != 3 {
		t.Errorf("server saw %d attempts, want 3", srv.hits.Load())
	}
}

func TestTransport_RoundTrip_atMostOneConnectionPerFailure(t *testing.T) {
	// A failed attempt's connection is retired (conns.go), so that its
	// retry may reach another backend; that costs at most one new
	// connection per failed attempt. go-retryablehttp calls
	// CloseIdleConnections after every failure, which empties the whole
	// pool (TestConns_otherPoolsKept: ours is kept).
	srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n%3 != 0 {
			w.WriteHeader(503)
			w.Write(bytes.Repeat([]byte("e"), 32<<10)) // beyond go-retryablehttp's 4 KiB drain
			return
		}
		io.WriteString(w, "ok")
	})
	r := fast
	r.Budget.Disabled = true
	c := newClient(t, WithRetry(r), WithBreaker(Breaker{Disabled: true}))
	for i := 0; i < 10; i++ {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	if srv.hits.Load() != 30 || srv.dials.Load() > 1+20 {
		t.Errorf("%d requests over %d connections; want 30 over at most 21: the first, and one per failed attempt", srv.hits.Load(), srv.dials.Load())
	}
}

func TestTransport_RoundTrip_500WithoutRetriesAtMostOneConnectionPerFailure(t *testing.T) {
	srv := newServer(t, status(500, `{"error":"boom"}`))
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(Breaker{Disabled: true}))
	for i := 0; i < 20; i++ {
		if _, err := c.Get(srv.URL); StatusCode(err) != 500 {
			t.Fatalf("err = %v", err)
		}
	}
	if srv.dials.Load() > 20 {
		t.Errorf("20 failed calls opened %d connections, want at most one per failed call", srv.dials.Load())
	}
}

func TestTransport_RoundTrip_writesNothingToStderr(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	srv := newServer(t, failThen(2, 503))
	c := New(WithRetry(fast))
	resp, err := c.Get(srv.URL)
	os.Stderr = old
	w.Close()
	Close(c)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out, _ := io.ReadAll(r)
	if len(out) != 0 {
		t.Errorf("wrote to stderr: %q", out)
	}
}

func TestTransport_RoundTrip_followsRedirectsOnce(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/a" {
			http.Redirect(w, r, "/b", http.StatusFound)
			return
		}
		io.WriteString(w, "b")
	})
	c := newClient(t)
	resp, err := c.Get(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	if readAll(t, resp) != "b" || srv.hits.Load() != 2 {
		t.Errorf("redirect took %d requests, want 2 (one per hop)", srv.hits.Load())
	}

	loop := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/again", http.StatusFound)
	})
	_, err = c.Get(loop.URL)
	if err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") || loop.hits.Load() != 10 {
		t.Errorf("redirect loop: %v after %d requests, want net/http's limit of 10", err, loop.hits.Load())
	}
}

func TestNew_withTimeout_boundsTheWholeCall(t *testing.T) {
	srv := newServer(t, hang)
	c := newClient(t, WithTimeout(300*time.Millisecond), WithRetry(Retry{AttemptTimeout: -1}))
	start := time.Now()
	_, err := c.Get(srv.URL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %s, want about 300ms", d)
	}
}

func TestTransport_RoundTrip_attemptTimeoutRetriesAHungAttempt(t *testing.T) {
	for _, own := range []bool{true, false} {
		name := "our transport"
		if !own {
			name = "caller's transport"
		}
		t.Run(name, func(t *testing.T) {
			release := make(chan struct{})
			srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					select {
					case <-release:
					case <-r.Context().Done():
					}
					return
				}
				io.WriteString(w, "ok")
			})
			defer close(release)
			opts := []Option{WithRetry(Retry{MinWait: time.Millisecond, MaxWait: time.Millisecond, AttemptTimeout: 200 * time.Millisecond})}
			var c *http.Client
			if own {
				c = newClient(t, opts...)
			} else {
				base := http.DefaultTransport.(*http.Transport).Clone()
				defer base.CloseIdleConnections()
				c = &http.Client{Transport: NewTransport(base, opts...)}
			}
			resp, err := c.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			if readAll(t, resp) != "ok" || srv.hits.Load() != 2 {
				t.Errorf("%d attempts; want the hung one abandoned and one more", srv.hits.Load())
			}
		})
	}
}

func TestTransport_RoundTrip_attemptTimeoutOnEveryAttemptIsATypedTimeout(t *testing.T) {
	srv := newServer(t, hang)
	c := newClient(t, WithRetry(Retry{Max: 1, MinWait: time.Millisecond, MaxWait: time.Millisecond, AttemptTimeout: 100 * time.Millisecond}))
	_, err := c.Get(srv.URL)
	var te *TransportError
	if !errors.As(err, &te) || !errors.Is(err, ErrAttemptTimeout) || te.Attempts != 2 || !te.Timeout() {
		t.Fatalf("err = %v, want *TransportError after 2 attempts matching ErrAttemptTimeout", err)
	}
}

func TestWithPassThrough5xx_returnsTheFinalResponseAfterRetries(t *testing.T) {
	srv := newServer(t, status(503, "still down"))
	c := newClient(t, WithRetry(fast), WithPassThrough5xx(), WithBreaker(Breaker{Disabled: true}))
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("err = %v, want the raw 503 response", err)
	}
	if resp.StatusCode != 503 || readAll(t, resp) != "still down" || srv.hits.Load() != 4 {
		t.Errorf("got %d after %d attempts; want the last 503 with its body, after 4 attempts", resp.StatusCode, srv.hits.Load())
	}
}

// TestWithTimeout_endsWithTheLastFailuresStatusError: a server that answers
// 503 and then stalls, or 503 always, under WithTimeout(300ms) or a context
// deadline of 300ms: every call, of 1,000 each, returns the 503 as a
// *StatusError, never net/http's text-only timeout or a bare "context
// deadline exceeded". A call whose first 503 did not arrive within the
// limit has no status to return and is counted, not failed. How late past
// the deadline calls return is logged, not asserted (the machine is
// shared); the bound only catches a hang.
func TestWithTimeout_endsWithTheLastFailuresStatusError(t *testing.T) {
	const runs, parallel, limit = 1000, 100, 300 * time.Millisecond
	var seen sync.Map
	srv := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		first := true
		if id := r.Header.Get("X-Call"); id != "" {
			_, loaded := seen.LoadOrStore(id, true)
			first = !loaded
		}
		if !first && r.URL.Path == "/stall" {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "busy")
	})
	for _, tc := range []struct {
		name, path string
		option     bool // WithTimeout, else a context deadline
	}{
		{"503 then stall, WithTimeout", "/stall", true},
		{"503 then stall, context deadline", "/stall", false},
		{"503 always, WithTimeout", "/always", true},
		{"503 always, context deadline", "/always", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []Option{WithBreaker(Breaker{Disabled: true}),
				WithRetry(Retry{MinWait: 20 * time.Millisecond, Budget: RetryBudget{Disabled: true}})}
			if tc.option {
				opts = append(opts, WithTimeout(limit))
			}
			c := newClient(t, opts...)
			var wg sync.WaitGroup
			sem := make(chan struct{}, parallel)
			late := make([]time.Duration, runs)
			var unanswered atomic.Int64
			for i := range runs {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					ctx := context.Background()
					if !tc.option {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, limit)
						defer cancel()
					}
					req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+tc.path, nil))
					req.Header.Set("X-Call", fmt.Sprint(tc.name, i))
					start := time.Now()
					resp, err := c.Do(req)
					late[i] = time.Since(start) - limit
					if err == nil {
						resp.Body.Close()
						t.Errorf("call %d succeeded", i)
						return
					}
					var se *StatusError
					var te *TransportError
					if errors.As(err, &te) && te.Attempts == 1 {
						// The first 503 itself did not arrive within the
						// limit (a loaded machine): there was no status to
						// keep, and the error is right to have none.
						unanswered.Add(1)
						return
					}
					if !errors.As(err, &se) || se.StatusCode != 503 || string(se.Body) != "busy" {
						t.Errorf("call %d: %v, want the 503's *StatusError", i, err)
					}
				}()
			}
			wg.Wait()
			if n := unanswered.Load(); n == runs {
				t.Errorf("no call got its first 503 within %s; the test checked nothing", limit)
			} else if n > 0 {
				t.Logf("%d of %d calls got no answer to their first attempt within the limit", n, runs)
			}
			slices.Sort(late)
			t.Logf("past the %s limit: p50 %s, p99 %s, max %s", limit, late[runs/2], late[runs*99/100], late[runs-1])
			if late[runs-1] > time.Second {
				t.Errorf("a call returned %s after its limit", late[runs-1])
			}
		})
	}
}

// A refused attempt goes again only to meet a degraded host's quick
// probes: each wait until the next is milliseconds long, and a call waits
// in all no longer than the backoffs of its retries could take (700 ms
// with the defaults). A host that was healthy fails its refused calls at
// once.
func TestDecide_aRefusedCallWaitsForQuickProbesNoLongerThanItsBackoffs(t *testing.T) {
	p := DefaultRetry
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const interval = 10 * time.Millisecond
	refused := func(state BreakerState, in time.Duration) facts {
		return facts{refused: &CircuitOpenError{State: state, Until: now.Add(in)}, replayable: true,
			probing: true, probeInterval: interval}
	}
	for _, tc := range []struct {
		name string
		f    facts
		wait time.Duration // 0: stop with the refusal
	}{
		{"open, the next quick probe 8ms away", refused(BreakerOpen, 8*time.Millisecond), 8 * time.Millisecond},
		{"half-open, a probe in flight", refused(BreakerHalfOpen, 0), interval},
		{"open, the next probe 50ms away", refused(BreakerOpen, 50*time.Millisecond), 0},
		{"a healthy host's breaker", func() facts { f := refused(BreakerOpen, 8*time.Millisecond); f.probing = false; return f }(), 0},
		{"waited 690ms already", func() facts {
			f := refused(BreakerOpen, 8*time.Millisecond)
			f.probeWaited = 690 * time.Millisecond
			return f
		}(), 8 * time.Millisecond},
		{"waited 695ms already", func() facts {
			f := refused(BreakerOpen, 8*time.Millisecond)
			f.probeWaited = 695 * time.Millisecond
			return f
		}(), 0},
		{"the deadline too close", func() facts {
			f := refused(BreakerOpen, 8*time.Millisecond)
			f.deadline = now.Add(15 * time.Millisecond)
			return f
		}(), 0},
		{"a body that cannot be sent again", func() facts {
			f := refused(BreakerOpen, 8*time.Millisecond)
			f.replayable = false
			return f
		}(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(&p, result{}, tc.f, now, 0.5)
			if tc.wait == 0 {
				if d.retry || d.stop != tc.f.refused {
					t.Fatalf("decision %+v, want a stop with the refusal", d)
				}
				return
			}
			if !d.retry || !d.probe || d.wait != tc.wait {
				t.Fatalf("decision %+v, want a wait of %s for a probe", d, tc.wait)
			}
		})
	}
	if got := probeWaitLimit(&p); got != 700*time.Millisecond {
		t.Errorf("probeWaitLimit = %s, want 700ms: 100ms + 200ms + 400ms", got)
	}
}
