package resilient

// This file holds the count of successes that admission does not report to
// gobreaker. While a host's breaker is closed, a success cannot trip it,
// and taking gobreaker's lock twice per attempt to count one was most of
// the cost of admission under concurrency. Successes are counted here
// instead, without a lock, over the breaker's rolling Window; failures
// still go through gobreaker, whose ReadyToTrip adds these successes to
// its own counts (admission.go). gobreaker stays the state machine.

import "sync/atomic"

// successSlots is how many slices the window is cut into, as gobreaker
// cuts its own (BucketPeriod is Window/10).
const successSlots = 10

// successCount counts successes over a rolling window of successSlots
// slots. Each slot holds, in one word, which period it counts (the low 32
// bits of the period's number) and its count, so that a slot is claimed
// for a new period and counted in by compare-and-swap, without a lock.
// With saturate, a slot stops counting at one: enough for a FailureRatio
// of 1, where one success in the window is as good as any number.
type successCount struct {
	period int64 // one slot, in nanoseconds
	slots  [successSlots]atomic.Uint64
}

// add counts a success at now, in Unix nanoseconds.
func (s *successCount) add(now int64, saturate bool) {
	p := uint64(uint32(now / s.period))
	sl := &s.slots[p%successSlots]
	for {
		v := sl.Load()
		if v>>32 != p {
			if sl.CompareAndSwap(v, p<<32|1) {
				return
			}
			continue
		}
		if saturate && uint32(v) > 0 {
			return // read-only while healthy
		}
		sl.Add(1)
		return
	}
}

// sum returns the successes counted in the window that ends at now.
func (s *successCount) sum(now int64) uint32 {
	p := uint32(now / s.period)
	var n uint32
	for i := range s.slots {
		v := s.slots[i].Load()
		if p-uint32(v>>32) < successSlots {
			n += uint32(v)
		}
	}
	return n
}

// reset forgets every success, as gobreaker forgets its counts when its
// state changes.
func (s *successCount) reset() {
	for i := range s.slots {
		s.slots[i].Store(0)
	}
}
