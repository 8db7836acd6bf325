package scenario

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Options is a run of the matrix.
type Options struct {
	// Timing holds the rate, the deadline and the phase lengths; zero
	// means DefaultTiming.
	Timing Timing
	// Seed seeds the fault draws (see Draw).
	Seed uint64
	// Clients are the clients to compare; nil means Clients(). Put plain
	// first: the columns that compare with plain need it.
	Clients []Client
	// Scenarios are the IDs to run, in order; nil means all of Matrix.
	Scenarios []int
	// Parallel is how many scenarios run at once; 0 or 1 means one after
	// another. The clients of one scenario always run side by side.
	Parallel int
	// Redis is the host:port of the Redis through which the fleet of a
	// Shared scenario (13) shares breaker transitions; Run fails such a
	// scenario without it.
	Redis string
}

// callRecord is one call by one client, times since the scenario's t0.
type callRecord struct {
	start, end time.Duration
	out        Outcome
}

// clientRun is what one client did in one scenario: its calls, by index,
// and its server's request arrivals, all of them and, by call index, the
// first request's (-1: none).
type clientRun struct {
	calls    []callRecord
	arrivals []time.Duration
	firsts   []time.Duration
	work     []workRecord // the capacity-bound server's, sorted by end
}

// scenarioRun is the raw record of one scenario.
type scenarioRun struct {
	sc      Scenario
	rate    float64
	clients []clientRun
}

// Run runs the scenarios of o and measures them. It takes the sum of the
// scenarios' durations (divided by Parallel), plus a few hundred
// milliseconds of set-up and draining per scenario.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Timing == (Timing{}) {
		o.Timing = DefaultTiming
	}
	if o.Timing.Rate <= 0 || o.Timing.Deadline <= 0 {
		return nil, errors.New("scenario: Rate and Deadline must be positive")
	}
	if o.Clients == nil {
		o.Clients = Clients()
	}
	scs, err := selectScenarios(Matrix(o.Timing), o.Scenarios)
	if err != nil {
		return nil, err
	}
	for _, sc := range scs {
		if sc.Shared && o.Redis == "" {
			return nil, fmt.Errorf("scenario: scenario %d shares state through Redis: Options.Redis is empty", sc.ID)
		}
	}
	runs := make([]*scenarioRun, len(scs))
	sem := make(chan struct{}, max(1, o.Parallel))
	var wg sync.WaitGroup
	for i, sc := range scs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			runs[i] = runScenario(ctx, sc, o)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return measure(o, runs), nil
}

func selectScenarios(all []Scenario, ids []int) ([]Scenario, error) {
	if ids == nil {
		return all, nil
	}
	var out []Scenario
	for _, id := range ids {
		if id < 1 || id > len(all) {
			return nil, fmt.Errorf("scenario: no scenario %d; there are 1 to %d", id, len(all))
		}
		out = append(out, all[id-1])
	}
	return out, nil
}

// runScenario starts, at the same instants for every client, calls at
// o.Timing.Rate for the scenario's duration, each in its own goroutine
// with its own deadline (an open loop: a call starts whether or not the
// ones before it ended), and waits for them all.
func runScenario(ctx context.Context, sc Scenario, o Options) *scenarioRun {
	rate := o.Timing.Rate
	n := int(math.Ceil(sc.Duration().Seconds() * rate))
	t0 := time.Now().Add(200 * time.Millisecond) // after the set-up below
	type live struct {
		srv    *server
		url    string
		caller Caller
		close  func()
	}
	lives := make([]live, len(o.Clients))
	set := Settings{AttemptTimeout: sc.AttemptTimeout}
	if sc.Shared {
		set.Redis, set.Service = o.Redis, fmt.Sprintf("scenario-%d-%d", sc.ID, time.Now().UnixNano())
	}
	for k, c := range o.Clients {
		s := newServer(sc, o.Seed, t0, rate, n)
		hs := s.start()
		lives[k] = live{srv: s, url: hs.URL + "/", caller: newFleet(c, set, sc.Fleet), close: func() {
			if s.queue != nil {
				s.queue.Close()
			}
			hs.CloseClientConnections()
			hs.Close()
		}}
	}
	run := &scenarioRun{sc: sc, rate: rate, clients: make([]clientRun, len(lives))}
	for k := range run.clients {
		run.clients[k].calls = make([]callRecord, n)
	}

	var wg sync.WaitGroup
	for i := range n {
		at := t0.Add(scheduled(i, rate))
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		for k := range lives {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, o.Timing.Deadline)
				defer cancel()
				start := time.Now()
				out := lives[k].caller.Call(cctx, lives[k].url, i)
				run.clients[k].calls[i] = callRecord{start: start.Sub(t0), end: time.Since(t0), out: out}
			}()
		}
	}
	wg.Wait()
	for k, l := range lives {
		l.caller.Close()
		l.close()
		run.clients[k].arrivals = l.srv.Arrivals()
		run.clients[k].firsts = l.srv.Firsts()
		run.clients[k].work = l.srv.Work()
	}
	return run
}

// scheduled returns when call index starts, since the scenario's t0.
func scheduled(index int, rate float64) time.Duration {
	return time.Duration(float64(index) * float64(time.Second) / rate)
}

// fleet is n instances of one client, call i through instance i mod n.
type fleet []Caller

// newFleet returns c built once, or n times as a fleet when n > 1.
func newFleet(c Client, s Settings, n int) Caller {
	if n <= 1 {
		return c.New(s)
	}
	f := make(fleet, n)
	for i := range f {
		f[i] = c.New(s)
	}
	return f
}

func (f fleet) Call(ctx context.Context, url string, index int) Outcome {
	return f[index%len(f)].Call(ctx, url, index)
}

func (f fleet) Close() {
	for _, c := range f {
		c.Close()
	}
}
