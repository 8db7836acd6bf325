package main

import (
	"net/http"
	"time"

	"github.com/resilient-http/resilient/chaos"
)

// Phase is one stage of the outage that the embedded server plays: the
// chaos rules that decide, request by request, how the server answers.
type Phase struct {
	Name  string        // "healthy", "flaky", "down", "healed"
	About string        // what the server does, in a few words
	Start time.Duration // offset from the start of the run
	End   time.Duration // offset where the next phase starts

	// Rules are the faults the server's chaos.Injector injects in this
	// phase; a request that none picks is answered 200 with an order.
	Rules []chaos.Rule
}

// Scenario is the sequence of phases of one run. Its zero value has no
// phases; build one with newScenario or remoteScenario.
type Scenario struct {
	Phases []Phase
	Remote bool // the target is a real service (-url): phases do not apply
}

// problem is the body of the down phase's 500s (RFC 9457 problem details).
const problem = `{"type":"https://example.com/problems/database-unavailable","title":"Database unavailable","status":500,` +
	`"detail":"orders-db primary is not accepting connections (pool exhausted: 0 of 50 free)"}` + "\n"

// newScenario returns the outage the demo plays, with four phases of length
// phase each: healthy, flaky (30% 503 with Retry-After), down (every request
// 500 with a problem+json body), healed. downLen, when not 0, is the down
// phase's own length. Every request takes the server 3 ms plus up to 4 ms
// (1 ms plus up to 1 ms when down).
func newScenario(phase, downLen time.Duration) Scenario {
	pace := chaos.Fault{Latency: 3 * time.Millisecond, Jitter: 4 * time.Millisecond}
	busy := pace
	busy.Status, busy.Body = http.StatusServiceUnavailable, "orders service is overloaded, try again shortly\n"
	busy.Header = http.Header{"Retry-After": {"1"}, "Content-Type": {"text/plain; charset=utf-8"}}
	down := chaos.Fault{Latency: time.Millisecond, Jitter: time.Millisecond, Status: http.StatusInternalServerError,
		Header: http.Header{"Content-Type": {"application/problem+json"}}, Body: problem}
	ph := []Phase{
		{Name: "healthy", About: "every request succeeds",
			Rules: []chaos.Rule{{Rate: 1, Fault: pace}}},
		{Name: "flaky", About: "30% 503 Service Unavailable, Retry-After: 1",
			Rules: []chaos.Rule{{Rate: 0.3, Fault: busy}, {Rate: 1, Fault: pace}}},
		{Name: "down", About: "100% 500 with a problem+json body",
			Rules: []chaos.Rule{{Rate: 1, Fault: down}}},
		{Name: "healed", About: "every request succeeds again",
			Rules: []chaos.Rule{{Rate: 1, Fault: pace}}},
	}
	var at time.Duration
	for i := range ph {
		d := phase
		if ph[i].Name == "down" && downLen > 0 {
			d = downLen
		}
		ph[i].Start, ph[i].End = at, at+d
		at += d
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

// chaosPhases returns s's phases as a chaos timetable. The last phase lasts
// for ever, so that requests arriving after the end meet it, as At says.
func (s Scenario) chaosPhases() []chaos.Phase {
	out := make([]chaos.Phase, len(s.Phases))
	for i, p := range s.Phases {
		out[i] = chaos.Phase{Name: p.Name, Duration: p.End - p.Start, Rules: p.Rules}
	}
	if len(out) > 0 {
		out[len(out)-1].Duration = 0
	}
	return out
}
