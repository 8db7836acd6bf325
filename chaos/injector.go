package chaos

// This file holds the Injector and its Config: the rules and phases that
// choose a fault for each request, the on/off switch and the counters.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Rule gives a share of the requests a fault.
type Rule struct {
	// Rate is the share of the requests Match accepts that get Fault, in
	// [0, 1]: 0 injects nothing, 1 injects into every one. The rates of
	// the rules that accept a request stack in order, up to 1 in all (see
	// the package comment).
	Rate float64
	// Match, when not nil, limits the rule to the requests it accepts, by
	// method, path or header. It must be safe for concurrent use and not
	// read the body. Nil accepts every request.
	Match func(*http.Request) bool
	// Fault is what the rule does to the requests it picks.
	Fault Fault
}

// Phase is a stretch of a timetable during which one set of rules applies.
type Phase struct {
	// Name labels the phase, for Injector.Phase: "flaky", "outage"…
	Name string
	// Duration is how long the phase lasts. Zero, allowed on the last
	// phase only, means it lasts for ever.
	Duration time.Duration
	// Rules apply during the phase; none means a healthy phase.
	Rules []Rule
}

// Config says which requests an Injector faults, and how. Its zero value
// injects nothing.
type Config struct {
	// Rules apply to every request, at any time. Set Rules or Phases, not
	// both.
	Rules []Rule
	// Phases, when set, is a timetable: from Start, each phase's rules
	// apply for its Duration, then the next phase's. After the last phase
	// ends no fault is injected, unless Repeat is set.
	Phases []Phase
	// Repeat starts the timetable over after its last phase, for faults
	// that come and go (a flapping host). The last phase must then have a
	// Duration.
	Repeat bool
	// Start is when the first phase begins; before it no fault is
	// injected. The zero value means when New is called.
	Start time.Time
	// Now is the clock that Phases are read on. Nil means time.Now; tests
	// pass a fake clock to move through phases without waiting. Latency
	// and Hang wait on real timers, ended by the request's context.
	Now func() time.Time

	// Seed seeds the random stream that decides which requests are hit
	// and draws Jitter. The same seed gives the same sequence of draws.
	Seed uint64
	// Key, when not nil, names the request for its draw: a request for
	// which it returns ok draws Draw(Seed, key) instead of the next number
	// of the stream, so that the same key always meets the same fault.
	// It must be safe for concurrent use and not read the body.
	Key func(*http.Request) (key uint64, ok bool)

	// Pick, when not nil, replaces Rules, Phases and Key: it returns the
	// fault for each request (the zero Fault for none), for a selection
	// the rules cannot express, as Polly's fault generators do. It must be
	// safe for concurrent use and not read the body. Its faults are not
	// validated: one that sets both Reset and Hang resets.
	Pick func(*http.Request) Fault

	// Disabled makes the Injector start switched off (see SetEnabled).
	Disabled bool
}

// Injector injects the faults of a Config into HTTP traffic, through
// Transport on the client side or Handler on the server side. Build it
// with New. It is safe for concurrent use; one Injector may serve several
// transports and handlers, which then share its draws and counters.
type Injector struct {
	rules  []Rule
	phases []Phase
	ends   []time.Duration // end of each phase, since start
	repeat bool
	start  time.Time
	now    func() time.Time
	seed   uint64
	key    func(*http.Request) (uint64, bool)
	pick   func(*http.Request) Fault

	off      atomic.Bool
	requests atomic.Int64
	counts   [numKinds]atomic.Int64

	mu  sync.Mutex
	rnd *rand.Rand
}

// New returns an Injector for c, or an error saying which rule or phase is
// wrong and why.
func New(c Config) (*Injector, error) {
	if c.Rules != nil && c.Phases != nil {
		return nil, errors.New("chaos: Config sets both Rules and Phases; put the rules in a phase of zero Duration to apply them always")
	}
	if err := validRules("Rules", c.Rules); err != nil {
		return nil, err
	}
	in := &Injector{rules: c.Rules, phases: c.Phases, repeat: c.Repeat, start: c.Start,
		now: c.Now, seed: c.Seed, key: c.Key, pick: c.Pick,
		rnd: rand.New(rand.NewPCG(c.Seed, 0x6368616f73))} // "chaos"
	if in.now == nil {
		in.now = time.Now
	}
	if in.start.IsZero() {
		in.start = in.now()
	}
	var end time.Duration
	for i, p := range c.Phases {
		last := i == len(c.Phases)-1
		switch {
		case p.Duration < 0:
			return nil, fmt.Errorf("chaos: Phases[%d] (%q) has a negative Duration %v", i, p.Name, p.Duration)
		case p.Duration == 0 && !last:
			return nil, fmt.Errorf("chaos: Phases[%d] (%q) has no Duration; only the last phase may last for ever", i, p.Name)
		case p.Duration == 0 && c.Repeat:
			return nil, fmt.Errorf("chaos: Phases[%d] (%q) has no Duration, but Repeat needs the timetable to end", i, p.Name)
		}
		if err := validRules(fmt.Sprintf("Phases[%d].Rules", i), p.Rules); err != nil {
			return nil, err
		}
		end += p.Duration
		if p.Duration == 0 {
			end = math.MaxInt64
		}
		in.ends = append(in.ends, end)
	}
	in.off.Store(c.Disabled)
	return in, nil
}

func validRules(where string, rules []Rule) error {
	for i, r := range rules {
		if math.IsNaN(r.Rate) || r.Rate < 0 || r.Rate > 1 {
			return fmt.Errorf("chaos: %s[%d]: Rate %v is not a share; use 0 to 1", where, i, r.Rate)
		}
		if err := r.Fault.validate(); err != nil {
			return fmt.Errorf("chaos: %s[%d].Fault: %w", where, i, err)
		}
	}
	return nil
}

// SetEnabled switches injection on or off, at once, for every request
// that reaches the injector after the call. A disabled injector passes
// every request through untouched and counts nothing.
func (in *Injector) SetEnabled(on bool) { in.off.Store(!on) }

// Enabled reports whether the injector is switched on.
func (in *Injector) Enabled() bool { return !in.off.Load() }

// Phase returns the name of the phase in force now, and false before the
// timetable starts, after it ends, or when Config has no Phases.
func (in *Injector) Phase() (string, bool) {
	i := in.phaseAt(in.now())
	if i < 0 {
		return "", false
	}
	return in.phases[i].Name, true
}

// phaseAt returns the index of the phase in force at t, or -1.
func (in *Injector) phaseAt(t time.Time) int {
	if len(in.phases) == 0 || t.Before(in.start) {
		return -1
	}
	since := t.Sub(in.start)
	total := in.ends[len(in.ends)-1]
	if since >= total {
		if !in.repeat {
			return -1
		}
		since %= total
	}
	for i, end := range in.ends {
		if since < end {
			return i
		}
	}
	return -1
}

// Stats counts what an Injector did while it was enabled.
type Stats struct {
	// Requests is the number of requests that reached the injector.
	Requests int64
	// Delayed is the number that were only delayed (Latency, Jitter), then
	// passed on.
	Delayed int64
	// Status, Reset and Hang are the numbers answered with an injected
	// status, reset, and held. A response cut short by a reset counts in
	// Reset, one that stalls in Hang.
	Status, Reset, Hang int64
}

// Injected returns the number of requests that met a fault.
func (s Stats) Injected() int64 { return s.Delayed + s.Status + s.Reset + s.Hang }

// Stats returns the counts so far. Each count is read atomically, but not
// all at one instant: while requests are in flight, Requests may run ahead
// of the others.
func (in *Injector) Stats() Stats {
	return Stats{
		Delayed:  in.counts[kindLatency].Load(),
		Status:   in.counts[kindStatus].Load(),
		Reset:    in.counts[kindReset].Load(),
		Hang:     in.counts[kindHang].Load(),
		Requests: in.requests.Load(),
	}
}

// choose returns the fault for r, and false when r is to pass untouched.
func (in *Injector) choose(r *http.Request) (Fault, bool) {
	if in.off.Load() {
		return Fault{}, false
	}
	in.requests.Add(1)
	var f Fault
	if in.pick != nil {
		f = in.pick(r)
	} else {
		rules := in.rules
		if in.phases != nil {
			i := in.phaseAt(in.now())
			if i < 0 {
				return Fault{}, false
			}
			rules = in.phases[i].Rules
		}
		f = in.fromRules(r, rules)
	}
	if f.zero() {
		return Fault{}, false
	}
	in.counts[f.kind()].Add(1)
	return f, true
}

// fromRules draws once for r and returns the fault of the rule whose share
// of the stacked rates the draw falls in. A request that no rule with a
// rate accepts draws nothing.
func (in *Injector) fromRules(r *http.Request, rules []Rule) Fault {
	drawn := false
	var u, below float64
	for i := range rules {
		rule := &rules[i]
		if rule.Rate == 0 || rule.Match != nil && !rule.Match(r) {
			continue
		}
		if !drawn {
			u, drawn = in.draw(r), true
		}
		below = min(1, below+rule.Rate)
		if u < below {
			return rule.Fault
		}
	}
	return Fault{}
}

// draw returns r's number in [0, 1): Draw(seed, key) when Key names r,
// else the next number of the stream.
func (in *Injector) draw(r *http.Request) float64 {
	if in.key != nil {
		if k, ok := in.key(r); ok {
			return Draw(in.seed, k)
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rnd.Float64()
}

// delay returns how long f delays its request: Latency plus a draw of
// Jitter.
func (in *Injector) delay(f *Fault) time.Duration {
	d := f.Latency
	if f.Jitter > 0 {
		in.mu.Lock()
		d += time.Duration(in.rnd.Int64N(int64(f.Jitter) + 1))
		in.mu.Unlock()
	}
	return d
}
