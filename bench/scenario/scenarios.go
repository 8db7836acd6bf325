package scenario

import (
	"fmt"
	"net/http"
	"slices"
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
	// Capacity, when set, makes every client's server the capacity-bound
	// model (capacity.go) instead of one that answers at once.
	Capacity *Capacity
	// Fleet, when above 1, makes every client that many instances, each
	// built by Client.New with its own connection pool, sharing one server:
	// call i goes through instance i mod Fleet.
	Fleet int
	// Shared makes a fleet's resilient instances share breaker transitions
	// through redisstore and the Redis at Options.Redis.
	Shared bool
}

// Storm reports whether s is a retry-storm scenario: a capacity-bound
// server and a trigger.
func (s Scenario) Storm() bool {
	return s.Capacity != nil && slices.ContainsFunc(s.Phases, func(p Phase) bool { return p.Name == "trigger" })
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
	// StormBefore, Trigger and StormAfter are the windows of the retry-storm
	// scenarios (9–13): base load, the server at half capacity, base load
	// again. StormTimeout is the per-attempt limit of scenarios 10 and 12,
	// shorter than the server's queueing delay when its queue is full.
	StormBefore, Trigger, StormAfter, StormTimeout time.Duration
	// Costly is the length of scenario 14's overload.
	Costly time.Duration
}

// DefaultTiming is the full matrix: about 260 s (160 s for scenarios 1–8,
// 13 s for each storm, 27 s for the costly overload). Faulty phases are 10 s,
// as long as resilient's default breaker window, and far longer than its
// retry budget's 1 s window and the flapping period.
var DefaultTiming = Timing{
	Rate: 200, Deadline: 2 * time.Second,
	Healthy: 6 * time.Second, LeadIn: 3 * time.Second, Fault: 10 * time.Second,
	Outage: 8 * time.Second, Flap: 10 * time.Second, FlapPeriod: 500 * time.Millisecond,
	Healed: 4 * time.Second, SlowDelay: time.Second, AttemptTimeout: 500 * time.Millisecond,
	StormBefore: 3 * time.Second, Trigger: 4 * time.Second, StormAfter: 6 * time.Second, StormTimeout: 250 * time.Millisecond,
	Costly: 20 * time.Second,
}

// ShortTiming is the quick look of -short and of the tests: phases of
// 2–3 s, about 120 s in all (9 s per storm; the costly overload 10 s,
// since it must first fill the server's queue), at the full matrix's
// 200 calls/s. The outage is
// 6 s: resilient spends a fixed number of requests to notice an outage (25
// failures in a row, and the retries already under way), which a shorter
// outage would weigh as a larger share of plain's load.
var ShortTiming = Timing{
	Rate: 200, Deadline: 2 * time.Second,
	Healthy: 2 * time.Second, LeadIn: time.Second, Fault: 2 * time.Second,
	Outage: 6 * time.Second, Flap: 3 * time.Second, FlapPeriod: 500 * time.Millisecond,
	Healed: 2500 * time.Millisecond, SlowDelay: time.Second, AttemptTimeout: 500 * time.Millisecond,
	StormBefore: 2 * time.Second, Trigger: 3 * time.Second, StormAfter: 4 * time.Second, StormTimeout: 250 * time.Millisecond,
	Costly: 10 * time.Second,
}

// StormCapacity returns the capacity-bound server of scenarios 9–14 for
// calls at rate: 8 workers whose service time makes the base load 75% of
// capacity (30 ms at 200 calls/s), a queue of half a second's work, and a
// rejection that costs a tenth of a request's work.
func StormCapacity(rate float64) Capacity {
	const workers = 8
	service := time.Duration(0.75 * workers / rate * float64(time.Second))
	c := Capacity{Workers: workers, Service: service, Reject: service / 10}
	c.Queue = int(c.Rate() / 2)
	return c
}

// Matrix returns the scenarios with the lengths of t: the eight of the
// first issue, then five retry storms (9–13) on a capacity-bound server,
// alone and as fleets, and an overload whose rejections cost capacity (14).
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
	capacity := StormCapacity(t.Rate)
	storm := func(id int, name string, timeout time.Duration, fleet int, shared bool) Scenario {
		sc := Scenario{ID: id, Name: name, Capacity: &capacity, AttemptTimeout: timeout, Fleet: fleet, Shared: shared,
			Phases: []Phase{{Name: "before", Duration: t.StormBefore},
				{Name: "trigger", Duration: t.Trigger, Fault: Fault{Kind: Slowdown, Capacity: 0.5}},
				{Name: "after", Duration: t.StormAfter}}}
		sc.Note = fmt.Sprintf("A capacity-bound server: %d workers of %v each (%.0f requests/s, so the base load is %.0f%% of capacity), "+
			"a FIFO queue of %d (%v of work), a rejection costs %v of work. The trigger halves its capacity for %v. ",
			capacity.Workers, capacity.Service, capacity.Rate(), 100*t.Rate/capacity.Rate(), capacity.Queue,
			time.Duration(float64(capacity.Queue)/capacity.Rate()*float64(time.Second)).Round(time.Millisecond), capacity.Reject, t.Trigger)
		if timeout > 0 {
			sc.Note += fmt.Sprintf("Every client gets a %v limit per attempt, shorter than the queueing delay of a full queue. ", timeout)
		}
		if fleet > 1 {
			sc.Note += fmt.Sprintf("Each client is a fleet of %d instances (separate transports), call i through instance i mod %d. ", fleet, fleet)
		}
		if shared {
			sc.Note += "resilient's instances share breaker transitions through redisstore and a real Redis. "
		}
		return sc
	}
	costly := Scenario{ID: 14, Name: "overload, rejection costs capacity", Capacity: &capacity, Phases: []Phase{lead,
		{Name: "costly overload", Duration: t.Costly, Fault: Fault{Kind: Slowdown, Capacity: 0.5}}, healed}}
	costly.Note = fmt.Sprintf("The capacity-bound server of scenarios 9–13 at half its capacity (%.0f requests/s for %.0f calls/s) for %v: "+
		"unlike scenario 7's, it turns the excess away only once its queue is full (after about %v), a rejection costs it %v of work, "+
		"and its full queue adds %v of latency.",
		0.5*capacity.Rate(), t.Rate, t.Costly, time.Duration(float64(capacity.Queue)/(t.Rate-0.5*capacity.Rate())*float64(time.Second)).Round(100*time.Millisecond),
		capacity.Reject, time.Duration(float64(capacity.Queue)/(0.5*capacity.Rate())*float64(time.Second)).Round(time.Millisecond))
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
		storm(9, "retry storm", 0, 1, false),
		storm(10, "retry storm, short attempt timeout", t.StormTimeout, 1, false),
		storm(11, "retry storm, fleet of 20", 0, 20, false),
		storm(12, "retry storm, fleet of 20, short attempt timeout", t.StormTimeout, 20, false),
		storm(13, "retry storm, fleet of 20 sharing through Redis, short attempt timeout", t.StormTimeout, 20, true),
		costly,
	}
}
