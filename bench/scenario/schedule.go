// schedule.go holds the check that the load generator held its schedule.
// Every measure of the matrix assumes that call i started at its scheduled
// instant: phases, buckets and the common random numbers are cut on that
// clock. A run whose calls started late measured the machine, not the
// clients, and says so instead of judging them.

package scenario

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ScheduleBound bounds how late calls may start behind their schedule
// (ScenarioResult.LagP99 and LagMax) in a run that counts as a
// measurement.
type ScheduleBound struct {
	// P99 bounds each scenario's LagP99; Max each scenario's LagMax.
	P99, Max time.Duration
}

// DefaultSchedule is the bound CheckSchedule applies in the tests and in
// cmd/scenarios: in each scenario, calls start at most 20 ms behind their
// schedule at the 99th percentile, and 50 ms at most.
//
// Max is crnSkew: a call's first request that reaches the server later
// than that behind its schedule meets the server as it is at its arrival,
// so the clients' first requests of that call need not meet the same
// fault; and full traffic gives a request that long (promptly).
//
// P99 is measured (issue 27): 16 runs of the short matrix without -race,
// seeds 1–8, on a 2-core machine that four other sessions were building
// and testing on (load average 4–6), 224 scenarios in all. In the 83 whose
// calls started within 29 ms at the p99 (and 78 ms at most), plain's full
// traffic, 0 by construction since plain sends every call at once, was 0,
// and no target missed but one miss of the library's own (scenario 10's
// recovery, at 8 ms). From 30 ms at the p99 on, the machine showed: plain's
// full traffic at 1.6 s, then misses. 20 ms keeps a third below that. In
// the one run whose 14 scenarios all held, calls started 2–8 ms late at
// the p99 (4–31 ms at most). Under -race, on a clean machine, 31–260 ms
// at the p99 and up to 485 ms (the issue); on this one, 7 ms to 4.5 s.
var DefaultSchedule = ScheduleBound{P99: 20 * time.Millisecond, Max: crnSkew}

// ErrSchedule is the error of a run whose load generator fell behind its
// schedule: the machine could not start the calls on time, so the run's
// outcomes are not a measurement of the clients.
var ErrSchedule = errors.New("could not hold the schedule on this machine: not a measurement")

// CheckSchedule returns nil when every scenario of r started its calls
// within b, and otherwise an error that wraps ErrSchedule and names, for
// each scenario that did not, how late its calls started.
func (r *Result) CheckSchedule(b ScheduleBound) error {
	late := r.lateScenarios(b)
	if late == nil {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrSchedule, strings.Join(late, "; "))
}

// lateScenarios says, for each scenario of r whose calls started later
// than b allows, how late they started; nil when none did.
func (r *Result) lateScenarios(b ScheduleBound) []string {
	var late []string
	for _, sc := range r.Scenarios {
		if !b.Held(sc) {
			late = append(late, fmt.Sprintf("scenario %d: calls started %s late at the p99 (bound %s), %s at most (bound %s)",
				sc.ID, fmtDur(sc.LagP99), fmtDur(b.P99), fmtDur(sc.LagMax), fmtDur(b.Max)))
		}
	}
	return late
}

// Held reports whether sc's calls started within b behind their schedule.
func (b ScheduleBound) Held(sc ScenarioResult) bool {
	return sc.LagP99 <= b.P99 && sc.LagMax <= b.Max
}
