package scenario

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/chaos"
)

// CallHeader carries the call's index on every request, retries included.
const CallHeader = "X-Scenario-Call"

// crnSkew is how late a call's first request may reach the server and still
// be judged at the call's scheduled instant rather than at its arrival (see
// server.at).
const crnSkew = 50 * time.Millisecond

const problemBody = `{"type":"https://example.com/probs/outage","title":"Service Unavailable","status":500,"detail":"scenario: total outage"}`

// server is one client's server: it follows the scenario's fault schedule
// on the shared clock, and records when every request arrived. Its faults
// are injected by a chaos.Injector whose Pick is the schedule; the handler
// behind it answers 200 "ok".
type server struct {
	sc     Scenario
	seed   uint64
	t0     time.Time
	rate   float64 // calls per second
	ends   []time.Duration
	bucket tokenBucket
	faults [][numActions]chaos.Fault // per phase, what each action injects

	attempts []atomic.Int32 // per call index: requests received so far
	queue    *queueServer   // the capacity-bound model, when the scenario has one

	mu       sync.Mutex
	arrivals []time.Duration // since t0
	firsts   []time.Duration // per call index: when its first request arrived, since t0; -1 until it has
}

func newServer(sc Scenario, seed uint64, t0 time.Time, rate float64, calls int) *server {
	s := &server{sc: sc, seed: seed, t0: t0, rate: rate,
		attempts: make([]atomic.Int32, calls), firsts: make([]time.Duration, calls)}
	for i := range s.firsts {
		s.firsts[i] = -1
	}
	var end time.Duration
	for _, p := range sc.Phases {
		end += p.Duration
		s.ends = append(s.ends, end)
		status := p.Fault.Status
		if p.Fault.Kind == Overload {
			s.bucket.init(p.Fault.Capacity*rate, t0)
			status = http.StatusServiceUnavailable
		}
		var fs [numActions]chaos.Fault
		for a := range numActions {
			fs[a] = p.Fault.injected(a, status)
		}
		s.faults = append(s.faults, fs)
	}
	if sc.Capacity != nil {
		s.queue = newQueueServer(*sc.Capacity, t0, s.slowdown)
	}
	return s
}

// slowdown is the factor by which the phase in force at now stretches the
// capacity-bound server's service time.
func (s *server) slowdown(now time.Time) float64 {
	i, _ := s.phaseAt(now.Sub(s.t0))
	if f := s.sc.Phases[i].Fault; f.Kind == Slowdown && f.Capacity > 0 {
		return 1 / f.Capacity
	}
	return 1
}

// Work returns the capacity-bound server's work records, or nil.
func (s *server) Work() []workRecord {
	if s.queue == nil {
		return nil
	}
	return s.queue.Work()
}

// start serves s on a new loopback httptest server: chaos.Handler with
// s.pick in front of a handler that answers 200 "ok".
func (s *server) start() *httptest.Server {
	in, err := chaos.New(chaos.Config{Pick: s.pick})
	if err != nil {
		panic(err) // a Config with only Pick is always valid
	}
	var next http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	})
	if s.queue != nil {
		next = s.queue
	}
	return httptest.NewServer(in.Handler(next))
}

// Arrivals returns when the requests arrived, since t0, sorted.
func (s *server) Arrivals() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := slices.Clone(s.arrivals)
	slices.Sort(a)
	return a
}

// Firsts returns, per call index, when the call's first request arrived,
// since t0, or -1 if none did.
func (s *server) Firsts() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.firsts)
}

// at is the instant on the scenario clock at which a request is judged: its
// arrival, except for a call's first request that arrives within crnSkew of
// the call's scheduled instant, which is judged at that instant. So every
// client's first request of a call sees the same phase, even at a phase's
// edge, and a request sent late (after a local refusal and a wait) meets
// the server as it is then.
func (s *server) at(index, attempt int, arrived time.Duration) time.Duration {
	if attempt == 1 {
		if sched := scheduled(index, s.rate); arrived-sched < crnSkew {
			return sched
		}
	}
	return arrived
}

// phaseAt returns the index of the phase in force at t, and how long it
// has been.
func (s *server) phaseAt(t time.Duration) (int, time.Duration) {
	i, _ := slices.BinarySearch(s.ends, t+1)
	if i >= len(s.ends) {
		i = len(s.ends) - 1
	}
	var begin time.Duration
	if i > 0 {
		begin = s.ends[i-1]
	}
	return i, t - begin
}

// pick returns the fault of one request, as the schedule says, and records
// its arrival. The scenario's requests are GETs without a body.
func (s *server) pick(r *http.Request) chaos.Fault {
	now := time.Now()
	arrived := now.Sub(s.t0)
	index, err := strconv.Atoi(r.Header.Get(CallHeader))
	if err != nil || index < 0 || index >= len(s.attempts) {
		return chaos.Fault{Status: http.StatusBadRequest, Body: "missing or bad " + CallHeader + "\n"}
	}
	attempt := int(s.attempts[index].Add(1))
	s.mu.Lock()
	s.arrivals = append(s.arrivals, arrived)
	if attempt == 1 {
		s.firsts[index] = arrived
	}
	s.mu.Unlock()
	t := s.at(index, attempt, arrived)
	i, since := s.phaseAt(t)
	a := s.sc.Phases[i].Fault.decide(Draw(s.seed, s.sc.ID, index, attempt), since)
	if a == serveThrottled {
		a = serveOK
		if !s.bucket.take(now) {
			a = serveStatus
		}
	}
	return s.faults[i][a]
}

// tokenBucket admits requests at a fixed rate, with a burst of a tenth of a
// second's worth (at least one).
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func (b *tokenBucket) init(rate float64, now time.Time) {
	b.rate, b.burst, b.last = rate, max(1, rate/10), now
	b.tokens = b.burst
}

// take reports whether a token was there, and spends it.
func (b *tokenBucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
