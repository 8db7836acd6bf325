package resilient

// This file holds the Transport's clock. The retry decision and its wait,
// admission (holds, probes, ramp-up), the retry budget, the host registry,
// the hedge delay and the attempt timeout over a caller's transport read
// it. Tests inject a virtual clock with withClock, so that a test of a
// five-second wait says "five seconds" and takes none. What does not read
// it: gobreaker, which keeps its own time.Now (nothing of ours depends on
// its timing: its open ends at once, and its counts have no interval);
// WithTimeout's deadline, a context.WithTimeout; the transport's
// ResponseHeaderTimeout; and the bounded read of an error body.

import (
	"context"
	"time"

	"github.com/resilient-http/resilient/internal/testhook"
)

// clock is the Transport's source of time.
type clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d, or until ctx is done, and reports whether the
	// whole of d passed.
	Sleep(ctx context.Context, d time.Duration) bool
	// Timer returns a channel that receives once d has passed, and a
	// function that stops it (the hedge delay, hedge.go).
	Timer(d time.Duration) (<-chan time.Time, func() bool)
	// AfterFunc calls f in its own goroutine once d has passed, unless
	// stopped first (the attempt timeout, timeout.go).
	AfterFunc(d time.Duration, f func()) stopper
}

// stopper stops a timer, and reports whether it did so before the timer
// fired; *time.Timer is one. An alias, so that a clock of another package
// (internal/testhook's) can return one.
type stopper = interface{ Stop() bool }

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func (realClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

func (realClock) AfterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }

// withClock replaces the clock; for tests.
func withClock(c clock) Option {
	return optionFunc(func(cfg *config) { cfg.clock = c })
}

// The tests of the module's other packages get withClock through
// internal/testhook.
func init() {
	testhook.WithClock = func(c *testhook.Clock) any { return withClock(c) }
}
