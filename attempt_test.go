package resilient

// Tests of AttemptFromContext: the attempt's number as a base transport
// sees it, on every path a request takes to the base.

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// numbering is a base transport that records the attempt number of every
// request it sends, then answers from next.
type numbering struct {
	mu   sync.Mutex
	seen []int
	next http.RoundTripper
}

func (n *numbering) RoundTrip(r *http.Request) (*http.Response, error) {
	n.mu.Lock()
	n.seen = append(n.seen, AttemptFromContext(r.Context()))
	n.mu.Unlock()
	return n.next.RoundTrip(r)
}

func (n *numbering) numbers() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := slices.Clone(n.seen)
	slices.Sort(s)
	return s
}

// TestAttemptFromContext_seenByTheBase: 1, 2, 3 for a call that fails
// twice, whichever path its requests take: the caller's request as it is,
// the attempt timeout's context over a caller's transport, WithTimeout's
// deadline, a traced call, and a hedged one.
func TestAttemptFromContext_seenByTheBase(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	for _, tc := range []struct {
		name string
		opts []Option
		want []int
	}{
		{"as it is", []Option{WithRetry(Retry{MinWait: time.Millisecond, AttemptTimeout: -1})}, []int{1, 2, 3}},
		{"attempt timeout by context", []Option{WithRetry(Retry{MinWait: time.Millisecond})}, []int{1, 2, 3}},
		{"WithTimeout", []Option{WithRetry(Retry{MinWait: time.Millisecond}), WithTimeout(time.Minute)}, []int{1, 2, 3}},
		{"traced", []Option{WithRetry(Retry{MinWait: time.Millisecond}), WithTracerProvider(tp)}, []int{1, 2, 3}},
		{"hedged, no hedge sent", []Option{WithRetry(Retry{MinWait: time.Millisecond}), WithHedging(Hedging{Delay: time.Hour})}, []int{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, failThen(2, 503))
			base := &numbering{next: http.DefaultTransport}
			c := &http.Client{Transport: NewTransport(base, tc.opts...)}
			t.Cleanup(func() { Close(c) })
			resp, err := c.Get(srv.URL)
			if err != nil || readAll(t, resp) != "ok" {
				t.Fatalf("got %v, want ok", err)
			}
			if got := base.numbers(); !slices.Equal(got, tc.want) {
				t.Errorf("base saw attempts %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("a hedge is an attempt of its own", func(t *testing.T) {
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
			w.Write([]byte("ok"))
		})
		base := &numbering{next: http.DefaultTransport}
		c := &http.Client{Transport: NewTransport(base, WithHedging(Hedging{Delay: time.Millisecond}))}
		t.Cleanup(func() { Close(c) })
		resp, err := c.Get(srv.URL)
		if err != nil || readAll(t, resp) != "ok" {
			t.Fatalf("got %v, want the hedge's ok", err)
		}
		if got := base.numbers(); !slices.Equal(got, []int{1, 2}) {
			t.Errorf("base saw attempts %v, want [1 2]", got)
		}
	})
}

func TestAttemptFromContext_outsideAnAttempt(t *testing.T) {
	if got := AttemptFromContext(context.Background()); got != 1 {
		t.Errorf("AttemptFromContext(Background) = %d, want 1", got)
	}
}
