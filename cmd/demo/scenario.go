package main

import (
	"net/http"
	"time"
)

// Phase is one stage of the outage that the embedded server plays. A phase
// answers a share of the requests with a failure and the rest with 200 OK.
type Phase struct {
	Name  string        // "healthy", "flaky", "down", "healed"
	About string        // what the server does, in a few words
	Start time.Duration // offset from the start of the run
	End   time.Duration // offset where the next phase starts

	FailRatio  float64       // share of requests that fail; 0 means none
	Status     int           // status of a failed request
	RetryAfter string        // Retry-After header of a failed request, or ""
	Problem    bool          // failures carry an application/problem+json body
	Latency    time.Duration // least time the server takes to answer
	Jitter     time.Duration // up to this much is added to Latency at random
}

// Scenario is the sequence of phases of one run. Its zero value has no
// phases; build one with newScenario or remoteScenario.
type Scenario struct {
	Phases []Phase
	Remote bool // the target is a real service (-url): phases do not apply
}

// newScenario returns the outage the demo plays, with four phases of length
// phase each: healthy, flaky (30% 503 with Retry-After), down (every request
// 500 with a problem+json body), healed.
func newScenario(phase time.Duration) Scenario {
	ph := []Phase{
		{Name: "healthy", About: "every request succeeds",
			Latency: 3 * time.Millisecond, Jitter: 4 * time.Millisecond},
		{Name: "flaky", About: "30% 503 Service Unavailable, Retry-After: 1",
			FailRatio: 0.3, Status: http.StatusServiceUnavailable, RetryAfter: "1",
			Latency: 3 * time.Millisecond, Jitter: 4 * time.Millisecond},
		{Name: "down", About: "100% 500 with a problem+json body",
			FailRatio: 1, Status: http.StatusInternalServerError, Problem: true,
			Latency: 1 * time.Millisecond, Jitter: 1 * time.Millisecond},
		{Name: "healed", About: "every request succeeds again",
			Latency: 3 * time.Millisecond, Jitter: 4 * time.Millisecond},
	}
	for i := range ph {
		ph[i].Start = time.Duration(i) * phase
		ph[i].End = time.Duration(i+1) * phase
	}
	return Scenario{Phases: ph}
}

// remoteScenario is the single phase of a run against a real service.
func remoteScenario(d time.Duration) Scenario {
	return Scenario{Remote: true, Phases: []Phase{{Name: "remote", About: "a real service (-url)", End: d}}}
}

// Duration returns the length of the whole run.
func (s Scenario) Duration() time.Duration {
	if len(s.Phases) == 0 {
		return 0
	}
	return s.Phases[len(s.Phases)-1].End
}

// At returns the index of the phase that covers offset d. Offsets past the
// end belong to the last phase, so that calls finishing late still count.
func (s Scenario) At(d time.Duration) int {
	for i, p := range s.Phases {
		if d < p.End {
			return i
		}
	}
	return len(s.Phases) - 1
}
