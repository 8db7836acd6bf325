// Package budget implements a retry budget: retries may add at most a set
// share of the traffic to a host, as in Finagle's RetryBudget, Envoy's
// retry_budget and gRPC's retry throttling, so that an outage is not
// multiplied by the retry count.
package budget

import (
	"sync"
	"time"
)

// buckets is how many slices the window is cut into; counts fall out of the
// window one slice at a time.
const buckets = 10

// Budget counts first attempts and retries over a rolling window. A retry is
// allowed while retries in the window stay below Floor + Ratio × requests in
// the window. It is safe for concurrent use.
type Budget struct {
	ratio  float64
	floor  float64
	period time.Duration // one bucket

	mu       sync.Mutex
	head     int64 // index of the newest bucket, in periods since the epoch
	requests [buckets]uint32
	retries  [buckets]uint32
	reqSum   uint32
	retrySum uint32
}

// New returns a Budget that lets retries add ratio of the requests seen in
// window, plus floor retries per window whatever the traffic.
func New(ratio float64, floor int, window time.Duration) *Budget {
	p := window / buckets
	if p <= 0 {
		p = time.Millisecond
	}
	return &Budget{ratio: ratio, floor: float64(floor), period: p}
}

// advance drops the buckets that fell out of the window. mu must be held.
func (b *Budget) advance(now time.Time) int {
	idx := now.UnixNano() / int64(b.period)
	if gap := idx - b.head; gap > 0 {
		if gap >= buckets {
			b.requests, b.retries = [buckets]uint32{}, [buckets]uint32{}
			b.reqSum, b.retrySum = 0, 0
		} else {
			for i := b.head + 1; i <= idx; i++ {
				j := int(i % buckets)
				b.reqSum -= b.requests[j]
				b.retrySum -= b.retries[j]
				b.requests[j], b.retries[j] = 0, 0
			}
		}
		b.head = idx
	}
	return int(b.head % buckets)
}

// Request records a first attempt.
func (b *Budget) Request(now time.Time) {
	b.mu.Lock()
	i := b.advance(now)
	b.requests[i]++
	b.reqSum++
	b.mu.Unlock()
}

// TryRetry reports whether a retry fits in the budget and, if so, spends it.
func (b *Budget) TryRetry(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.advance(now)
	if float64(b.retrySum) >= b.floor+b.ratio*float64(b.reqSum) {
		return false
	}
	b.retries[i]++
	b.retrySum++
	return true
}

// Counts returns the requests and retries in the window.
func (b *Budget) Counts(now time.Time) (requests, retries int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	return int(b.reqSum), int(b.retrySum)
}
