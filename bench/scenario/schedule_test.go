package scenario

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// lateResult measures two healthy 1 s scenarios, 1 and 2, at 100 calls/s,
// whose calls both clients started 1 ms behind their schedule, but for
// resilient's call i of scenario 2, started late[i] behind it.
func lateResult(late map[int]time.Duration) *Result {
	const rate = 100
	clients := []Client{{Name: "plain"}, {Name: "resilient"}}
	run := func(id int, late map[int]time.Duration) *scenarioRun {
		r := &scenarioRun{sc: Scenario{ID: id, Name: "healthy", Phases: []Phase{{Name: "healthy", Duration: time.Second}}},
			rate: rate, clients: make([]clientRun, len(clients))}
		for k := range r.clients {
			r.clients[k].calls = make([]callRecord, rate)
			for i := range rate {
				start := scheduled(i, rate) + time.Millisecond
				if d, ok := late[i]; ok && k == 1 {
					start = scheduled(i, rate) + d
				}
				r.clients[k].calls[i] = callRecord{start: start, end: start + time.Millisecond, out: Outcome{OK: true}}
			}
		}
		return r
	}
	return measure(Options{Timing: Timing{Rate: rate}, Clients: clients}, []*scenarioRun{run(1, nil), run(2, late)})
}

// TestCheckSchedule feeds measure calls that started behind their schedule
// and asserts CheckSchedule's verdict: a run within the bound is a
// measurement; one whose p99 or maximum lateness exceeds it fails with
// ErrSchedule, naming the late scenario and its lateness, and not the
// scenario that kept time.
func TestCheckSchedule(t *testing.T) {
	bound := ScheduleBound{P99: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	for _, tc := range []struct {
		name string
		late map[int]time.Duration
		want string // "" when the schedule held
	}{
		{name: "on time", late: nil},
		{name: "2 of 200 calls late by at most the maximum", late: map[int]time.Duration{10: 200 * time.Millisecond, 20: 150 * time.Millisecond}},
		{name: "3 of 200 calls past the p99 bound", late: map[int]time.Duration{10: 21 * time.Millisecond, 20: 30 * time.Millisecond, 30: 25 * time.Millisecond},
			want: "scenario 2: calls started 21ms late at the p99 (bound 20ms), 30ms at most (bound 200ms)"},
		{name: "one call past the maximum", late: map[int]time.Duration{50: 201 * time.Millisecond},
			want: "scenario 2: calls started 1.0ms late at the p99 (bound 20ms), 201ms at most (bound 200ms)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := lateResult(tc.late)
			err := res.CheckSchedule(bound)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckSchedule = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrSchedule) {
				t.Fatalf("CheckSchedule = %v, want ErrSchedule", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "could not hold the schedule on this machine: not a measurement: ") ||
				!strings.Contains(msg, tc.want) || strings.Contains(msg, "scenario 1") {
				t.Errorf("CheckSchedule = %q, want ErrSchedule naming only %q", msg, tc.want)
			}
		})
	}
}

// TestMarkdown_schedule: the report says whether the schedule held, with
// the lateness measured, and in bold that the run is not a measurement
// when it did not.
func TestMarkdown_schedule(t *testing.T) {
	for _, tc := range []struct {
		name string
		late time.Duration // of 3 calls of 200 in scenario 2
		want string
	}{
		{"held", DefaultSchedule.P99, "Schedule held: calls started behind it by at most " + fmtDur(DefaultSchedule.P99) +
			" at the 99th percentile (scenario 2)"},
		{"not held", DefaultSchedule.P99 + time.Millisecond, "**Could not hold the schedule on this machine: not a measurement.** " +
			"scenario 2: calls started " + fmtDur(DefaultSchedule.P99+time.Millisecond) + " late at the p99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := lateResult(map[int]time.Duration{10: tc.late, 20: tc.late, 30: tc.late})
			var b bytes.Buffer
			if err := Markdown(&b, res, TestLimits); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tc.want) {
				t.Errorf("report lacks %q:\n%s", tc.want, b.String())
			}
		})
	}
}
