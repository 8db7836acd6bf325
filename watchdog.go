package resilient

// This file holds the watchdog that enforces Retry.AttemptTimeout through
// the context, for base transports that cannot enforce it themselves. A
// timer and a context per attempt cost six allocations and two locks of
// the runtime's timer heap; instead, every attempt in flight is linked
// into one of a few lists, in the order it started, and one timer per
// Transport wakes at the earliest deadline, cancels the attempts past it
// and sleeps until the next. Since every attempt of a Transport has the
// same timeout, each list is in deadline order, and a wake-up looks at the
// heads only. The timer runs only while attempts are in flight: it holds
// no goroutine between wake-ups.

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// watchShards is the number of lists, so that concurrent attempts seldom
// take the same lock.
const watchShards = 16

// watchdog cancels attempts that outlive the attempt timeout d.
type watchdog struct {
	d      time.Duration
	shards [watchShards]watchShard

	armed atomic.Bool // the timer will fire, at or before every deadline in the lists
	mu    sync.Mutex  // guards timer
	timer *time.Timer
}

// watchShard is one list of attempts in flight, oldest first.
type watchShard struct {
	mu         sync.Mutex
	head, tail *attemptCtx
	_          [40]byte // a cache line each
}

func newWatchdog(d time.Duration) *watchdog { return &watchdog{d: d} }

// start links a, an attempt about to be sent, with its deadline.
func (w *watchdog) start(a *attemptCtx) {
	a.deadline = time.Now().UnixNano() + int64(w.d)
	s := &w.shards[rand.Uint32()%watchShards]
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

// stop unlinks a, whose attempt is over, and reports whether the watchdog
// canceled it.
func (w *watchdog) stop(a *attemptCtx) bool {
	if s := a.shard; s != nil {
		s.mu.Lock()
		if a.shard != nil {
			s.unlinkLocked(a)
		}
		s.mu.Unlock()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.expired
}

func (s *watchShard) unlinkLocked(a *attemptCtx) {
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

// fire cancels the attempts past their deadline and re-arms the timer for
// the earliest deadline left, if any.
func (w *watchdog) fire() {
	now := time.Now().UnixNano()
	var expired []*attemptCtx
	next := int64(math.MaxInt64)
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		for s.head != nil && s.head.deadline <= now {
			a := s.head
			s.unlinkLocked(a)
			expired = append(expired, a)
		}
		if s.head != nil {
			next = min(next, s.head.deadline)
		}
		s.mu.Unlock()
	}
	for _, a := range expired {
		a.cancel(errAttemptDeadline, true)
	}
	w.mu.Lock()
	if next != math.MaxInt64 {
		w.timer.Reset(time.Duration(next - now))
		w.mu.Unlock()
		return
	}
	w.armed.Store(false)
	w.mu.Unlock()
	// An attempt started since the lists were read may have seen the
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

// errAttemptDeadline is what an attempt's context's Err returns once the
// watchdog canceled it: context.DeadlineExceeded, as for a context's own
// deadline, so that transports report it as a timeout.
var errAttemptDeadline = context.DeadlineExceeded
