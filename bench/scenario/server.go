package scenario

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// CallHeader carries the call's index on every request, retries included.
const CallHeader = "X-Scenario-Call"

// crnSkew is how late a call's first request may reach the server and still
// be judged at the call's scheduled instant rather than at its arrival (see
// server.at).
const crnSkew = 50 * time.Millisecond

const problemBody = `{"type":"https://example.com/probs/outage","title":"Service Unavailable","status":500,"detail":"scenario: total outage"}`

// server is one client's server: it follows the scenario's fault schedule
// on the shared clock, and records when every request arrived.
type server struct {
	sc     Scenario
	seed   uint64
	t0     time.Time
	rate   float64 // calls per second
	ends   []time.Duration
	bucket tokenBucket

	attempts []atomic.Int32 // per call index: requests received so far

	mu       sync.Mutex
	arrivals []time.Duration // since t0
}

func newServer(sc Scenario, seed uint64, t0 time.Time, rate float64, calls int) *server {
	s := &server{sc: sc, seed: seed, t0: t0, rate: rate,
		attempts: make([]atomic.Int32, calls)}
	var end time.Duration
	for _, p := range sc.Phases {
		end += p.Duration
		s.ends = append(s.ends, end)
		if p.Fault.Kind == Overload {
			s.bucket.init(p.Fault.Capacity*rate, t0)
		}
	}
	return s
}

// start serves s on a new loopback httptest server.
func (s *server) start() *httptest.Server { return httptest.NewServer(s) }

// Arrivals returns when the requests arrived, since t0, sorted.
func (s *server) Arrivals() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := slices.Clone(s.arrivals)
	slices.Sort(a)
	return a
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

// phaseAt returns the phase in force at t, and how long it has been.
func (s *server) phaseAt(t time.Duration) (Phase, time.Duration) {
	i, _ := slices.BinarySearch(s.ends, t+1)
	if i >= len(s.ends) {
		i = len(s.ends) - 1
	}
	var begin time.Duration
	if i > 0 {
		begin = s.ends[i-1]
	}
	return s.sc.Phases[i], t - begin
}

// ServeHTTP answers one request as the schedule says.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	arrived := now.Sub(s.t0)
	io.Copy(io.Discard, r.Body)
	index, err := strconv.Atoi(r.Header.Get(CallHeader))
	if err != nil || index < 0 || index >= len(s.attempts) {
		http.Error(w, "missing or bad "+CallHeader, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.arrivals = append(s.arrivals, arrived)
	s.mu.Unlock()
	attempt := int(s.attempts[index].Add(1))
	t := s.at(index, attempt, arrived)
	p, since := s.phaseAt(t)
	f := p.Fault
	a := f.decide(Draw(s.seed, s.sc.ID, index, attempt), since)
	if a == serveThrottled {
		a = serveOK
		if !s.bucket.take(now) {
			a, f.Status = serveStatus, http.StatusServiceUnavailable
		}
	}
	switch a {
	case serveStatus:
		if f.Status == 0 {
			f.Status = http.StatusInternalServerError
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		http.Error(w, http.StatusText(f.Status), f.Status)
	case serveProblem:
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, problemBody)
	case serveReset:
		reset(w)
	case serveSlow:
		timer := time.NewTimer(f.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
			io.WriteString(w, "ok")
		case <-r.Context().Done():
		}
	default:
		io.WriteString(w, "ok")
	}
}

// reset hijacks the request's connection and closes it with SO_LINGER 0, so
// that the kernel sends a RST and the client sees "connection reset by
// peer".
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot hijack: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
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
