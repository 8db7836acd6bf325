package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resilient-http/resilient"
)

// Print writes the summary for a person: the numbers per phase for both
// clients, the breaker's transitions, what the outage cost each client, and
// one example of each error a user meets.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "\nSummary: %s, %g calls/s through each client (at most %d in flight), seed %d\n\n",
		s.describeRun(), s.Rate, s.Concurrency, s.Seed)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tclient\tcalls\tok\tsuccess\tserver reqs\tamplif.\trefused\tp50\tp99\t")
	row := func(phase string, c ClientReport, n Counts) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f%%\t%d\t%.2f\t%d\t%s\t%s\t\n", phase, c.Name,
			n.Calls, n.OK, 100*n.SuccessRatio(), n.ServerRequests, n.Amplification(), n.Refused, dur(n.P50), dur(n.P99))
	}
	for i, p := range s.Scenario.Phases {
		row(p.Name, s.Plain, s.Plain.Phases[i])
		row("", s.Resilient, s.Resilient.Phases[i])
	}
	if len(s.Scenario.Phases) > 1 {
		row("total", s.Plain, s.Plain.Total)
		row("", s.Resilient, s.Resilient.Total)
	}
	tw.Flush()

	s.printTransitions(w)
	s.printRefusals(w)
	s.printVerdict(w)
	s.printErrors(w)
}

func (s *Summary) describeRun() string {
	if s.Scenario.Remote {
		return fmt.Sprintf("%s against %s", s.Scenario.Duration().Round(time.Second), s.Host)
	}
	ph := s.Scenario.Phases
	d := fmt.Sprintf("%d phases of %s", len(ph), ph[0].End-ph[0].Start)
	for _, p := range ph {
		if p.End-p.Start != ph[0].End-ph[0].Start {
			d += fmt.Sprintf(" (%s %s)", p.Name, p.End-p.Start)
		}
	}
	return d
}

func (s *Summary) printTransitions(w io.Writer) {
	fmt.Fprintf(w, "\nCircuit breaker for %s (resilient client):\n", s.Host)
	if len(s.Transitions) == 0 {
		fmt.Fprintln(w, "  stayed closed")
		return
	}
	for _, t := range s.Transitions {
		fmt.Fprintf(w, "  %6.2fs  %-9s -> %-9s  (%s)\n", t.At.Seconds(), t.From, t.To, s.Scenario.Phases[s.Scenario.At(t.At)].Name)
	}
}

// printRefusals says, per phase, why the breaker refused the resilient
// client's calls: the Reason their *resilient.CircuitOpenError gives.
func (s *Summary) printRefusals(w io.Writer) {
	var lines []string
	for i, ph := range s.Scenario.Phases {
		rs := s.Resilient.Phases[i].Reasons
		if len(rs) == 0 {
			continue
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(rs)) {
			parts = append(parts, fmt.Sprintf("%d %q", rs[k], k))
		}
		lines = append(lines, fmt.Sprintf("  %-8s %s", ph.Name, strings.Join(parts, ", ")))
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "\nRefused calls, by the reason their error gives (CircuitOpenError.Reason):")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// quickProbes returns the most requests the resilient client sent in one
// second of phase i, and when that second began.
func (s *Summary) quickProbes(i int) (n int, at time.Duration) {
	ph := s.Scenario.Phases[i]
	for j, c := range s.Resilient.Seconds {
		t := time.Duration(j) * s.Width
		if t >= ph.Start && t+s.Width <= ph.End && c.ServerRequests > n {
			n, at = c.ServerRequests, t
		}
	}
	return n, at
}

// printVerdict says in a few sentences what the numbers mean.
func (s *Summary) printVerdict(w io.Writer) {
	fmt.Fprintln(w)
	if i := s.phaseIndex("down"); i >= 0 {
		p, r := s.Plain.Phases[i], s.Resilient.Phases[i]
		ph := s.Scenario.Phases[i]
		fmt.Fprintf(w, "While the server was down (%s-%s), the plain client sent it %d requests, every one answered 500;\n",
			ph.Start.Round(time.Second), ph.End.Round(time.Second), p.ServerRequests)
		fmt.Fprintf(w, "the resilient client sent %d (%s): its breaker refused %d of its %d calls without sending them,\n",
			r.ServerRequests, fewer(r.ServerRequests, p.ServerRequests), r.Refused, r.Calls)
		fmt.Fprintf(w, "so its median call failed in %s, against %s for the plain client's 500.\n", dur(r.P50), dur(p.P50))
		if n, at := s.quickProbes(i); n > 0 {
			fmt.Fprintf(w, "Its busiest second of the outage (%s-%s) sent %d requests: the breaker's quick probes, 10ms apart (Breaker.ProbeInterval),\n",
				at, at+s.Width, n)
			fmt.Fprintln(w, "50 to 100 for a host that was already failing some calls, so that a degraded host is found alive at once;")
			fmt.Fprintln(w, "then one probe per hold of a quarter of the outage's age, up to Breaker.Cooldown.")
		}
	}
	if i := s.phaseIndex("flaky"); i >= 0 {
		p, r := s.Plain.Phases[i], s.Resilient.Phases[i]
		fmt.Fprintf(w, "While it was flaky, retries that honour Retry-After raised success from %.1f%% to %.1f%%,\n",
			100*p.SuccessRatio(), 100*r.SuccessRatio())
		fmt.Fprintf(w, "adding %.0f%% requests (Retry.Max bounds that share; the retry budget holds it to 10%% only while the server shows that load hurts it).\n", 100*(r.Amplification()-1))
		if r.Slow > 0 {
			fmt.Fprintf(w, "Its p99 there, %s against %s, is those waits: %d of its %d calls (%.1f%%) took a second or more, because each 503\n",
				dur(r.P99), dur(p.P99), r.Slow, r.Calls, 100*float64(r.Slow)/float64(max(1, r.Calls)))
			fmt.Fprintln(w, "said Retry-After: 1 and the client waited that second before retrying; the plain client returned the 503 at once.")
		}
	}
	if i := s.phaseIndex("healed"); i >= 0 && s.Resilient.Phases[i].Refused > 0 {
		ph, r := s.Scenario.Phases[i], s.Resilient.Phases[i]
		when := "it was still open at the end"
		for _, t := range s.Transitions {
			if t.To == "closed" && t.At >= ph.Start {
				when = fmt.Sprintf("a probe found the server well %s after it healed", dur(t.At-ph.Start))
				break
			}
		}
		fmt.Fprintf(w, "The breaker's price: it refused %d calls to the healed server, until %s and while it ramped up\n", r.Refused, when)
		fmt.Fprintf(w, "(it probes after a quarter of the outage's age, at most Breaker.Cooldown, %s by default).\n", resilient.DefaultBreaker.Cooldown)
	}
	var below []string
	for i, ph := range s.Scenario.Phases {
		p, r := s.Plain.Phases[i], s.Resilient.Phases[i]
		if r.SuccessRatio() < p.SuccessRatio() {
			below = append(below, fmt.Sprintf("%s (%.1f%% against %.1f%%)", ph.Name, 100*r.SuccessRatio(), 100*p.SuccessRatio()))
		}
	}
	if s.Resilient.Total.SuccessRatio() < s.Plain.Total.SuccessRatio() {
		below = append(below, "the whole run")
	}
	if len(below) == 0 {
		fmt.Fprintln(w, "The resilient client succeeded at least as often as the plain one in every phase and in total.")
	} else {
		fmt.Fprintf(w, "The resilient client succeeded less often than the plain one in: %s.\n", strings.Join(below, ", "))
	}
	p, r := s.Plain.Total, s.Resilient.Total
	fmt.Fprintf(w, "Over the whole run, plain %d of %d calls succeeded (%.1f%%), resilient %d of %d (%.1f%%).\n",
		p.OK, p.Calls, 100*p.SuccessRatio(), r.OK, r.Calls, 100*r.SuccessRatio())
	if s.Scenario.Remote {
		fmt.Fprintf(w, "The plain client sent %d requests, the resilient one %d.\n", p.ServerRequests, r.ServerRequests)
	} else {
		fmt.Fprintf(w, "The server received %d requests from the plain client and %d from the resilient one.\n",
			p.ServerRequests, r.ServerRequests)
	}
}

// fewer says how many fewer requests n is than of, e.g. "97% fewer".
func fewer(n, of int) string {
	if of == 0 {
		return "n/a"
	}
	d := 100 * float64(of-n) / float64(of)
	if d >= 0 {
		return fmt.Sprintf("%.0f%% fewer", math.Floor(d))
	}
	return fmt.Sprintf("%.0f%% more", -d)
}

func (s *Summary) phaseIndex(name string) int {
	for i, p := range s.Scenario.Phases {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// printErrors shows one error of each kind a user meets.
func (s *Summary) printErrors(w io.Writer) {
	fmt.Fprintln(w, "\nWhat the caller gets when a call fails:")
	if s.PlainError != "" {
		fmt.Fprintln(w, "\n  plain client, as code that checks resp.StatusCode usually reports it:")
		fmt.Fprintf(w, "    %s\n", s.PlainError)
		fmt.Fprintln(w, "    (no body, no request ID, no trace, no idea whether it was retried)")
	}
	if e := s.StatusError; e != nil {
		fmt.Fprintf(w, "\n  resilient client, a *resilient.StatusError (%s phase):\n", s.StatusPhase)
		fmt.Fprintf(w, "    %s\n", s.StatusErrorText)
		field := func(k, v string) {
			if v != "" {
				fmt.Fprintf(w, "      %-11s %s\n", k, v)
			}
		}
		field("StatusCode", fmt.Sprint(e.StatusCode))
		field("Attempts", fmt.Sprint(e.Attempts))
		field("TraceID", e.TraceID)
		field("RequestID", e.RequestID)
		if p := e.Problem; p != nil {
			field("Problem", fmt.Sprintf("type=%s", p.Type))
			field("", fmt.Sprintf("title=%q", p.Title))
			field("", fmt.Sprintf("detail=%q", p.Detail))
		} else if len(e.Body) > 0 {
			field("Body", strings.TrimSpace(string(e.Body)))
		}
		if e.RetryAfter > 0 {
			field("RetryAfter", e.RetryAfter.String())
		}
		field("Stop", s.StatusErrorWhy)
	}
	if s.CircuitOpen != nil {
		fmt.Fprintln(w, "\n  resilient client, refused by the open breaker (errors.Is(err, resilient.ErrCircuitOpen)):")
		fmt.Fprintf(w, "    %s\n", s.CircuitOpenText)
	}
}
