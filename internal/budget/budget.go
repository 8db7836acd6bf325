// Package budget decides, per host, whether a retry may be sent: freely
// while the host shows no sign that load hurts it, and within a tight share
// of the traffic while it does.
//
// Random failures (a share of 503s, connection resets, a flapping host)
// cost the server nothing that other calls need, and retrying them is what
// gets calls through: there the budget refuses nothing, and Retry.Max
// bounds the load (and the breaker an outage). A capacity-bound server is
// different: when load exceeds its capacity its queue grows, every answer
// comes later, attempts time out while the server still works on them, and
// each retry takes the place of another call's first attempt or adds to the
// backlog; retrying there keeps it overloaded after the trigger has gone
// (a metastable failure). So the budget watches for the signs of that:
//
//   - an attempt that timed out (work the server may still be doing for
//     nobody);
//   - a 429 (the server says this client sends too much);
//   - answered calls' latency over the last second above Latency times the
//     host's own baseline (a slow average of the same latency), and more
//     than 20 ms above it: a queue is building, as Vegas and Gradient2
//     read it.
//
// While one holds (a timeout or a 429 for Hold after it), retries in the
// window may add at most Ratio of the calls, or Min when that is more, as
// Finagle's RetryBudget does, and while a queue builds that share shrinks
// as the latency grows (times Latency × baseline / recent latency);
// otherwise every retry goes.
package budget

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// buckets is how many slices a window is cut into; counts fall out of the
// window one slice at a time.
const buckets = 10

// minRise is the least rise of the recent latency over the baseline that
// counts as a queue building: loopback and LAN latencies of a fraction of
// a millisecond double with any hiccup of the scheduler.
const minRise = int64(20 * time.Millisecond)

// Cause is why the attempt that would be retried failed.
type Cause uint8

// The causes TryRetry tells apart.
const (
	// Failure is any other retryable failure: a 5xx, a reset. It says
	// nothing of load.
	Failure Cause = iota
	// Timeout is an attempt that timed out: the server may still be
	// working on it, for nobody.
	Timeout
	// Throttled is a 429: the server says this client sends too much.
	Throttled
	// Hedge is not a failure but a hedged attempt (a second request for a
	// slow one): extra load that cuts latency, always held to the share.
	Hedge
)

// Config is a Budget's settings; every field must be positive.
type Config struct {
	// Ratio and Min bound retries while the host shows that load hurts
	// it: at most max(Min, Ratio × calls) retries per Window.
	Ratio  float64
	Min    int
	Window time.Duration
	// Latency is how many times the baseline the recent latency must
	// reach to hold retries back; Baseline the time constant of the
	// baseline's average.
	Latency  float64
	Baseline time.Duration
	// Hold is how long a timeout or a 429 holds retries back.
	Hold time.Duration
}

// Budget decides retries for one host. It is safe for concurrent use.
type Budget struct {
	c      Config
	period int64 // one bucket of Window, in nanoseconds

	// Calls are counted without a lock, in one of a few counters chosen
	// at random so that concurrent calls seldom write the same cache
	// line; only retries, which are rare, take mu.
	calls [callShards]struct {
		Counter
		_ [40]byte // 88 + 40: two cache lines each
	}
	lat [buckets]latSlot // answered calls' latency, per bucket of Window

	holdUntil atomic.Int64  // a timeout or a 429 holds retries back until then
	holdCause atomic.Uint32 // the Cause of the latest hold

	mu       sync.Mutex // serializes retries, so that concurrent ones never overspend
	head     int64      // index of the newest retry bucket, in periods since the epoch
	retries  [buckets]uint32
	retrySum uint32
	folded   int64   // the last latency bucket folded into baseline
	baseline float64 // slow average of the buckets' mean latency, ns; 0: none yet
}

// latSlot sums the latency of the calls answered in one period.
type latSlot struct {
	period atomic.Int64
	n, sum atomic.Int64
}

// New returns a Budget with the settings of c.
func New(c Config) *Budget {
	b := &Budget{c: c, period: max(int64(c.Window/buckets), int64(time.Millisecond))}
	for i := range b.calls {
		b.calls[i].Init(time.Duration(b.period * buckets))
	}
	return b
}

// Call records a call (its first attempt) at now, in Unix nanoseconds.
// spread picks the counter: any number that differs between concurrent
// calls, such as a random draw, so that they seldom write the same cache
// line.
func (b *Budget) Call(now int64, spread uint32) {
	b.calls[spread%callShards].Add(now, false)
}

// callShards is the number of counters calls are spread over.
const callShards = 8

// Answered records, at now, a call whose first attempt was answered
// successfully after took nanoseconds: the latency the baseline and the
// recent average are made of. The first call of each bucket folds the
// buckets before it into the baseline.
func (b *Budget) Answered(now, took int64) {
	p := now / b.period
	s := &b.lat[p%buckets]
	if old := s.period.Load(); old != p && s.period.CompareAndSwap(old, p) {
		// A call racing this one may still add to the old period's sums:
		// one sample, once per bucket.
		s.n.Store(0)
		s.sum.Store(0)
		b.mu.Lock()
		b.fold(p)
		b.mu.Unlock()
	}
	s.n.Add(1)
	s.sum.Add(took)
}

// fold averages into the baseline the latency buckets that ended before
// period p and were not yet folded. mu must be held.
func (b *Budget) fold(p int64) {
	for q := max(b.folded+1, p-buckets+1); q < p; q++ {
		s := &b.lat[q%buckets]
		n := s.n.Load()
		if s.period.Load() != q || n == 0 {
			continue
		}
		mean := float64(s.sum.Load()) / float64(n)
		if b.baseline == 0 {
			b.baseline = mean
			continue
		}
		tau := float64(b.c.Baseline)
		if b.queued(mean) {
			// A bucket slow enough to hold retries back moves the
			// baseline ten times slower: an overload of a few minutes
			// must not teach the budget that queueing is normal, but a
			// host that stays that slow becomes the new normal.
			tau *= slowerWhileQueued
		}
		b.baseline += (mean - b.baseline) * (1 - math.Exp(-float64(b.period)/tau))
	}
	b.folded = max(b.folded, p-1)
}

// recent returns the mean latency of the calls answered in the window
// that ends at now, and how many there were.
func (b *Budget) recent(now int64) (mean float64, n int64) {
	p := now / b.period
	var sum int64
	for i := range b.lat {
		s := &b.lat[i]
		if q := s.period.Load(); q > p-buckets && q <= p {
			n += s.n.Load()
			sum += s.sum.Load()
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(sum) / float64(n), n
}

// Why a Budget holds retries back, as Limit returns it.
const (
	ReasonLatency   = "latency"
	ReasonTimeout   = "timeout"
	ReasonThrottled = "throttled"
)

// limited reports whether the host shows that load hurts it at now, why,
// and the factor (at most 1) that scales the share it allows then: for a
// queue building, Latency × baseline over the recent latency, so that the
// longer the queue, the fewer the retries (as Gradient2 scales its limit).
// mu must be held.
func (b *Budget) limited(now int64) (held bool, why string, scale float64) {
	if now < b.holdUntil.Load() {
		if Cause(b.holdCause.Load()) == Throttled {
			return true, ReasonThrottled, 1
		}
		return true, ReasonTimeout, 1
	}
	b.fold(now / b.period)
	if b.baseline == 0 {
		return false, "", 1
	}
	if mean, _ := b.recent(now); b.queued(mean) {
		return true, ReasonLatency, b.c.Latency * b.baseline / mean
	}
	return false, "", 1
}

// slowerWhileQueued is how many times slower a bucket whose latency shows
// a queue moves the baseline.
const slowerWhileQueued = 10

// queued reports whether a mean latency shows a queue building: above
// Latency times the baseline, and minRise above it. mu must be held.
func (b *Budget) queued(mean float64) bool {
	return b.baseline > 0 && mean > b.c.Latency*b.baseline && int64(mean-b.baseline) > minRise
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

// callSum returns the calls in the window at now.
func (b *Budget) callSum(now int64) uint32 {
	var n uint32
	for i := range b.calls {
		n += b.calls[i].Sum(now)
	}
	return n
}

// TryRetry reports whether a retry of an attempt that failed for cause
// (or a hedge) may go at now and, if so, counts it. A timeout or a 429
// holds retries back for Hold from now.
func (b *Budget) TryRetry(now int64, cause Cause) bool {
	if cause == Timeout || cause == Throttled {
		b.holdCause.Store(uint32(cause))
		b.hold(now + int64(b.c.Hold))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.advance(now)
	held, scale := cause == Hedge, 1.0
	if !held {
		held, _, scale = b.limited(now)
	}
	if held && float64(b.retrySum) >= scale*b.share(now) {
		return false
	}
	b.retries[i]++
	b.retrySum++
	return true
}

// hold holds retries back until at least until.
func (b *Budget) hold(until int64) {
	for {
		old := b.holdUntil.Load()
		if old >= until || b.holdUntil.CompareAndSwap(old, until) {
			return
		}
	}
}

// share returns the retries allowed per window while held back. mu must
// be held.
func (b *Budget) share(now int64) float64 {
	return max(float64(b.c.Min), b.c.Ratio*float64(b.callSum(now)))
}

// Limit returns the share of the calls that retries may add now: free
// while the host shows no sign that load hurts it (then held is false and
// share is free, what the caller's retry policy allows), else Ratio (less
// while a queue builds), and why.
func (b *Budget) Limit(now int64, free float64) (share float64, held bool, reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	held, reason, scale := b.limited(now)
	if !held {
		return free, false, ""
	}
	return scale * b.c.Ratio, true, reason
}

// Counts returns the calls and retries in the window at now.
func (b *Budget) Counts(now int64) (calls, retries int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	return int(b.callSum(now)), int(b.retrySum)
}
