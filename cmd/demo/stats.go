package main

import (
	"maps"
	"math"
	"slices"
	"sync"
	"time"
)

// outcome is how the demo classifies a finished call.
type outcome int

const (
	succeeded outcome = iota // a 2xx response
	failed                   // an error status, or a *StatusError
	refused                  // ErrCircuitOpen: the breaker answered, not the server
	broken                   // no response at all: a transport error
)

// Counts is what one client did over some span of time: a phase, the whole
// run, or one second of it.
type Counts struct {
	Calls          int           // calls made by the application
	OK             int           // calls that returned a 2xx response
	Failed         int           // calls that ended with an error status
	Refused        int           // calls refused by the circuit breaker (ErrCircuitOpen)
	Broken         int           // calls that got no response at all
	ServerRequests int           // requests the server received (or that were sent, with -url)
	P50, P99       time.Duration // call latency percentiles, retries and waits included
	Slow           int           // calls that took a second or more (the flaky server's Retry-After)
	// Reasons counts the Refused calls by the reason their
	// *resilient.CircuitOpenError gives ("failing", "probing", ...).
	Reasons map[string]int
}

// SuccessRatio returns OK / Calls, or 0 without calls.
func (c Counts) SuccessRatio() float64 {
	if c.Calls == 0 {
		return 0
	}
	return float64(c.OK) / float64(c.Calls)
}

// Amplification returns ServerRequests / Calls: how many requests reached
// the server per call the application made. Retries raise it above 1; an
// open breaker lowers it towards 0. It is 0 without calls.
func (c Counts) Amplification() float64 {
	if c.Calls == 0 {
		return 0
	}
	return float64(c.ServerRequests) / float64(c.Calls)
}

// span accumulates Counts and the latencies behind its percentiles.
type span struct {
	Counts
	lat []time.Duration
}

func (s *span) add(o outcome, d time.Duration, reason string) {
	if o == refused {
		if s.Reasons == nil {
			s.Reasons = map[string]int{}
		}
		s.Reasons[reason]++
	}
	switch o {
	case succeeded:
		s.OK++
	case failed:
		s.Failed++
	case refused:
		s.Refused++
	case broken:
		s.Broken++
	}
	s.lat = append(s.lat, d)
}

// counts returns the Counts with their percentiles computed.
func (s *span) counts() Counts {
	c := s.Counts
	c.Reasons = maps.Clone(s.Reasons)
	for _, d := range s.lat {
		if d >= time.Second {
			c.Slow++
		}
	}
	if len(s.lat) > 0 {
		lat := slices.Clone(s.lat)
		slices.Sort(lat)
		c.P50, c.P99 = quantile(lat, 0.50), quantile(lat, 0.99)
	}
	return c
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// recorder counts what happens to one client: per phase, and per second
// for the live view and the chart. Calls count in the phase they started
// in, and in the second they started (Calls) or ended (outcomes and
// latency) in; server requests count when they arrive. It is safe for
// concurrent use.
type recorder struct {
	sc    Scenario
	start time.Time
	width time.Duration

	mu      sync.Mutex
	seconds []span // index: time since start / width
	phases  []span // index: phase
}

func newRecorder(sc Scenario, start time.Time, width time.Duration) *recorder {
	return &recorder{sc: sc, start: start, width: width, phases: make([]span, len(sc.Phases))}
}

// slot returns the per-second span that holds t. r.mu must be held.
func (r *recorder) slot(t time.Time) *span {
	i := max(0, int(t.Sub(r.start)/r.width))
	for len(r.seconds) <= i {
		r.seconds = append(r.seconds, span{})
	}
	return &r.seconds[i]
}

// phase returns the span of the phase in force at t. r.mu must be held.
func (r *recorder) phase(t time.Time) *span {
	return &r.phases[r.sc.At(t.Sub(r.start))]
}

// serverRequest counts a request that reached the server at t.
func (r *recorder) serverRequest(t time.Time) {
	r.mu.Lock()
	r.slot(t).ServerRequests++
	r.phase(t).ServerRequests++
	r.mu.Unlock()
}

// started counts a call that started at t.
func (r *recorder) started(t time.Time) {
	r.mu.Lock()
	r.slot(t).Calls++
	r.phase(t).Calls++
	r.mu.Unlock()
}

// ended counts the outcome o of a call that started at start and ended at
// end; reason is why the breaker refused it, when o is refused.
func (r *recorder) ended(start, end time.Time, o outcome, reason string) {
	d := end.Sub(start)
	r.mu.Lock()
	r.slot(end).add(o, d, reason)
	r.phase(start).add(o, d, reason)
	r.mu.Unlock()
}

// second returns the Counts of second i.
func (r *recorder) second(i int) Counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i < 0 || i >= len(r.seconds) {
		return Counts{}
	}
	return r.seconds[i].counts()
}

// report returns the Counts per phase, for the whole run, and per second.
func (r *recorder) report() (phases []Counts, total Counts, seconds []Counts) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all span
	for _, p := range r.phases {
		phases = append(phases, p.counts())
		all.Calls += p.Calls
		all.OK += p.OK
		all.Failed += p.Failed
		all.Refused += p.Refused
		all.Broken += p.Broken
		all.ServerRequests += p.ServerRequests
		for k, v := range p.Reasons {
			if all.Reasons == nil {
				all.Reasons = map[string]int{}
			}
			all.Reasons[k] += v
		}
		all.lat = append(all.lat, p.lat...)
	}
	for _, s := range r.seconds {
		seconds = append(seconds, s.counts())
	}
	return phases, all.counts(), seconds
}
