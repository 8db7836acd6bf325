// Package budget implements a retry budget: over a short rolling window,
// retries to a host may add at most a set share of the calls made to it,
// or a small number whatever the traffic when that is more, as Finagle's RetryBudget does
// (Envoy's retry_budget and gRPC's retry throttling serve the same end).
// The window is short on purpose: the successes banked before an outage
// pay for at most one window of retries once it starts.
package budget

import (
	"sync"
	"time"
)

// buckets is how many slices the window is cut into; counts fall out of the
// window one slice at a time.
const buckets = 10

// Budget counts calls and retries over a rolling window. A retry is allowed
// while retries in the window stay below max(min, ratio × calls in the
// window). The floor is not added to the share: under load, retries add at
// most ratio to the traffic, exactly.
// It is safe for concurrent use.
type Budget struct {
	ratio  float64
	min    float64
	period int64 // one bucket, in nanoseconds

	// Calls are counted without a lock, in one of a few counters chosen
	// at random so that concurrent calls seldom write the same cache
	// line; only retries, which are rare, take mu.
	calls [callShards]struct {
		Counter
		_ [40]byte // 88 + 40: two cache lines each
	}

	mu       sync.Mutex // serializes retries, so that concurrent ones never overspend
	head     int64      // index of the newest retry bucket, in periods since the epoch
	retries  [buckets]uint32
	retrySum uint32
}

// New returns a Budget that lets retries add ratio of the calls seen in
// window, or min retries per window when that is more.
func New(ratio float64, min int, window time.Duration) *Budget {
	b := &Budget{ratio: ratio, min: float64(min), period: max(int64(window/buckets), int64(time.Millisecond))}
	for i := range b.calls {
		b.calls[i].Init(time.Duration(b.period * buckets))
	}
	return b
}

// advance drops the retry buckets that fell out of the window and returns
// the newest bucket's index. mu must be held.
func (b *Budget) advance(now int64) int {
	idx := now / b.period
	if gap := idx - b.head; gap > 0 {
		if gap >= buckets {
			b.retries = [buckets]uint32{}
			b.retrySum = 0
		} else {
			for i := b.head + 1; i <= idx; i++ {
				j := int(i % buckets)
				b.retrySum -= b.retries[j]
				b.retries[j] = 0
			}
		}
		b.head = idx
	}
	return int(b.head % buckets)
}

// Call records a call (its first attempt) at now, in Unix nanoseconds.
// spread picks the counter: any number that differs between concurrent
// calls, such as the address of the caller's state for the call, so that
// they seldom write the same cache line (a random draw per call cost
// about 85 instructions).
func (b *Budget) Call(now int64, spread uint32) {
	b.calls[spread%callShards].Add(now, false)
}

// callShards is the number of counters calls are spread over.
const callShards = 8

// callSum returns the calls in the window at now.
func (b *Budget) callSum(now int64) uint32 {
	var n uint32
	for i := range b.calls {
		n += b.calls[i].Sum(now)
	}
	return n
}

// TryRetry reports whether a retry fits in the budget at now and, if so,
// spends it.
func (b *Budget) TryRetry(now int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.advance(now)
	if float64(b.retrySum) >= max(b.min, b.ratio*float64(b.callSum(now))) {
		return false
	}
	b.retries[i]++
	b.retrySum++
	return true
}

// Counts returns the calls and retries in the window at now.
func (b *Budget) Counts(now int64) (calls, retries int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	return int(b.callSum(now)), int(b.retrySum)
}
