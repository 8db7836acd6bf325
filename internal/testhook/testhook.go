// Package testhook lets the tests of other packages in this module reach
// what package resilient keeps unexported, as google.golang.org/grpc's
// internal package does for grpc: resilient's init sets WithClock, and
// only tests call it. It also holds the virtual Clock those tests pass.
package testhook

import (
	"context"
	"sync"
	"time"
)

// WithClock returns a resilient.Option, as an any, that makes the client
// read time from c: resilient.Option(testhook.WithClock(c).(resilient.Option)).
// Package resilient sets it when it is initialized.
var WithClock func(c *Clock) any

// Clock is a virtual clock: Now moves only when Sleep or Set moves it, and
// Sleep moves it by the whole wait at once and records the wait, so that a
// test of a five-second wait takes no time. Its timers fire when the
// clock passes them. It does not mix with context deadlines, which are
// real time (Set the clock to time.Now() first where they matter). It is
// safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	slept  []time.Duration
	timers []*timer
}

// NewClock returns a Clock at 2026-01-01 00:00 UTC.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

type timer struct {
	at      time.Time
	c       chan time.Time // Timer's; nil for AfterFunc
	f       func()         // AfterFunc's
	stopped bool
	clock   *Clock
}

func (t *timer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, firing the timers it passes.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	c.fireLocked()
}

// Sleep moves the clock by d at once and records d, unless ctx is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	c.fireLocked()
	return true
}

// Timer returns a channel that receives once the clock passed d from now.
func (c *Clock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	t := &timer{c: make(chan time.Time, 1), clock: c}
	c.add(t, d)
	return t.c, t.Stop
}

// AfterFunc calls f in its own goroutine once the clock passed d from now.
func (c *Clock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	t := &timer{f: f, clock: c}
	c.add(t, d)
	return t
}

func (c *Clock) add(t *timer, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t.at = c.now.Add(d)
	c.timers = append(c.timers, t)
	c.fireLocked()
}

// fireLocked fires the timers that are due; c.mu is held.
func (c *Clock) fireLocked() {
	kept := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !c.now.Before(t.at):
			t.stopped = true
			if t.f != nil {
				go t.f()
			} else {
				t.c <- c.now
			}
		default:
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

// Waits returns the waits slept so far.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}
