package main

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Transition is one change of a circuit breaker's state, as the client
// logged it.
type Transition struct {
	At   time.Duration // offset from the start of the run
	Host string        // scheme://host:port the breaker guards
	From string        // "closed", "open" or "half-open"
	To   string        // "closed", "open" or "half-open"
}

// breakerLog is a slog.Handler that keeps the client's "resilient: circuit
// breaker open/half-open/closed" records, the only place where the library
// reports its breakers' states. It drops every other record. It is safe for
// concurrent use; the client calls it with the breaker's lock held, so it
// only appends.
type breakerLog struct {
	start time.Time

	mu          sync.Mutex
	transitions []Transition
}

func newBreakerLog(start time.Time) *breakerLog { return &breakerLog{start: start} }

const breakerMsg = "resilient: circuit breaker "

// Enabled accepts Warn and above: the level of breaker transitions.
func (b *breakerLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

// Handle keeps r when it reports a transition.
func (b *breakerLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, breakerMsg) {
		return nil
	}
	t := Transition{At: r.Time.Sub(b.start)}
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "host":
			t.Host = a.Value.String()
		case "from":
			t.From = a.Value.String()
		case "to":
			t.To = a.Value.String()
		}
		return true
	})
	if t.To == "" { // e.g. "opened by another instance": not a local transition
		return nil
	}
	b.mu.Lock()
	b.transitions = append(b.transitions, t)
	b.mu.Unlock()
	return nil
}

// WithAttrs returns b: the attributes the demo needs are on the records.
func (b *breakerLog) WithAttrs([]slog.Attr) slog.Handler { return b }

// WithGroup returns b.
func (b *breakerLog) WithGroup(string) slog.Handler { return b }

// Transitions returns the transitions logged so far, oldest first.
func (b *breakerLog) Transitions() []Transition {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Transition(nil), b.transitions...)
}

// State returns the last state logged for host, "closed" before any.
func (b *breakerLog) State(host string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.transitions) - 1; i >= 0; i-- {
		if b.transitions[i].Host == host {
			return b.transitions[i].To
		}
	}
	return "closed"
}
