package resilient

// Tests of WithPrepareRetry: what the server saw of each retry, and the
// caller's request left as it was.

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWithPrepareRetry_changesPersistOnLaterRetries: the function runs
// before each retry only, on a copy whose body is rewound; what it sets is
// sent on that retry and the later ones; the caller's header is untouched.
func TestWithPrepareRetry_changesPersistOnLaterRetries(t *testing.T) {
	srv := newServer(t, failThen(3, 503))
	calls := 0
	prepare := func(r *http.Request) error {
		calls++
		if calls == 1 {
			r.Header.Set("X-Token", "refreshed") // once: kept on every later retry
		}
		r.Header.Set("X-Retry", fmt.Sprint(AttemptFromContext(r.Context())))
		return nil
	}
	c := newClient(t, WithRetry(Retry{MinWait: time.Millisecond}), WithPrepareRetry(prepare))
	req := must[*http.Request](t)(http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("payload")))
	req.Header.Set("X-Token", "original")
	resp, err := c.Do(req)
	if err != nil || readAll(t, resp) != "ok" {
		t.Fatalf("got %v, want ok", err)
	}
	srv.mu.Lock()
	var saw []string
	for i, r := range srv.seen {
		saw = append(saw, fmt.Sprintf("%s %s %s", r.Header.Get("X-Token"), r.Header.Get("X-Retry"), srv.bodies[i]))
	}
	srv.mu.Unlock()
	want := []string{"original  payload", "refreshed 2 payload", "refreshed 3 payload", "refreshed 4 payload"}
	if !slices.Equal(saw, want) {
		t.Errorf("server saw %q, want %q", saw, want)
	}
	if calls != 3 {
		t.Errorf("the function ran %d times for 3 retries", calls)
	}
	if got := req.Header.Get("X-Token"); got != "original" || req.Header.Get("X-Retry") != "" {
		t.Errorf("the caller's request was changed: %v", req.Header)
	}
}

// TestWithPrepareRetry_errorEndsTheCall: an error from the function ends
// the call before the retry is sent, and errors.Is finds it.
func TestWithPrepareRetry_errorEndsTheCall(t *testing.T) {
	srv := newServer(t, status(503, ""))
	errSign := errors.New("signing key unavailable")
	c := newClient(t, WithRetry(fast), WithPrepareRetry(func(*http.Request) error { return errSign }))
	_, err := c.Get(srv.URL)
	var te *TransportError
	if !errors.As(err, &te) || te.Attempts != 1 || !errors.Is(err, errSign) || srv.hits.Load() != 1 {
		t.Fatalf("got %v after %d requests, want a *TransportError after 1 attempt matching the function's error", err, srv.hits.Load())
	}
}

// TestWithPrepareRetry_notForAHedge: a hedge is a copy of the attempt in
// flight, not a retry.
func TestWithPrepareRetry_notForAHedge(t *testing.T) {
	hedged := make(chan struct{})
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select { // answers 503 once the hedge came, or never
			case <-hedged:
				w.WriteHeader(503)
			case <-r.Context().Done():
			}
			return
		}
		close(hedged)
		w.Write([]byte("ok"))
	})
	calls := 0
	c := newClient(t, WithHedging(Hedging{Delay: time.Millisecond}), WithPrepareRetry(func(*http.Request) error {
		calls++
		return nil
	}))
	resp, err := c.Get(srv.URL)
	if err != nil || readAll(t, resp) != "ok" || calls != 0 {
		t.Fatalf("got %v, function ran %d times; want the hedge's ok and no call", err, calls)
	}
}
