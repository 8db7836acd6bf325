package resilient

// This file holds the count of successes that admission does not report to
// gobreaker. While a host's breaker is closed, a success cannot trip it,
// and taking gobreaker's lock twice per attempt to count one was most of
// the cost of admission under concurrency. Successes are counted in a
// budget.Counter instead, without a lock, over the breaker's rolling
// Window; failures still go through gobreaker, whose ReadyToTrip adds
// these successes to its own counts (admission.go). gobreaker stays the
// state machine.

import "github.com/sony/gobreaker/v2"

// reportClosed is done for an attempt admitted while the breaker was
// closed and not ramping up, without a gobreaker request. A success cannot
// trip a closed breaker: it is counted in okClosed, without a lock, for
// the ratio rule (FailureRatio); with the default ratio of 1 only whether
// the window holds one counts, so the healthy path only reads. A failure
// is reported to gobreaker now, as a request and its failure, where
// ReadyToTrip weighs it, unless the breaker has left the closed state
// since (gobreaker ignored such a late report too). An excluded outcome
// counts for nothing: it was never a gobreaker request.
//
// gobreaker's Counts therefore hold only the failures and the successes
// of probes and ramp-up; ReadyToTrip adds okClosed to them.
func (h *host) reportClosed(v error) {
	switch v {
	case nil:
		h.okClosed.Add(h.lastUsed.Load(), h.t.cfg.breaker.FailureRatio >= 1)
	case errFailure:
		// The check and the report must be one step: a failure reported
		// after another tripped the breaker would find it open, and
		// gobreaker's Allow would make it a probe (its Timeout is 1ns),
		// cycling the breaker through half-open for nothing.
		h.failMu.Lock()
		defer h.failMu.Unlock()
		if gobreaker.State(h.state.Load()) != gobreaker.StateClosed {
			return
		}
		if done, err := h.cb.Allow(); err == nil {
			done(errFailure)
		}
	}
}
