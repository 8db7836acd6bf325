package scenario

import (
	"net/http"
	"time"

	"github.com/resilient-http/resilient/chaos"
)

// Kind is what a server does wrong during a phase.
type Kind int

const (
	// Healthy answers every request 200 "ok".
	Healthy Kind = iota
	// Status answers Fault.Share of the requests with Fault.Status, with a
	// Retry-After header when Fault.RetryAfter is set.
	Status
	// Reset resets the connection of Fault.Share of the requests: the
	// server hijacks it, sets SO_LINGER to 0 and closes it, so that the
	// client reads a TCP RST instead of a response.
	Reset
	// Outage answers every request 500 with an application/problem+json
	// body.
	Outage
	// Flap alternates Fault.Period of answering every request 500 with
	// Fault.Period of answering every request 200, starting down.
	Flap
	// Overload serves at most Fault.Capacity times the offered call rate
	// (a token bucket per server, refilled at that rate, holding at most a
	// tenth of a second of it) and answers the excess 503 at once.
	Overload
	// Slow waits Fault.Delay before answering every request 200; it stops
	// waiting when the client goes away.
	Slow
	// Slowdown runs a scenario's capacity-bound server (Scenario.Capacity)
	// at Fault.Capacity of its capacity: every request holds a worker
	// 1/Fault.Capacity times as long. It is the trigger of the retry-storm
	// scenarios, as a lost replica, a GC pause or a noisy neighbour would
	// be; for utilisation it is the same as 1/Fault.Capacity times the
	// load.
	Slowdown
)

// Fault is the misbehaviour of a phase. Its zero value is Healthy.
type Fault struct {
	Kind Kind
	// Share is the share of requests hit by Status or Reset, drawn per
	// request from the (seed, call, attempt) hash: see Draw.
	Share float64
	// Status is the status code of Status.
	Status int
	// RetryAfter is the Retry-After header value sent with Status, if any.
	RetryAfter string
	// Period is Flap's half period.
	Period time.Duration
	// Capacity is Overload's service rate as a share of the offered rate,
	// and Slowdown's as a share of the server's own.
	Capacity float64
	// Delay is how long Slow waits before answering.
	Delay time.Duration
}

// Faulty reports whether f is anything but Healthy.
func (f Fault) Faulty() bool { return f.Kind != Healthy }

// action is what the server does with one request.
type action int

const (
	serveOK action = iota
	serveStatus
	serveReset
	serveProblem
	serveSlow
	serveThrottled // Overload decides with its token bucket
	numActions
)

// decide returns what to do with a request that draws u during phase fault
// f, at since into the phase.
func (f Fault) decide(u float64, since time.Duration) action {
	switch f.Kind {
	case Status:
		if u < f.Share {
			return serveStatus
		}
	case Reset:
		if u < f.Share {
			return serveReset
		}
	case Outage:
		return serveProblem
	case Flap:
		if f.Period > 0 && (since/f.Period)%2 == 0 {
			return serveStatus
		}
	case Overload:
		return serveThrottled
	case Slow:
		return serveSlow
	}
	return serveOK
}

// Draw returns the uniform number in [0, 1) that decides the fault of the
// attempt-th request (1-based, as counted by the server) of call index in
// scenario id, for seed. It is chaos.Draw over the three values, a pure
// function, not a shared random stream: every client's first attempt at
// call i draws the same number, whatever the other calls and clients did,
// so that differences between clients are theirs, not noise (common random
// numbers). Retries draw afresh.
func Draw(seed uint64, id, index, attempt int) float64 {
	return chaos.Draw(seed, uint64(id), uint64(index), uint64(attempt))
}

// injected returns the chaos fault that enacts a, or the zero Fault for a
// request served normally. status is the code of serveStatus.
func (f Fault) injected(a action, status int) chaos.Fault {
	switch a {
	case serveStatus:
		if status == 0 {
			status = http.StatusInternalServerError
		}
		h := http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Content-Type-Options": {"nosniff"}}
		if f.RetryAfter != "" {
			h.Set("Retry-After", f.RetryAfter)
		}
		return chaos.Fault{Status: status, Header: h, Body: http.StatusText(status) + "\n"}
	case serveProblem:
		return chaos.Fault{Status: http.StatusInternalServerError,
			Header: http.Header{"Content-Type": {"application/problem+json"}}, Body: problemBody}
	case serveReset:
		return chaos.Fault{Reset: true}
	case serveSlow:
		return chaos.Fault{Latency: f.Delay}
	}
	return chaos.Fault{}
}
