package scenario

import "time"

// Result is a run of the matrix, machine-readable. Durations are in
// nanoseconds in JSON.
type Result struct {
	// Timing and Seed are the run's settings.
	Timing Timing
	Seed   uint64
	// Rev says which revision of resilient ran, when the caller knows.
	Rev string
	// GoVersion and Procs are runtime.Version() and GOMAXPROCS.
	GoVersion string
	Procs     int
	// Clients are the clients compared, in the order of every Clients
	// slice below.
	Clients []ClientInfo
	// Scenarios are the scenarios run, in order.
	Scenarios []ScenarioResult
	// Totals sum every scenario and phase, per client.
	Totals []Total
	// Sick holds the sick-backend scenario's variants (RunSick), when it
	// ran; not in Totals.
	Sick []SickResult
}

// ClientInfo names a client and says how it was configured.
type ClientInfo struct {
	Name, About string
}

// ScenarioResult is one scenario.
type ScenarioResult struct {
	ID   int
	Name string
	Note string
	// AttemptTimeout is the per-attempt limit every client had, or 0.
	AttemptTimeout time.Duration
	// Capacity is the capacity-bound server's model, or nil; Fleet the
	// instances per client (0 or 1: one).
	Capacity *Capacity
	Fleet    int
	// LagP99 and LagMax are how late calls started behind their schedule,
	// over every client: the open loop's fidelity on a loaded machine.
	LagP99, LagMax time.Duration
	Phases         []PhaseResult
}

// PhaseResult is one phase of a scenario, for every client.
type PhaseResult struct {
	Name  string
	Fault Fault
	// Start and End are the phase's bounds on the scenario's clock.
	Start, End time.Duration
	// Healed is set for a healthy phase that follows a faulty one: its
	// Start is the instant of healing, and the ClientPhase fields for
	// healed phases are filled in.
	Healed bool
	// Clients holds one entry per client, in the order of Result.Clients.
	Clients []ClientPhase
}

// ClientPhase is what one client did in one phase. A call belongs to the
// phase in which it was scheduled to start; a server request to the phase
// in which it arrived (the last phase takes the late ones too).
type ClientPhase struct {
	Client string
	// Calls is the number of calls started in the phase; OK of those, the
	// successes (2xx, body read fully); Refused, those whose error is the
	// client's own breaker-open error.
	Calls, OK, Refused int
	// ServerRequests is the number of requests the client's server
	// received during the phase.
	ServerRequests int
	// Work is the capacity-bound server's work that ended in the phase
	// (serving requests, and rejecting them), and Wasted the part of it
	// spent serving requests whose caller had gone by the time the
	// response was written. Both 0 without a capacity-bound server.
	Work, Wasted time.Duration
	// P50 and P99 are quantiles of the latency of the phase's calls, all
	// of them; RefusedP99 of the refused ones only (0 when none).
	P50, P99, RefusedP99 time.Duration

	// The fields below are set for healed phases only.

	// FirstSuccess is the time from healing to the end of the first
	// successful call that ended after healing (whenever it started); -1
	// if none did.
	FirstSuccess time.Duration
	// FullTraffic is the time from healing to full traffic: the start of
	// the first 100 ms bucket b (buckets are counted from the instant of
	// healing; the phase's last, partial bucket is left out) such that in
	// b and in every bucket after it, no call that started in the bucket
	// was refused locally, and at least 90% of them reached the server
	// within 50 ms of their start. -1 if the last whole bucket fails that.
	FullTraffic time.Duration
	// Recovery is the time from healing to the start of the first
	// 250 ms bucket (counted from the instant of healing; a last partial
	// bucket left out) from which on the calls started in every bucket
	// succeed at RecoveredShare or more; -1 if the last whole bucket's do
	// not.
	Recovery time.Duration
	// OwnFailures counts the calls started in the phase that were refused
	// locally, or that failed while plain's call of the same index
	// succeeded: calls lost to the client's own state after healing. Only
	// refusals count when plain was not run.
	OwnFailures int
}

// Success returns OK / Calls, in [0, 1].
func (c ClientPhase) Success() float64 { return ratio(c.OK, c.Calls) }

// WastedShare returns Wasted / Work, or 0 without work.
func (c ClientPhase) WastedShare() float64 {
	if c.Work == 0 {
		return 0
	}
	return float64(c.Wasted) / float64(c.Work)
}

// PerCall returns ServerRequests / Calls: server requests per call.
func (c ClientPhase) PerCall() float64 { return ratio(c.ServerRequests, c.Calls) }

// Total is one client's sum over the whole run.
type Total struct {
	Client                string
	Calls, ServerRequests int
}

// Amplification returns ServerRequests / Calls.
func (t Total) Amplification() float64 { return ratio(t.ServerRequests, t.Calls) }

// Client returns the entry of the client called name.
func (p PhaseResult) Client(name string) (ClientPhase, bool) {
	for _, c := range p.Clients {
		if c.Client == name {
			return c, true
		}
	}
	return ClientPhase{}, false
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Storm reports whether s is a retry storm: a capacity-bound server and a
// trigger.
func (s ScenarioResult) Storm() bool {
	for _, p := range s.Phases {
		if p.Name == "trigger" {
			return s.Capacity != nil
		}
	}
	return false
}
