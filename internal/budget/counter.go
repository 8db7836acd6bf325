package budget

import (
	"sync/atomic"
	"time"
)

// Counter counts events over a rolling window cut into buckets slots,
// without a lock: each slot holds, in one word, which period it counts
// (the low 32 bits of the period's number, in Unix time) and its count, so
// that a slot is claimed for a new period, and counted in, by atomic
// operations. Under concurrency it may lose a count at the moment a slot
// turns over; it never counts an event twice. The zero value is not
// usable: see NewCounter. It is safe for concurrent use.
type Counter struct {
	period int64 // one slot, in nanoseconds
	slots  [buckets]atomic.Uint64
}

// NewCounter returns a Counter over window.
func NewCounter(window time.Duration) *Counter {
	c := &Counter{}
	c.Init(window)
	return c
}

// Init readies a Counter held by value to count over window.
func (c *Counter) Init(window time.Duration) {
	c.period = max(int64(window/buckets), 1)
}

// Add counts an event at now, in Unix nanoseconds. With saturate, a slot
// stops counting at one: for a caller that only needs to know whether the
// window holds any event, the common case then only reads.
func (c *Counter) Add(now int64, saturate bool) {
	p := uint32(now / c.period)
	sl := &c.slots[p%buckets]
	for {
		v := sl.Load()
		if uint32(v>>32) != p {
			// The slot holds an older period (or none): claim it.
			if sl.CompareAndSwap(v, uint64(p)<<32|1) {
				return
			}
			continue
		}
		if saturate && uint32(v) > 0 {
			return
		}
		sl.Add(1)
		return
	}
}

// Sum returns the events counted in the window that ends at now.
func (c *Counter) Sum(now int64) uint32 {
	p := uint32(now / c.period)
	var n uint32
	for i := range c.slots {
		v := c.slots[i].Load()
		if p-uint32(v>>32) < buckets {
			n += uint32(v)
		}
	}
	return n
}

// Reset forgets every event.
func (c *Counter) Reset() {
	for i := range c.slots {
		c.slots[i].Store(0)
	}
}
