package resilient

// This file holds the callbacks: WithOnRetry and WithOnBreakerChange, the
// events they receive, and the dispatcher that runs them.
//
// A callback never runs on the request path or under a lock: the request
// path, or gobreaker's state change hook (which holds its mutex), puts the
// event in a bounded queue without waiting, and one goroutine per
// Transport runs the callbacks in order. That goroutine is started when an
// event arrives and ends when the queue is empty, so a client that is
// never closed leaves no goroutine behind, and a client without callbacks
// has none. A callback that is slow delays only the callbacks after it;
// when the queue is full, new events are dropped and counted
// (Transport.DroppedCallbacks) rather than block a request. Calling
// OnRetry synchronously, overlapping the backoff wait, was rejected: a
// callback slower than the wait would delay the retry, and state changes
// happen under gobreaker's lock, where nothing may run.

import (
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// RetryEvent describes a retry that the client has decided to make: what
// WithOnRetry's callback receives. It is posted before the wait; the retry
// is not sent if the call ends during the wait.
type RetryEvent struct {
	Host    string        // scheme://host:port
	Method  string        // request method
	URL     string        // request URL, redacted
	Attempt int           // the attempt about to be sent: 2 for the first retry, hedges counted too
	Wait    time.Duration // the wait before it: the backoff, or what the server asked for
	// Reason says why the previous attempt failed, in a few words: its
	// status line, "timeout", or the error.
	Reason string
	// StatusCode is the failed response's status, or 0 when the attempt
	// got no response.
	StatusCode int
	TraceID    string // W3C trace ID of the call's trace, or ""
}

// BreakerChange describes a change of a host's circuit breaker state: what
// WithOnBreakerChange's callback receives.
type BreakerChange struct {
	Host     string       // scheme://host:port
	From, To BreakerState // the states before and after
	// Counts are the breaker's counts just before the change, the outcome
	// that caused it included: for an open from closed, the counts that
	// tripped it (for an open from another instance, the local counts and
	// the one failure that applied it); for the end of a probe, the
	// probes' outcomes. Zero when leaving the open state, where nothing is
	// counted.
	Counts BreakerCounts
	At     time.Time // when the change happened
	Remote bool      // the change applies an open published by another instance (WithSharedBreakers)
}

// WithOnRetry calls f before every retry, with what is retried and why.
// f runs on a goroutine of the client's, never on the request path: the
// callbacks of one Transport run one at a time, in order, never
// concurrently with each other (see WithOnBreakerChange). A hedge is not
// a retry and calls no OnRetry. A nil f is ignored.
func WithOnRetry(f func(RetryEvent)) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.onRetry = f
		}
	})
}

// WithOnBreakerChange calls f after every change of a host's breaker
// state, with the counts from before it. f runs outside any lock, on one
// goroutine that the Transport starts when there is an event to deliver
// and that ends when there is none, so events arrive in order and a slow
// f never stalls a request; while f is slow, up to 1024 events wait, and
// further ones are dropped and counted (Transport.DroppedCallbacks).
// Transport.Close does not wait for callbacks: events already queued, and
// those of calls still in flight, are delivered after it. A nil f is
// ignored.
func WithOnBreakerChange(f func(BreakerChange)) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.onBreaker = f
		}
	})
}

// callbackQueue bounds the events waiting for their callback.
const callbackQueue = 1024

// dispatcher runs a Transport's callbacks, in order, on one goroutine that
// lives while events are queued.
type dispatcher struct {
	onRetry   func(RetryEvent)
	onBreaker func(BreakerChange)
	queue     chan func()
	running   atomic.Bool
	dropped   atomic.Uint64
}

// newDispatcher returns the dispatcher for cfg's callbacks, or nil when
// there are none.
func newDispatcher(cfg *config) *dispatcher {
	if cfg.onRetry == nil && cfg.onBreaker == nil {
		return nil
	}
	return &dispatcher{onRetry: cfg.onRetry, onBreaker: cfg.onBreaker, queue: make(chan func(), callbackQueue)}
}

// post queues f without waiting, and starts the goroutine if none runs.
func (d *dispatcher) post(f func()) {
	select {
	case d.queue <- f:
	default:
		d.dropped.Add(1)
		return
	}
	if d.running.CompareAndSwap(false, true) {
		go d.run()
	}
}

// run calls the queued callbacks until the queue is empty.
func (d *dispatcher) run() {
	for {
		select {
		case f := <-d.queue:
			f()
		default:
			d.running.Store(false)
			// An event queued between the empty receive and the Store saw
			// running still true and started nobody: take it on.
			if len(d.queue) == 0 || !d.running.CompareAndSwap(false, true) {
				return
			}
		}
	}
}

// retrying posts the RetryEvent for c's next attempt, after wait.
func (d *dispatcher) retrying(c *call, wait time.Duration) {
	if d.onRetry == nil {
		return
	}
	ev := RetryEvent{Host: c.host.name, Method: c.method, URL: c.url(), Attempt: c.attempts + 1, Wait: wait,
		Reason: reason(c.last), TraceID: c.traceID()}
	if c.last.err == nil && c.last.resp != nil {
		ev.StatusCode = c.last.resp.StatusCode
	}
	f := d.onRetry
	d.post(func() { f(ev) })
}

// breakerChanged posts the BreakerChange of h from one state to another.
// It runs under gobreaker's lock, from OnStateChange.
func (d *dispatcher) breakerChanged(h *host, from, to gobreaker.State, now time.Time) {
	if d.onBreaker == nil {
		return
	}
	ev := BreakerChange{Host: h.name, From: BreakerState(from), To: BreakerState(to), At: now,
		Counts: h.countsBefore(from, to), Remote: h.shared.remoteTrip.Load()}
	f := d.onBreaker
	d.post(func() { f(ev) })
}

// countsBefore rebuilds gobreaker's counts from just before h changed from
// one state to another: gobreaker clears them before OnStateChange runs.
// It runs under gobreaker's lock.
func (h *host) countsBefore(from, to gobreaker.State) BreakerCounts {
	var c gobreaker.Counts
	switch from {
	case gobreaker.StateClosed:
		c = h.br.tripCounts
	case gobreaker.StateHalfOpen:
		if p := h.br.probeCounts.Load(); p != nil {
			c = *p
		}
		switch to {
		case gobreaker.StateClosed:
			c.TotalSuccesses++
			c.ConsecutiveSuccesses++
			c.ConsecutiveFailures = 0
		case gobreaker.StateOpen:
			c.TotalFailures++
			c.ConsecutiveFailures++
			c.ConsecutiveSuccesses = 0
		}
	}
	if to == gobreaker.StateHalfOpen {
		h.br.probeCounts.Store(nil)
	}
	return countsOf(c)
}

// noteProbe records the half-open counts before a probe reports its
// outcome, for countsBefore; only when someone listens.
func (h *host) noteProbe() {
	if d := h.t.events; d != nil && d.onBreaker != nil {
		c := h.br.cb.Counts()
		h.br.probeCounts.Store(&c)
	}
}

// DroppedCallbacks returns how many callback events were dropped because
// the callbacks fell behind by more than 1024 events.
func (t *Transport) DroppedCallbacks() uint64 {
	if t.events == nil {
		return 0
	}
	return t.events.dropped.Load()
}
