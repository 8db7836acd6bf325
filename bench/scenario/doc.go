// Package scenario is the scenario matrix: it runs the same seeded
// open-loop traffic through several HTTP clients (plain net/http,
// resilient at its defaults, failsafe-go, go-retryablehttp), each against
// its own loopback server that follows the same fault schedule on the same
// clock, and reports per scenario and phase how each client did.
//
// # Traffic
//
// Calls start at Timing.Rate per second, at the same instants for every
// client, each in its own goroutine whether or not earlier calls ended
// (an open loop), each a GET with its own Timing.Deadline. Every request
// carries the call's index in the X-Scenario-Call header. The server counts
// the requests of each call, and the fault of the attempt-th request of
// call i is decided by Draw(seed, scenario, i, attempt), a hash: every
// client's first request of call i meets the same fault (common random
// numbers), and retries draw afresh. Each server is a chaos.Handler whose
// Pick follows that schedule (package github.com/resilient-http/resilient/chaos
// injects the statuses, resets and delays). A call succeeds when it gets a
// 2xx and reads its body fully.
//
// # Measures
//
// A call belongs to the phase in which it was scheduled to start; a server
// request to the phase in which it arrived. Per phase and client (see
// ClientPhase): success (successful calls / calls), server requests per
// call, calls refused locally (the call's error is the client's own
// breaker-open error: errors.Is(err, resilient.ErrCircuitOpen), or
// failsafe-go's circuitbreaker.ErrOpen), latency quantiles, and, for a
// healed phase (a healthy phase after a faulty one, starting at the instant
// of healing):
//
//   - first success: from healing to the end of the first successful call
//     that ended after healing;
//   - full traffic: cut the healed phase into 100 ms buckets from the
//     instant of healing, leaving out a last partial bucket. A bucket is
//     full when no call started in it was refused locally and at least 90%
//     of them reached the server (their first request did) within 50 ms
//     of their start. Calls are counted where they started, not where
//     they were scheduled to, and given 50 ms, so that neither a load
//     generator that fell behind nor a machine that stalled requests for a
//     moment counts as a client holding calls back. Full traffic is reached
//     at the start of the first bucket from which every bucket to the end
//     of the phase is full; never (-1) when the last bucket is not;
//   - calls lost to the client's own state: calls started in the phase that
//     were refused locally, or failed while plain's call of the same index
//     succeeded.
//
// Over the whole run, per client: server requests per call
// (amplification).
//
// # Where retries hurt
//
// Scenarios 9–14 put a capacity-bound server (Capacity, capacity.go)
// behind every client: fixed workers, a bounded FIFO queue, work done for
// callers that have gone, and a rejection that costs a little work. In
// the retry storms (9–13) a trigger halves its capacity for a few seconds
// under a base load of 75%; the windows before, during and after it report
// also the share of the server's work done for callers already gone
// (ClientPhase.Wasted) and, after it, the time to recover
// (ClientPhase.Recovery). Scenarios 11–13 make every client a fleet of 20
// instances sharing the server, 13 with resilient's sharing breaker
// transitions through redisstore and a real Redis (Options.Redis).
// Scenario 14 is an overload whose rejections cost capacity, beside
// scenario 7's, which sheds for free.
//
// # One sick backend
//
// RunSick (sick.go) is a scenario of its own, in closed loops: four
// backends behind an L4 balancer (internal/testpeers.Balancer) that picks
// a backend per connection, one of them answering every request 503,
// over HTTP/1 and HTTP/2, one goroutine and 8, the sick backend first in
// the rotation or not; every client at once with its own balancer and
// backends. Per client (SickClient): success, server requests per call,
// connections opened, the breaker's opens. CheckSick judges resilient
// with issue 28's targets (IssueSickLimits, TestSickLimits).
//
// Check judges resilient against plain, and against go-retryablehttp where
// the issue says so, with the issues' targets (IssueLimits) or the tests'
// (TestLimits); Markdown writes the report; bench/cmd/scenarios runs it.
package scenario
