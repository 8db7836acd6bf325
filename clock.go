package resilient

// This file holds the Transport's clock. Every decision that depends on
// time reads it: the retry decision and its wait, admission (open times,
// probes, ramp-up), the retry budget and the host registry. Tests inject a
// virtual clock with withClock, so that a test of a five-second wait says
// "five seconds" and takes none. gobreaker keeps its own time.Now for its
// rolling window; nothing of ours depends on that window's timing.

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
