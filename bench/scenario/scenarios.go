package scenario

import (
	"fmt"
	"net/http"
	"time"
)

// Phase is a stretch of a scenario during which the servers misbehave in
// one way.
type Phase struct {
	// Name labels the phase in the report: "lead-in", "503 30%", "healed"…
	Name string
	// Duration is how long the phase lasts.
	Duration time.Duration
	// Fault is what the servers do wrong; the zero value is healthy.
	Fault Fault
}

// Scenario is a fault schedule: phases, one after another, that every
// client's server follows on the same clock.
type Scenario struct {
	// ID is the scenario's number in the issue (1–8), as -scenarios takes it.
	ID int
	// Name is a short title.
	Name string
	// Phases follow each other without gaps.
	Phases []Phase
	// AttemptTimeout, when not zero, is the per-attempt limit that every
	// client gets in this scenario (see Settings).
	AttemptTimeout time.Duration
	// Note is printed under the scenario's table.
	Note string
}

// Duration is the sum of the phases' durations.
func (s Scenario) Duration() time.Duration {
	var d time.Duration
	for _, p := range s.Phases {
		d += p.Duration
	}
	return d
}

// Timing holds the traffic and the phase lengths of the matrix.
type Timing struct {
	// Rate is the number of calls started per second, per client.
	Rate float64
	// Deadline is every call's deadline (context.WithTimeout).
	Deadline time.Duration
	// Healthy is the length of scenario 1.
	Healthy time.Duration
	// LeadIn is the healthy phase that starts every faulty scenario.
	LeadIn time.Duration
	// Fault is the length of each faulty phase of scenarios 2, 3, 4, 7, 8.
	Fault time.Duration
	// Outage is the length of scenario 5's outage.
	Outage time.Duration
	// Flap is the length of scenario 6's flapping, and FlapPeriod its half
	// period (down that long, then up that long).
	Flap, FlapPeriod time.Duration
	// Healed is the healthy phase that ends every faulty scenario.
	Healed time.Duration
	// SlowDelay is scenario 8's server delay, and AttemptTimeout the
	// per-attempt limit every client gets there; SlowDelay must exceed it.
	SlowDelay, AttemptTimeout time.Duration
}

// DefaultTiming is the full matrix: about 160 s. Faulty phases are 10 s,
// as long as resilient's default breaker window, and far longer than its
// retry budget's 1 s window and the flapping period.
var DefaultTiming = Timing{
	Rate: 200, Deadline: 2 * time.Second,
	Healthy: 6 * time.Second, LeadIn: 3 * time.Second, Fault: 10 * time.Second,
	Outage: 8 * time.Second, Flap: 10 * time.Second, FlapPeriod: 500 * time.Millisecond,
	Healed: 4 * time.Second, SlowDelay: time.Second, AttemptTimeout: 500 * time.Millisecond,
}

// ShortTiming is the quick look of -short and of the tests: phases of
// 2–3 s, about 60 s in all, at the full matrix's 200 calls/s. The outage is
// 6 s: resilient spends a fixed number of requests to notice an outage (25
// failures in a row, and the retries already under way), which a shorter
// outage would weigh as a larger share of plain's load.
var ShortTiming = Timing{
	Rate: 200, Deadline: 2 * time.Second,
	Healthy: 2 * time.Second, LeadIn: time.Second, Fault: 2 * time.Second,
	Outage: 6 * time.Second, Flap: 3 * time.Second, FlapPeriod: 500 * time.Millisecond,
	Healed: 2500 * time.Millisecond, SlowDelay: time.Second, AttemptTimeout: 500 * time.Millisecond,
}

// Matrix returns the eight scenarios with the lengths of t.
func Matrix(t Timing) []Scenario {
	lead := Phase{Name: "lead-in", Duration: t.LeadIn}
	healed := Phase{Name: "healed", Duration: t.Healed}
	faulty := func(id int, name string, mid ...Phase) Scenario {
		ps := append([]Phase{lead}, mid...)
		return Scenario{ID: id, Name: name, Phases: append(ps, healed)}
	}
	status := func(share float64) Phase {
		return Phase{Name: fmt.Sprintf("503 %.0f%%", share*100), Duration: t.Fault,
			Fault: Fault{Kind: Status, Share: share, Status: http.StatusServiceUnavailable}}
	}
	reset := faulty(4, "50% connection resets", Phase{Name: "reset 50%", Duration: t.Fault, Fault: Fault{Kind: Reset, Share: 0.5}})
	reset.Note = "net/http itself resends a GET whose reused connection is reset before any byte of the response came back, " +
		"so even plain sends more than one request per call here."
	slow := faulty(8, "slow", Phase{Name: "slow", Duration: t.Fault, Fault: Fault{Kind: Slow, Delay: t.SlowDelay}})
	slow.AttemptTimeout = t.AttemptTimeout
	slow.Note = fmt.Sprintf("Every request waits %v while slow. Every client gets a %v limit per attempt here only: "+
		"resilient `WithRetry(Retry{AttemptTimeout: %v})`, failsafe and retryablehttp `ResponseHeaderTimeout: %v` on their transport, "+
		"plain a %v context on its one attempt.", t.SlowDelay, t.AttemptTimeout, t.AttemptTimeout, t.AttemptTimeout, t.AttemptTimeout)
	return []Scenario{
		{ID: 1, Name: "healthy", Phases: []Phase{{Name: "healthy", Duration: t.Healthy}}},
		faulty(2, "503 on a share of requests", status(0.1), status(0.3), status(0.6), status(0.9)),
		faulty(3, "30% 503 with Retry-After: 1", Phase{Name: "503 30% RA 1", Duration: t.Fault,
			Fault: Fault{Kind: Status, Share: 0.3, Status: http.StatusServiceUnavailable, RetryAfter: "1"}}),
		reset,
		faulty(5, "total outage", Phase{Name: "outage", Duration: t.Outage, Fault: Fault{Kind: Outage}}),
		faulty(6, "flapping", Phase{Name: "flapping", Duration: t.Flap, Fault: Fault{Kind: Flap, Period: t.FlapPeriod}}),
		faulty(7, "overload", Phase{Name: "overload 80%", Duration: t.Fault, Fault: Fault{Kind: Overload, Capacity: 0.8}}),
		slow,
	}
}
