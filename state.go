package resilient

// This file holds the state a client exposes for a health endpoint or an
// admin page: BreakerState, BreakerCounts, and HostState, one per host the
// client has called, read with Transport.Hosts or Hosts.

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"
)

// BreakerState is the state of a host's circuit breaker.
type BreakerState int

// The states of a circuit breaker, in gobreaker's order.
const (
	// BreakerClosed: calls are sent (after an outage, a share of them
	// while traffic ramps up).
	BreakerClosed BreakerState = BreakerState(gobreaker.StateClosed)
	// BreakerHalfOpen: the hold is over; the next call goes as a probe,
	// and others are refused while it is in flight.
	BreakerHalfOpen BreakerState = BreakerState(gobreaker.StateHalfOpen)
	// BreakerOpen: the host is failing; calls are refused until the next
	// probe.
	BreakerOpen BreakerState = BreakerState(gobreaker.StateOpen)
)

// String returns "closed", "half-open" or "open", the names used in
// metrics, spans and logs.
func (s BreakerState) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// BreakerCounts are a breaker's counts of attempts in its current state,
// gobreaker's Counts as it keeps them: since the state began (the breaker
// last closed, opened or began probing). While closed they are never
// cleared by time, so ConsecutiveFailures is the run of failures that
// opens the breaker (Breaker.ConsecutiveFailures). A breaker that opens
// starts them again from zero: HostState.TripCounts keeps those that
// opened it.
type BreakerCounts struct {
	Requests             uint32 // attempts admitted
	TotalSuccesses       uint32 // attempts that did not count against the host (4xx included)
	TotalFailures        uint32 // attempts that counted against the host (see WithClassifier)
	TotalExclusions      uint32 // attempts that counted as neither: the caller's own cancellation
	ConsecutiveSuccesses uint32 // successes in a row
	ConsecutiveFailures  uint32 // failures in a row
}

func countsOf(c gobreaker.Counts) BreakerCounts {
	return BreakerCounts{Requests: c.Requests, TotalSuccesses: c.TotalSuccesses, TotalFailures: c.TotalFailures,
		TotalExclusions: c.TotalExclusions, ConsecutiveSuccesses: c.ConsecutiveSuccesses, ConsecutiveFailures: c.ConsecutiveFailures}
}

// HostState is what a client knows of one host (scheme://host:port) at one
// moment: its breaker and admission, and its retry budget.
type HostState struct {
	Host  string       // scheme://host:port
	State BreakerState // BreakerClosed when breakers are disabled
	// Counts are the breaker's counts in its current state; zero when
	// breakers are disabled, and while the breaker is open, since
	// gobreaker starts them again at every change of state: TripCounts
	// says what opened it.
	Counts BreakerCounts
	// TripCounts are the breaker's counts when it opened for the outage in
	// progress: TripCounts.ConsecutiveFailures is the run of failures that
	// opened it. Zero while every call is admitted.
	TripCounts BreakerCounts
	// OpenedAt is when the breaker opened for the outage in progress, from
	// closed (a failed probe that opens it again does not move it); for an
	// open that came from another instance (Remote), four Cooldowns before
	// it came, since it is held as an outage that old (share.go). Zero
	// while every call is admitted; while ramping up it is when the
	// outage began.
	OpenedAt time.Time
	// Admitted is the share of calls admitted now: 1 when closed, 0 when
	// open or probing, between the two while ramping up after an outage.
	Admitted float64
	// Until is when the refusal ends: for an open breaker, when the next
	// probe may go; while ramping up, when every call is admitted again;
	// zero otherwise.
	Until time.Time
	// Reason says, in the words of CircuitOpenError.Reason, why calls are
	// refused now ("failing", "probing", "server asked to wait", "failing
	// for another instance", "ramping up after recovery"), or "" when
	// every call is admitted.
	Reason string
	Remote bool // the current open came from another instance (WithSharedBreakers)
	// Calls and Retries are what the host's retry budget counted over its
	// window (RetryBudget.Window); both 0 when the budget is disabled or
	// retries are off (Retry.Max -1), since there is no budget then.
	Calls, Retries int
	// RetriesPerCall is how many retries the host may get now for each
	// call made to it, a ratio of retries to calls: Retry.Max while the
	// host shows no sign that load hurts it (3: every call may retry three
	// times), RetryBudget.Ratio while it does (0.1: one retry for every
	// ten calls; less while a queue builds on it, see RetryBudget), 0 when
	// retries are off. RetryHeldBack says why they are held back:
	// "latency" (the host answers well above its baseline latency),
	// "timeout" (an attempt timed out within RetryBudget.Hold),
	// "throttled" (a 429 within RetryBudget.Hold), or "" when they are not.
	RetriesPerCall float64
	RetryHeldBack  string
	// RetryShare is RetriesPerCall, under a name that reads as a share of
	// at most 1 (3 read as 300%).
	//
	// Deprecated: use RetriesPerCall, which holds the same value.
	RetryShare float64
	LastUsed   time.Time // when a call last went to the host
}

// Hosts returns the state of every host the transport holds, sorted by
// Host. It takes each breaker's lock once, briefly; it is meant for a
// health endpoint or an admin page, not for every request.
func (t *Transport) Hosts() []HostState {
	var hs []*host
	t.hosts.each(func(h *host) { hs = append(hs, h) })
	now := t.cfg.clock.Now()
	out := make([]HostState, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.snapshot(now))
	}
	slices.SortFunc(out, func(a, b HostState) int { return strings.Compare(a.Host, b.Host) })
	return out
}

// Hosts returns the host states of a client made by New; see
// Transport.Hosts. It returns nil for a client with another transport.
func Hosts(c *http.Client) []HostState {
	if c == nil {
		return nil
	}
	if t, ok := c.Transport.(*Transport); ok {
		return t.Hosts()
	}
	return nil
}

// snapshot reads h at now.
func (h *host) snapshot(now time.Time) HostState {
	s := HostState{Host: h.name, Admitted: 1, LastUsed: time.Unix(0, h.lastUsed.Load())}
	if h.budget != nil {
		s.Calls, s.Retries = h.budget.Counts(now.UnixNano())
		s.RetriesPerCall, _, s.RetryHeldBack = h.budget.Limit(now.UnixNano(), float64(h.t.cfg.retry.Max))
	} else if h.t.cfg.retry.Max > 0 {
		s.RetriesPerCall = float64(h.t.cfg.retry.Max)
	}
	s.RetryShare = s.RetriesPerCall
	if h.br == nil {
		return s
	}
	s.Counts = countsOf(h.br.cb.Counts())
	s.State = h.state(now)
	s.Admitted = h.admission(now)
	if s.State == BreakerClosed && s.Admitted >= 1 {
		return s
	}
	reason := ""
	switch {
	case s.State == BreakerHalfOpen:
		reason = reasonProbing
	case s.State == BreakerClosed:
		reason = reasonRamp
	}
	e := h.openError(now, reason)
	s.Until, s.Reason, s.Remote = e.Until, e.Reason, e.Remote
	if at := h.br.openedAt.Load(); at != 0 {
		s.OpenedAt = time.Unix(0, at)
	}
	if c := h.br.tripped.Load(); c != nil {
		s.TripCounts = countsOf(*c)
	}
	return s
}
