package resilient

// This file holds the watchdog that bounds waits in time without a timer
// each: Retry.AttemptTimeout enforced through the context, for base
// transports that cannot enforce it themselves, and the bounded read of an
// error body (bodyGuard). A timer and a context per attempt cost six
// allocations and two locks of the runtime's timer heap; instead, every
// wait in flight is linked into one of a few lists, in the order it
// started, and one timer per watchdog wakes at the earliest deadline,
// expires the waits past it and sleeps until the next. Since every wait of
// a watchdog has the same bound, each list is in deadline order, and a
// wake-up looks at the heads only. (A call's first attempt counts from the
// call's start, read once for both, so a list may be out of order by the
// microseconds between the two: such a wait expires that much late.) The
// timer runs only while waits are in flight: it holds no goroutine between
// wake-ups.

import (
	"context"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/resilient-http/resilient/internal/body"
)

// watchShards is the number of lists, so that concurrent attempts seldom
// take the same lock.
const watchShards = 16

// watchdog expires the waits that outlive d. Its clock is the monotonic
// time since base: real time, whatever clock the Transport was given, read
// at half the cost of time.Now (29 ns against 54 here), which reads the
// wall clock too.
type watchdog struct {
	d      time.Duration
	base   time.Time
	shards [watchShards]watchShard

	armed atomic.Bool // the timer will fire, at or before every deadline in the lists
	mu    sync.Mutex  // guards timer
	timer *time.Timer
}

// watchShard is one list of waits in flight, oldest first.
type watchShard struct {
	mu         sync.Mutex
	head, tail *watchNode
	_          [40]byte // a cache line each
}

// watchNode is a wait that a watchdog bounds, embedded in what waits.
type watchNode struct {
	owner      expirer // what to expire at the deadline
	deadline   int64   // on the watchdog's clock (now)
	prev, next *watchNode
	shard      *watchShard // nil when not linked; guarded by the shard's lock
	home       *watchShard // the shard start linked it to; written by start only
}

// expirer is what a watchdog expires.
type expirer interface{ expire() }

// spread returns a number that differs between objects alive at once, from
// p's address, to pick one of a few counters or lists so that concurrent
// calls seldom share a cache line. The low 7 bits are dropped: objects of
// one size class lie a multiple of their size apart, so that those bits
// take few values. Calls (384 B) then step by 3, coprime with the 8
// counters and 16 lists they pick from.
func spread(p unsafe.Pointer) uint32 { return uint32(uintptr(p) >> 7) }

func newWatchdog(d time.Duration) *watchdog { return &watchdog{d: d, base: time.Now()} }

// now reads the watchdog's clock: nanoseconds since base, monotonic.
func (w *watchdog) now() int64 { return int64(time.Since(w.base)) }

// at converts t, a reading of the real clock with its monotonic part, to
// the watchdog's clock, without reading the clock again.
func (w *watchdog) at(t time.Time) int64 { return int64(t.Sub(w.base)) }

// start links a, a wait about to begin now (on the watchdog's clock), with
// its deadline. The list is picked by a's address, which differs between
// concurrent waits, rather than by a random draw (about 85 instructions).
func (w *watchdog) start(a *watchNode, now int64) {
	a.deadline = now + int64(w.d)
	s := &w.shards[spread(unsafe.Pointer(a))%watchShards]
	a.home = s
	s.mu.Lock()
	a.shard = s
	a.prev, a.next = s.tail, nil
	if s.tail != nil {
		s.tail.next = a
	} else {
		s.head = a
	}
	s.tail = a
	s.mu.Unlock()
	if !w.armed.Load() {
		w.arm(w.d)
	}
}

// stop unlinks a, whose wait is over. Whether it expired, its owner knows.
func (w *watchdog) stop(a *watchNode) {
	// a.shard is read under the lock: fire unlinks expired waits under it.
	if s := a.home; s != nil {
		s.mu.Lock()
		if a.shard != nil {
			s.unlinkLocked(a)
		}
		s.mu.Unlock()
	}
}

func (s *watchShard) unlinkLocked(a *watchNode) {
	if a.prev != nil {
		a.prev.next = a.next
	} else {
		s.head = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	} else {
		s.tail = a.prev
	}
	a.prev, a.next, a.shard = nil, nil, nil
}

// arm makes the timer fire after d unless it is armed already.
func (w *watchdog) arm(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.armed.Load() {
		return
	}
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.fire)
	} else {
		w.timer.Reset(d)
	}
	w.armed.Store(true)
}

// fire expires the waits past their deadline and re-arms the timer for
// the earliest deadline left, if any.
func (w *watchdog) fire() {
	now := w.now()
	var expired []expirer
	next := int64(math.MaxInt64)
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		for s.head != nil && s.head.deadline <= now {
			a := s.head
			s.unlinkLocked(a)
			expired = append(expired, a.owner)
		}
		if s.head != nil {
			next = min(next, s.head.deadline)
		}
		s.mu.Unlock()
	}
	for _, e := range expired {
		e.expire()
	}
	w.mu.Lock()
	if next != math.MaxInt64 {
		w.timer.Reset(time.Duration(next - now))
		w.mu.Unlock()
		return
	}
	w.armed.Store(false)
	w.mu.Unlock()
	// A wait begun since the lists were read may have seen the
	// timer armed: look again.
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		busy := s.head != nil
		s.mu.Unlock()
		if busy {
			w.arm(w.d)
			return
		}
	}
}

// bodyGuard bounds the read of a body that is not the caller's (an error
// body kept for the final error) in time: it closes the body when the
// watchdog expires it, which ends the read.
type bodyGuard struct {
	io.ReadCloser
	node  watchNode
	fired atomic.Bool
}

func (g *bodyGuard) expire() {
	g.fired.Store(true)
	g.ReadCloser.Close()
}

// keepBody reads resp's body for the final error, as body.Keep does,
// bounded by bodyReadTimeout through the Transport's body watchdog, and
// closes it.
func (t *Transport) keepBody(resp *http.Response) (b []byte, truncated bool) {
	if resp.Body == nil {
		return nil, false
	}
	g := &bodyGuard{ReadCloser: resp.Body}
	g.node.owner = g
	t.bodyWatch.start(&g.node, t.bodyWatch.now())
	b, truncated, _ = body.Keep(g, resp.ContentLength, t.cfg.bodyLimit, drainLimit, 0)
	t.bodyWatch.stop(&g.node)
	if g.fired.Load() {
		truncated = true
	}
	return b, truncated
}

// errAttemptDeadline is what an attempt's context's Err returns once the
// watchdog canceled it: context.DeadlineExceeded, as for a context's own
// deadline, so that transports report it as a timeout.
var errAttemptDeadline = context.DeadlineExceeded
