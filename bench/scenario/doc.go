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
//     full when no call started in it was refused locally and the server
//     received, during it, at least 90% as many requests as calls were
//     started in it. Full traffic is reached at the start of the first
//     bucket from which every bucket to the end of the phase is full;
//     never (-1) when the last bucket is not;
//   - calls lost to the client's own state: calls started in the phase that
//     were refused locally, or failed while plain's call of the same index
//     succeeded.
//
// Over the whole run, per client: server requests per call
// (amplification). Check judges resilient against plain with the issue's
// targets (IssueLimits) or the tests' (TestLimits); Markdown writes the
// report; bench/cmd/scenarios runs it.
package scenario
