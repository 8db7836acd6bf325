// Package budget implements a retry budget in the manner of Envoy's
// retry_budget: at any moment, the calls to a host that are retrying may be
// at most a set share of the calls in flight to it, or a small minimum,
// whichever is larger. Because it counts what is in flight now rather than
// what happened over a window, it reacts at once when an outage starts: the
// successes of the minute before do not pay for a storm of retries.
package budget

import "sync/atomic"

// Budget counts calls in flight to one host and those of them that hold a
// retry slot. It is safe for concurrent use and takes no lock.
type Budget struct {
	ratio    float64
	min      int64
	active   atomic.Int64
	retrying atomic.Int64
}

// New returns a Budget that lets ratio of the calls in flight retry, and
// at least min of them.
func New(ratio float64, min int) *Budget {
	return &Budget{ratio: ratio, min: int64(min)}
}

// Start records a call in flight.
func (b *Budget) Start() { b.active.Add(1) }

// End records the end of a call; slot says whether it held a retry slot.
func (b *Budget) End(slot bool) {
	b.active.Add(-1)
	if slot {
		b.retrying.Add(-1)
	}
}

// TryRetry takes a retry slot if the budget has one free, and reports
// whether it did. A call keeps its slot until End.
func (b *Budget) TryRetry() bool {
	for {
		r := b.retrying.Load()
		limit := max(b.min, int64(b.ratio*float64(b.active.Load())))
		if r >= limit {
			return false
		}
		if b.retrying.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// InFlight returns the calls in flight and those holding a retry slot.
func (b *Budget) InFlight() (active, retrying int64) {
	return b.active.Load(), b.retrying.Load()
}
