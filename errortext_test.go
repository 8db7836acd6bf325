package resilient

// The texts a person reads when a call fails, played as a new user would
// meet them against an httptest server: what the error says (Error(), in
// full where the time is the virtual clock's), what errors.Is and
// errors.As find, the fields, and what the span and the log line say.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
)

// oneLine fails t unless msg, an error's text, is one line with one
// "resilient: " prefix and never says "closed" of a breaker.
func oneLine(t *testing.T, msg string) {
	t.Helper()
	if n := strings.Count(msg, "resilient:"); n != 1 {
		t.Errorf("%q says \"resilient:\" %d times, want once", msg, n)
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("%q is more than one line", msg)
	}
	if strings.Contains(msg, "is closed") {
		t.Errorf("%q says a breaker is closed", msg)
	}
}

// A POST that is not retried says why, and a program can test for it.
func TestErrorText_aPOSTNotRetriedSaysWhy(t *testing.T) {
	clk := newFakeClock()
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		clk.Advance(12 * time.Millisecond) // the server's time, on the client's clock
		w.Header().Set("X-Request-Id", "7f3a9c")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "db down")
	})
	c := newClient(t, withClock(clk), withRand(half))

	_, err := c.Post(srv.URL+"/orders", "application/json", strings.NewReader(`{"item":42}`))
	want := `Post "` + srv.URL + `/orders": resilient: 503 Service Unavailable after 1 attempt in 12ms; ` +
		`not retried because a POST without an Idempotency-Key header is not idempotent (request 7f3a9c): db down`
	if err == nil || err.Error() != want {
		t.Fatalf("err =\n%v\nwant\n%s", err, want)
	}
	oneLine(t, err.Error())
	var se *StatusError
	if !errors.As(err, &se) || se.Stop != ErrNotIdempotent || !errors.Is(err, ErrNotIdempotent) ||
		se.Attempts != 1 || se.Elapsed != 12*time.Millisecond || se.RequestID != "7f3a9c" || srv.hits.Load() != 1 {
		t.Errorf("%+v after %d requests; want one attempt of 12ms, stopped by ErrNotIdempotent", se, srv.hits.Load())
	}
	if !IsRetryable(err) {
		t.Error("IsRetryable = false; the 503 is retryable, the request was not safe to repeat")
	}

	// With a key, the same POST is retried, and nothing says it was not.
	req := must[*http.Request](t)(http.NewRequest(http.MethodPost, srv.URL+"/orders", strings.NewReader(`{"item":42}`)))
	req.Header.Set("Idempotency-Key", "k-1")
	_, err = c.Do(req)
	if !errors.As(err, &se) || se.Attempts != 4 || se.Stop != nil || errors.Is(err, ErrNotIdempotent) ||
		strings.Contains(err.Error(), "not retried") {
		t.Errorf("with a key: %v; want 4 attempts, no stop", err)
	}
}

// A deadline that cut the retries is the deadline, not the server, even
// when the wait was the server's: 429 with Retry-After: 1 under
// WithTimeout(1500ms). It takes one real second: the deadline is real time.
func TestErrorText_aDeadlineStopIsTheDeadline(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "slow down")
	})
	c := newClient(t, WithTimeout(1500*time.Millisecond))
	_, err := c.Get(srv.URL)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 || se.Attempts != 2 || srv.hits.Load() != 2 {
		t.Fatalf("err = %v after %d requests; want a 429 after 2 attempts", err, srv.hits.Load())
	}
	if !errors.Is(err, ErrDeadline) || errors.Is(err, ErrRetryAfterTooLong) || se.Stop != ErrDeadline || se.RetryAfter != time.Second {
		t.Errorf("Stop = %v, RetryAfter %s; want ErrDeadline alone (1s is far below MaxWait), RetryAfter 1s", se.Stop, se.RetryAfter)
	}
	if se.Elapsed < time.Second || se.Elapsed >= 1500*time.Millisecond {
		t.Errorf("Elapsed = %s, want the 1s wait and two attempts, within the 1.5s timeout", se.Elapsed)
	}
	re := regexp.MustCompile(`^resilient: 429 Too Many Requests after 2 attempts in 1(\.[0-9]+)?s; ` +
		`retrying stopped by the call's deadline, too close to wait the 1s the server asked for: slow down$`)
	if !re.MatchString(se.Error()) {
		t.Errorf("Error() = %q, want %v", se.Error(), re)
	}
	oneLine(t, err.Error())

	// A server that asks for more than MaxWait is the server's ask.
	long := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	_, err = c.Get(long.URL)
	if !errors.As(err, &se) || !errors.Is(err, ErrRetryAfterTooLong) || errors.Is(err, ErrDeadline) ||
		!strings.HasSuffix(se.Error(), "; retrying stopped because the server asked to wait 2m0s, longer than the client's cap (Retry.MaxServerWait, or MaxWait)") {
		t.Errorf("Retry-After: 120: %v; want ErrRetryAfterTooLong alone, saying what the server asked", err)
	}
}

// A deadline that passes during a retry's attempt stops the call with the
// failure before it, matching ErrDeadline and context.DeadlineExceeded.
func TestErrorText_aDeadlineThatPassesDuringAnAttempt(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "busy")
			return
		}
		<-r.Context().Done()
	})
	c := newClient(t, WithRetry(fast))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil))
	_, err := c.Do(req)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 || !errors.Is(err, ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want the 503, stopped by the deadline (ErrDeadline and context.DeadlineExceeded)", err)
	}
	re := regexp.MustCompile(`^resilient: 503 Service Unavailable after 2 attempts in [0-9.]+m?s; the call's deadline passed: busy$`)
	if !re.MatchString(se.Error()) || se.Elapsed < 200*time.Millisecond {
		t.Errorf("Error() = %q (Elapsed %s), want %v, at least the 200ms of the deadline", se.Error(), se.Elapsed, re)
	}
}

// A connection closed without an answer says so, then Go's "EOF".
func TestErrorText_aConnectionClosedWithoutAnAnswer(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	c := newClient(t, WithRetry(Retry{Max: 3, MinWait: 2 * time.Millisecond, MaxWait: 8 * time.Millisecond}),
		withClock(newFakeClock()), withRand(half)) // waits of 1, 2 and 4ms
	_, err := c.Get(srv.URL)
	want := `Get "` + srv.URL + `": resilient: connection closed by the server before any response, after 4 attempts in 7ms: EOF`
	if err == nil || err.Error() != want {
		t.Fatalf("err =\n%v\nwant\n%s", err, want)
	}
	var te *TransportError
	if !errors.As(err, &te) || te.Attempts != 4 || te.Elapsed != 7*time.Millisecond || !errors.Is(err, io.EOF) ||
		te.Stop != nil || srv.hits.Load() != 4 {
		t.Errorf("%+v after %d requests; want 4 attempts in 7ms wrapping io.EOF", te, srv.hits.Load())
	}
}

// A server that never answers: the attempt timeout in words, once
// prefixed, and how long the whole call took.
func TestErrorText_aServerThatNeverAnswers(t *testing.T) {
	srv := newServer(t, hang)
	c := newClient(t, WithRetry(Retry{Max: 3, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond, AttemptTimeout: 50 * time.Millisecond}))
	_, err := c.Get(srv.URL)
	var te *TransportError
	if !errors.As(err, &te) || !errors.Is(err, ErrAttemptTimeout) || te.Attempts != 4 || srv.hits.Load() != 4 {
		t.Fatalf("err = %v after %d requests; want 4 attempts that timed out", err, srv.hits.Load())
	}
	if te.Elapsed < 200*time.Millisecond {
		t.Errorf("Elapsed = %s, want at least 4 × 50ms", te.Elapsed)
	}
	re := regexp.MustCompile(`^Get "[^"]+": resilient: no response headers within the attempt timeout of 50ms, after 4 attempts in [0-9.]+m?s$`)
	if !re.MatchString(err.Error()) {
		t.Errorf("err = %q, want %v", err, re)
	}
	oneLine(t, err.Error())
}

// A refusal while the breaker ramps up after an outage says the host is
// recovering, never that a breaker is "closed".
func TestErrorText_aRampUpRefusalSaysTheHostIsRecovering(t *testing.T) {
	f := &flip{}
	f.code.Store(500)
	srv := newServer(t, f.handle)
	clk := newFakeClock()
	b := probing
	b.RampUp = 400 * time.Millisecond
	c := newClient(t, WithRetry(Retry{Max: -1}), withClock(clk), withRand(half), WithBreaker(b))
	for range 5 {
		c.Get(srv.URL)
	}
	clk.Advance(2 * time.Second) // open for 2s: a ramp-up of 400ms
	f.code.Store(200)
	resp, err := c.Get(srv.URL) // the probe, which closes it
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, err = c.Get(srv.URL) // half admitted; the draw of 0.5 is refused
	want := `Get "` + srv.URL + `": resilient: refused without sending: http://` + srv.Listener.Addr().String() +
		` is recovering from an outage, admitting 50% of calls while traffic ramps up; all admitted in 400ms`
	if err == nil || err.Error() != want {
		t.Fatalf("err =\n%v\nwant\n%s", err, want)
	}
	oneLine(t, err.Error())
	co := refusal(t, err)
	if co.Reason != reasonRamp || co.Admitted != 0.5 || co.Elapsed != 0 || Attempts(err) != 0 {
		t.Errorf("%+v; want a ramp-up refusal admitting 50%%, at once", co)
	}
}

// Each refusal of an open breaker says why in words, and when to come back.
func TestErrorText_refusals(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const host = "http://10.0.0.7:8080"
	for _, tc := range []struct {
		e    CircuitOpenError
		want string
	}{
		{CircuitOpenError{Host: host, State: BreakerOpen, Reason: reasonOpen, Until: at.Add(250 * time.Millisecond)},
			"resilient: refused without sending: http://10.0.0.7:8080 is failing and its circuit breaker is open; next probe in 250ms"},
		{CircuitOpenError{Host: host, State: BreakerOpen, Reason: reasonServer, Until: at.Add(2 * time.Second), TraceID: "4bf9"},
			"resilient: refused without sending: http://10.0.0.7:8080 asked to wait and its circuit breaker holds calls until then; next probe in 2s (trace 4bf9)"},
		{CircuitOpenError{Host: host, State: BreakerOpen, Reason: reasonRemote, Until: at.Add(80 * time.Millisecond), Remote: true},
			"resilient: refused without sending: http://10.0.0.7:8080 is failing for another instance, which opened the shared circuit breaker; next probe in 80ms"},
		{CircuitOpenError{Host: host, State: BreakerHalfOpen, Reason: reasonProbing},
			"resilient: refused without sending: the circuit breaker for http://10.0.0.7:8080 is probing whether the host has recovered; retry shortly"},
		{CircuitOpenError{Host: host, State: BreakerOpen, Reason: reasonOpen, Until: at.Add(5 * time.Millisecond), Elapsed: 40 * time.Millisecond},
			"resilient: refused without sending after 40ms: http://10.0.0.7:8080 is failing and its circuit breaker is open; next probe in 5ms"},
	} {
		tc.e.at = at
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() =\n%s\nwant\n%s", got, tc.want)
		}
		oneLine(t, tc.e.Error())
	}
}

// Every reason retrying stops early reads as one clause, and a cause with
// its own prefix does not repeat it.
func TestErrorText_stopClauses(t *testing.T) {
	for _, tc := range []struct {
		stop error
		want string
	}{
		{ErrNotIdempotent, "; not retried because a PATCH without an Idempotency-Key header is not idempotent"},
		{ErrDeadline, "; retrying stopped by the call's deadline, too close for another attempt"},
		{errDeadlinePassed, "; the call's deadline passed"},
		{ErrRetryAfterTooLong, "; retrying stopped because the server asked to wait longer than the client's cap (Retry.MaxServerWait, or MaxWait)"},
		{ErrRetryBudgetExhausted, "; retrying stopped by the retry budget while the host shows signs of overload"},
		{ErrBodyNotReplayable, "; not retried because the request body has no GetBody and is longer than WithReplayLimit"},
		{&CircuitOpenError{State: BreakerOpen, Reason: reasonOpen}, "; retrying stopped, the host's circuit breaker opened"},
		{&CircuitOpenError{State: BreakerClosed, Reason: reasonRamp}, "; retry refused while the host ramps up after an outage"},
		{context.Canceled, "; canceled by the caller"},
		{fmt.Errorf("CheckRetry: %w", errors.New("resilient: teapot")), "; retrying stopped, CheckRetry: teapot"}, // a Classifier's own error
	} {
		se := &StatusError{StatusCode: 503, Status: "503 Service Unavailable", Method: http.MethodPatch, Attempts: 2,
			Elapsed: 1500 * time.Millisecond, Stop: tc.stop}
		want := "resilient: 503 Service Unavailable after 2 attempts in 1.5s" + tc.want
		if got := se.Error(); got != want {
			t.Errorf("Stop %v: Error() =\n%s\nwant\n%s", tc.stop, got, want)
		}
		oneLine(t, se.Error())
	}
	// A 429 whose retries ran out says what the server asked.
	se := &StatusError{StatusCode: 429, Status: "429 Too Many Requests", Attempts: 4, Elapsed: 3100 * time.Millisecond, RetryAfter: time.Second}
	if got, want := se.Error(), "resilient: 429 Too Many Requests after 4 attempts in 3.1s; the server asked to retry after 1s"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	// A transport failure of our own is all words, prefixed once.
	te := &TransportError{Method: http.MethodPut, Attempts: 2, Elapsed: 3 * time.Millisecond,
		Err: fmt.Errorf("resilient: cannot send the request body again, GetBody failed: %w", errors.New("gone"))}
	if got, want := te.Error(), "resilient: cannot send the request body again, GetBody failed: gone, after 2 attempts in 3ms"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// Hosts at 3 a.m.: while the breaker is open gobreaker's counts are zero,
// and TripCounts and OpenedAt say what opened it and when; the retry
// allowance is a ratio of retries to calls.
func TestErrorText_hostsDuringAnOutage(t *testing.T) {
	srv := newServer(t, status(http.StatusInternalServerError, "down"))
	clk := newFakeClock()
	c := newClient(t, WithRetry(Retry{Max: 3, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond}), withClock(clk), withRand(half))
	for range 7 { // 28 attempts: the 25th in a row opens the breaker
		c.Get(srv.URL)
	}
	hs := Hosts(c)
	if len(hs) != 1 {
		t.Fatalf("Hosts = %+v, want one host", hs)
	}
	h := hs[0]
	if h.State != BreakerOpen || h.Counts != (BreakerCounts{}) {
		t.Errorf("State %s, Counts %+v; want open, gobreaker's counts at zero", h.State, h.Counts)
	}
	if h.TripCounts.ConsecutiveFailures != 25 || h.TripCounts.TotalFailures != 25 {
		t.Errorf("TripCounts %+v, want the 25 failures in a row that opened the breaker", h.TripCounts)
	}
	if h.OpenedAt.IsZero() || h.OpenedAt.After(clk.Now()) {
		t.Errorf("OpenedAt %s, want when it opened, before now (%s)", h.OpenedAt, clk.Now())
	}
	if h.RetriesPerCall != 3 || h.RetryShare != h.RetriesPerCall {
		t.Errorf("RetriesPerCall %v, RetryShare %v; want 3 retries per call, both", h.RetriesPerCall, h.RetryShare)
	}
}

// A failed call's span says what its error says, and names the request ID;
// its log line carries the IDs it has and no empty trace_id.
func TestErrorText_spanAndLogOfAFailedCall(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Request-Id", "req-42")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "db down: password=hunter2")
	})
	e := newTelEnv(t)
	c := e.client(t, withClock(newFakeClock()), WithBreaker(Breaker{Disabled: true}))
	_, err := c.Post(srv.URL+"/orders?token=s3cret", "text/plain", strings.NewReader("x"))
	if !errors.Is(err, ErrNotIdempotent) {
		t.Fatalf("err = %v, want ErrNotIdempotent", err)
	}
	logical, _ := callSpans(e.rec)
	if len(logical) != 1 {
		t.Fatalf("%d call spans, want 1", len(logical))
	}
	s := logical[0]
	want := "503 Service Unavailable after 1 attempt; not retried because a POST without an Idempotency-Key header is not idempotent"
	if s.Status().Code != codes.Error || s.Status().Description != want {
		t.Errorf("span status %+v, want Error, %q", s.Status(), want)
	}
	if v, ok := spanAttr(s, "resilient.request_id"); !ok || v.AsString() != "req-42" {
		t.Errorf("resilient.request_id = %v, want req-42", v)
	}
	if len(eventsNamed(s, "resilient.not_idempotent")) != 1 {
		t.Errorf("events %v, want one resilient.not_idempotent", s.Events())
	}
	failed := e.logs.lines(t, "resilient: request failed")
	if len(failed) != 1 || failed[0]["request_id"] != "req-42" || failed[0]["trace_id"] != TraceID(err) || TraceID(err) == "" {
		t.Errorf("log lines %v, want one with request_id req-42 and the trace", failed)
	}

	// Without tracing, no trace_id at all, rather than an empty one.
	var logs telLogBuffer
	plain := newClient(t, withClock(newFakeClock()), WithRetry(Retry{Max: 1, MinWait: time.Millisecond, MaxWait: time.Millisecond}),
		WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	_, err = plain.Get(srv.URL)
	if TraceID(err) != "" {
		t.Fatalf("TraceID = %q with tracing off", TraceID(err))
	}
	for _, prefix := range []string{"resilient: retrying", "resilient: request failed"} {
		lines := logs.lines(t, prefix)
		if len(lines) != 1 {
			t.Fatalf("%q: %d lines, want 1:\n%s", prefix, len(lines), logs.String())
		}
		if _, ok := lines[0]["trace_id"]; ok {
			t.Errorf("%q carries trace_id %q with tracing off", prefix, lines[0]["trace_id"])
		}
	}
	if strings.Contains(e.logs.String(), "s3cret") || strings.Contains(s.Status().Description, "s3cret") {
		t.Errorf("a secret of the URL reached the span or the log: %s", e.logs.String())
	}
}

// A refusal gives the true reason: an outage of plain 500s after a flaky
// spell of 503s with Retry-After is held because the host is failing, not
// "as the server asked" (the demo's down phase said so).
func TestErrorText_aRefusalGivesTheTrueReason(t *testing.T) {
	var code atomic.Int64
	code.Store(503)
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		c := int(code.Load())
		if c == 503 {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(c)
	})
	c := newClient(t, WithRetry(Retry{Max: -1}), WithBreaker(probing), withClock(newFakeClock()), withRand(half))
	c.Get(srv.URL) // flaky: a 503 that asks for a second
	code.Store(200)
	c.Get(srv.URL)
	code.Store(500) // down: plain 500s
	for range 5 {
		c.Get(srv.URL)
	}
	_, err := c.Get(srv.URL)
	co := refusal(t, err)
	if co.Reason != reasonOpen || !strings.Contains(err.Error(), "is failing and its circuit breaker is open; next probe in 100ms") {
		t.Errorf("err = %v (Reason %q); want the host failing, held 100ms, not what an earlier 503 asked", err, co.Reason)
	}
}
