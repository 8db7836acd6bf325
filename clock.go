package resilient

// This file holds the Transport's clock. The retry decision and its wait,
// Retry-After dates, admission (open times, probes, ramp-up), the retry
// budget, the host registry, the admission gauge and the hedge delay read
// it. Tests inject a virtual clock with withClock, so that a test of a
// five-second wait says "five seconds" and takes none. Not on it: the
// attempt timeout (the transport's ResponseHeaderTimeout, or the watchdog's
// own time.Now and time.AfterFunc, watchdog.go), context deadlines
// (WithTimeout's and the caller's), the bound on reading a failed
// response's body (internal/body), the Error text of a CircuitOpenError
// the client did not make, and gobreaker's rolling window, which keeps its
// own time.Now.

import (
	"context"
	"time"
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
}

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

// withClock replaces the clock; for tests.
func withClock(c clock) Option {
	return optionFunc(func(cfg *config) { cfg.clock = c })
}
