// Package latency estimates a quantile of a host's recent latencies, for
// the adaptive delay of hedged requests: a histogram of log-spaced buckets
// (four per doubling, so a bucket is at most 25% wide, from about a
// microsecond to an hour), counted with atomics and halved every
// Decay samples, so that old samples fade and the estimate follows the
// host. Observing a sample costs a few atomic adds and allocates nothing;
// the quantile is recomputed from the buckets every recompute samples and
// read from a cache in between, as Finagle's BackupRequestFilter
// recomputes its delay every few seconds rather than per request.
package latency

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

const (
	// unitShift: latencies are counted in units of 1<<unitShift ns (~1µs).
	unitShift = 10
	// perOctave buckets per doubling.
	perOctave = 4
	// octaves covered: units up to 2^32, about 73 minutes.
	octaves = 31
	// nBuckets is the number of buckets; the last one holds everything
	// longer.
	nBuckets = perOctave * octaves
	// recompute is how many samples pass between two computations of the
	// quantile, once it rests on warm samples or more; before that it is
	// computed every time, so that a minimum of samples is seen when
	// reached.
	recompute = 16
	warm      = 256
)

// Estimator estimates a quantile of the latencies it observes, with
// exponential forgetting: every decay samples, every bucket is halved. Its
// zero value is not usable; use New. It is safe for concurrent use;
// concurrent halving and counting may lose a sample now and then, which
// does not matter to an estimate.
type Estimator struct {
	decay  uint64
	seen   atomic.Uint64 // samples observed since New
	counts [nBuckets]atomic.Uint32

	// The last quantile computed, q, from which sample and on how many;
	// written together by whoever recomputes, read without a lock: a
	// reader may pair a value with the q of a concurrent recomputation,
	// which only matters to callers asking for different quantiles.
	cachedQ       atomic.Uint64 // math.Float64bits(q)
	cachedAt      atomic.Uint64 // seen when computed, plus 1 (0: never)
	cachedSamples atomic.Uint64
	cachedValue   atomic.Int64
}

// New returns an Estimator that halves its counts every decay samples
// (a decay below 2 means 2): the histogram then holds between decay and
// 2·decay samples once it is full, the newest weighing most.
func New(decay int) *Estimator {
	return &Estimator{decay: uint64(max(decay, 2))}
}

// bucket returns the index of the bucket that holds d.
func bucket(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	u := uint64(d) >> unitShift
	if u < perOctave {
		return int(u)
	}
	o := bits.Len64(u) - 1 // u is in [2^o, 2^(o+1)), o >= 2
	sub := int(u>>(o-2)) & (perOctave - 1)
	return min(perOctave*(o-1)+sub, nBuckets-1)
}

// bounds returns the range of latencies that bucket i holds.
func bounds(i int) (lo, hi time.Duration) {
	if i < perOctave {
		return time.Duration(i) << unitShift, time.Duration(i+1) << unitShift
	}
	o := i/perOctave + 1
	sub := i % perOctave
	return time.Duration(perOctave+sub) << (o - 2) << unitShift, time.Duration(perOctave+sub+1) << (o - 2) << unitShift
}

// Observe records one latency.
func (e *Estimator) Observe(d time.Duration) {
	e.counts[bucket(d)].Add(1)
	if n := e.seen.Add(1); n%e.decay == 0 {
		for i := range e.counts {
			if c := e.counts[i].Load(); c != 0 {
				e.counts[i].Store(c / 2)
			}
		}
	}
}

// Quantile returns the latency below which a share q of the recent samples
// fall, interpolated within its bucket, and the number of samples that
// estimate rests on (they decay, so it stays below 2·decay). It is
// recomputed every 16 samples (every time while fewer than 256 are
// held), or when q changes; otherwise it is read from
// a cache. It allocates nothing. With no samples it returns 0, 0.
func (e *Estimator) Quantile(q float64) (time.Duration, uint64) {
	seen := e.seen.Load()
	if at := e.cachedAt.Load(); at != 0 && seen+1-at < recompute && e.cachedSamples.Load() >= warm &&
		e.cachedQ.Load() == math.Float64bits(q) {
		return time.Duration(e.cachedValue.Load()), e.cachedSamples.Load()
	}
	var counts [nBuckets]uint64
	var total uint64
	for i := range e.counts {
		counts[i] = uint64(e.counts[i].Load())
		total += counts[i]
	}
	var value time.Duration
	if total > 0 {
		rank := math.Min(math.Max(q, 0), 1) * float64(total)
		var below float64
		for i, c := range counts {
			if c == 0 {
				continue
			}
			if below+float64(c) >= rank || i == nBuckets-1 {
				lo, hi := bounds(i)
				frac := math.Max(0, math.Min(1, (rank-below)/float64(c)))
				value = lo + time.Duration(frac*float64(hi-lo))
				break
			}
			below += float64(c)
		}
	}
	e.cachedValue.Store(int64(value))
	e.cachedSamples.Store(total)
	e.cachedQ.Store(math.Float64bits(q))
	e.cachedAt.Store(seen + 1)
	return value, total
}
