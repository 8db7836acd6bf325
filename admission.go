package resilient

// This file holds per-host admission: whether an attempt to a host may be
// sent now, and what each attempt's outcome teaches about the host.
//
// # The promise: never worse than a plain client
//
// A refused call is a call that cannot succeed, so refusing is only worth
// it when almost nothing would succeed anyway. Admission therefore has
// three regimes, around a gobreaker circuit breaker that detects sustained
// failure and is the state users see (closed, open, half-open):
//
//  1. Closed: every attempt is sent. gobreaker opens on a run of failures
//     that would be improbable (odds below 1 in 1000) at the success rate
//     the host showed before the run: 25 in a row for a host that answered
//     nearly everything, 66 for one that answered 10% (tripRun). A fixed
//     run of 25 opened about once per 140 attempts on a host answering 10%,
//     and each open refused calls a plain client would have had; the
//     50%-ratio breaker this replaces opened at 60% failures and then
//     refused the 40% that would have succeeded. Only failures that show
//     the host unhealthy count (500, 502, 503, 504, network failures,
//     attempt timeouts: see verdict); a 4xx shows a live host and counts as
//     a success; the caller's own cancellation counts as nothing. Attempts
//     are counted, not calls: a call's outcome comes only after its
//     backoffs, so counting calls would let a further 100 ms of traffic
//     into a dead host before it opens, and a retry that fails is as much
//     evidence as a first attempt.
//  2. Open: calls are refused in microseconds, without a lock, but for
//     probes, one at a time (Breaker.Probes; a probe in flight for longer
//     than a hold, against a host that times out, gives its place to the
//     next). The first few go after the shortest hold, ProbeInterval
//     (10ms): 3 for a host that was healthy, 50 to 100 for one that was
//     already failing a tenth of its calls or more, so that a degraded
//     host is found alive again in a fraction of a second (fastProbes);
//     meanwhile a call it refuses waits for the next quick probe rather
//     than fail (waitForProbe, in retry.go). Then each probe goes after a
//     hold of a quarter of the outage's age, from ProbeInterval to
//     Cooldown (250ms), ±20% jitter (probeHold). A blip is probed within
//     milliseconds; an outage of seconds costs about 4 probes a second,
//     and its end is seen within a Cooldown. This is Envoy's outlier
//     detection and Finagle's failure accrual, growing the hold, but in
//     time rather than in counts: the hold never reaches 5 s, which in
//     the old breaker lost a healed host 2.5 s of traffic on average. A server that said
//     when to come back (Retry-After on the failure that opened the
//     breaker, or on a failed probe) is held that long instead, up to
//     Retry.MaxWait, as resilience4j's transitionToOpenAndWaitFor and
//     Polly's RetryAfter do. A successful probe closes the breaker.
//  3. Ramp-up: after an open of at least four Cooldowns (1s), when the
//     holds had grown to a Cooldown and the breaker was holding back a
//     real outage, the share of attempts admitted grows from half to all
//     over RampUp (250ms), as Envoy's slow start does, so that a host back
//     from an outage does not meet every client's traffic at once. After a
//     shorter open (a blip, a host that flaps) traffic returns whole: a
//     ramp there refuses calls a plain client gets answered. With a ramp
//     after every open, as before, a host down 500 ms and up 500 ms for
//     10 s answered 46.3% of resilient's calls against 50.0% of a plain
//     client's; without it, 48.9% to 49.2% (three seeds). A breaker
//     opened by another instance counts as open for four Cooldowns
//     (share.go), so it ramps up too.
//
// Google SRE's adaptive throttling (reject with probability
// (requests − K·accepts)/(requests + 1)) was studied and not taken: its
// steady state rejects nearly everything once fewer than 1/K of requests
// succeed, so with K = 2 it would refuse most calls to a host answering
// 40%, which a plain client gets. bench/RESULTS.md has the scenario matrix
// that chose these defaults, against a plain client in the same run.

import (
	"errors"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"

	"github.com/resilient-http/resilient/internal/budget"
)

// stateNames names gobreaker's states in the order of its constants.
var stateNames = [...]string{gobreaker.StateClosed: "closed", gobreaker.StateHalfOpen: "half-open", gobreaker.StateOpen: "open"}

// Failure reports given to gobreaker's done callback: errFailure counts
// against the host, errExcluded is neither success nor failure (the
// caller's own cancellation).
var (
	errFailure  = errors.New("retryable failure")
	errExcluded = errors.New("excluded")
)

// rampFloor is the share of attempts admitted when ramp-up begins.
const rampFloor = 0.5

// host holds what the client keeps per scheme+host+port: admission state,
// the retry budget, and when it was last used. Its fields are atomics, so
// that refusing a call while the host is down takes no lock.
type host struct {
	t    *Transport
	key  hostKey
	name string // key.String(), computed once
	// authority is key.authority(): a URL.Host that names this host as
	// is (registry.find).
	authority string
	cb        *gobreaker.TwoStepCircuitBreaker[struct{}]
	budget    *budget.Budget
	attrs     attribute.Set // metric attributes: server.address, server.port, url.scheme

	lastUsed    atomic.Int64 // unix nanos
	state       atomic.Int32 // gobreaker.State last reported by OnStateChange
	holdUntil   atomic.Int64 // while open: unix nanos before which no probe goes
	openedAt    atomic.Int64 // unix nanos when the breaker last opened from closed
	ok, failed  atomic.Int64 // recent successes, and failures whose run a success ended (see observe)
	run         atomic.Int64 // failures since the last success
	fast        atomic.Int32 // probes of this open sent after the shortest hold (see fastProbes)
	probes      atomic.Int32 // probes failed since the breaker opened
	rampStart   atomic.Int64 // unix nanos; ramp-up runs from rampStart to rampEnd
	rampEnd     atomic.Int64
	serverWait  atomic.Int64          // nanoseconds the last failure asked to wait (Retry-After)
	serverHeld  atomic.Bool           // the current hold is the server's
	remoteUntil atomic.Int64          // unix nanos; until when another instance's open is in force
	remoteTrip  atomic.Bool           // the open being applied comes from another instance
	probe       atomic.Pointer[probe] // the latest probe let through
	latency     hostLatency           // recent latencies, for hedging's adaptive delay (hedge.go)
	okClosed    budget.Counter        // successes while closed, not reported to gobreaker (successes.go)
	closedDone  func(error)           // reportClosed, made once
	failMu      sync.Mutex            // makes "still closed?" and a failure's report one step (reportClosed, trip)

	// For WithOnBreakerChange's counts (callbacks.go).
	tripCounts  gobreaker.Counts                 // the counts that last opened the breaker; under gobreaker's lock
	probeCounts atomic.Pointer[gobreaker.Counts] // half-open counts before the latest probe's report (noteProbe)
}

// newHost builds the admission state and budget for k.
func (t *Transport) newHost(k hostKey) *host {
	h := &host{t: t, key: k, name: k.String(), authority: k.authority()}
	b := t.cfg.breaker
	if !b.Disabled {
		h.okClosed.Init(b.Window)
		h.closedDone = h.reportClosed
		h.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name: h.name,
			// Probes at a time; that many successes close it.
			MaxRequests:  b.Probes,
			Interval:     b.Window,
			BucketPeriod: b.Window / 10,
			// Open time is ours (holdUntil): gobreaker lets the next
			// caller through as a probe as soon as we do.
			Timeout: time.Nanosecond,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				// The run is ours (observe): gobreaker's rolling window
				// drops failures older than Window from its count, so a
				// client calling less than 25 times per Window would
				// never see a run of 25. Its count serves a remote trip,
				// which reports failures without observing them; it is
				// not used otherwise, since successes while closed do not
				// reach gobreaker to end its run (reportClosed).
				run := h.run.Load()
				if h.remoteTrip.Load() {
					run = max(run, int64(c.ConsecutiveFailures))
				}
				samples := c.TotalSuccesses + c.TotalFailures + h.okClosed.Sum(h.t.cfg.clock.Now().UnixNano())
				trip := run >= h.tripRun() || samples >= b.MinRequests &&
					float64(c.TotalFailures) >= b.FailureRatio*float64(samples)
				if trip {
					// For the state change callback, under the same lock:
					// gobreaker's counts, with the successes and the run
					// that admission counts apart from it.
					ok := samples - c.TotalSuccesses - c.TotalFailures
					c.TotalSuccesses += ok
					c.Requests += ok
					c.ConsecutiveFailures = uint32(min(run, math.MaxUint32))
					h.tripCounts = c
				}
				return trip
			},
			IsExcluded: func(err error) bool { return err == errExcluded },
			// Called with gobreaker's mutex held: record, never call back.
			OnStateChange: func(_ string, from, to gobreaker.State) { h.changed(from, to) },
		})
	}
	r := t.cfg.retry
	if !r.Budget.Disabled && r.Max > 0 {
		h.budget = budget.New(budget.Config{Ratio: r.Budget.Ratio, Min: r.Budget.MinRetries, Window: r.Budget.Window, // budget
			Latency: r.Budget.Latency, Baseline: r.Budget.Baseline, Hold: r.Budget.Hold}) // budget
	}
	t.tel.hostAdded(h)
	return h
}

// admit decides whether an attempt to h may be sent now. When it may,
// done reports the attempt's outcome (see verdict) and must be called
// once; done is nil when breakers are disabled. A closed host that is not
// ramping up is admitted without reading the clock.
func (h *host) admit() (done func(error), refusal *CircuitOpenError) {
	if h.cb == nil {
		return nil, nil
	}
	st := gobreaker.State(h.state.Load())
	if st == gobreaker.StateClosed && h.rampEnd.Load() == 0 {
		// Closed admits every attempt: no need to ask gobreaker, whose
		// lock every concurrent attempt would take twice.
		return h.closedDone, nil
	}
	now := h.t.cfg.clock.Now()
	n := now.UnixNano()
	switch st {
	case gobreaker.StateOpen:
		// Refuse without taking gobreaker's lock: under load, refused
		// calls would otherwise queue on it.
		if n < h.holdUntil.Load() {
			return nil, h.openError(now, "")
		}
	case gobreaker.StateClosed:
		if end := h.rampEnd.Load(); n >= end {
			h.rampEnd.CompareAndSwap(end, 0) // ramp-up over: back to the clock-free path
		} else if h.t.cfg.rand() >= h.rampShare(n) {
			return nil, h.openError(now, reasonRamp)
		}
	}
	d, err := h.cb.Allow()
	if errors.Is(err, gobreaker.ErrTooManyRequests) {
		// A probe is in flight. If it has been for longer than a hold, a
		// host that times out is keeping it: release its slot, so that a
		// healed host is not seen only when that probe times out.
		if p := h.probe.Load(); p != nil && n >= p.stale && p.report(errExcluded) {
			d, err = h.cb.Allow()
		}
	}
	if err != nil {
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			return nil, h.openError(now, reasonProbing)
		}
		return nil, h.openError(now, "")
	}
	if gobreaker.State(h.state.Load()) == gobreaker.StateHalfOpen {
		age := time.Duration(n - h.openedAt.Load())
		p := &probe{done: d, stale: n + int64(probeHold(&h.t.cfg.breaker, age))}
		h.probe.Store(p)
		return func(v error) { h.noteProbe(); p.report(v) }, nil
	}
	return d, nil
}

// probe is a call let through a probing breaker. Its outcome is reported
// once: by the call, or, as excluded, by a later call that finds it in
// flight for longer than a hold and takes its place; gobreaker ignores
// what comes after its state moved on.
type probe struct {
	done     func(error)
	stale    int64 // unix nanos after which a later call may take its place
	reported atomic.Bool
}

// report passes v to gobreaker unless the probe's outcome was reported
// already, and says whether it did.
func (p *probe) report(v error) bool {
	if !p.reported.CompareAndSwap(false, true) {
		return false
	}
	p.done(v)
	return true
}

// failing reports whether h refuses calls now, other than to probe: its
// breaker is open and holding. It takes no lock.
func (h *host) failing() bool {
	return h.cb != nil && gobreaker.State(h.state.Load()) == gobreaker.StateOpen &&
		h.t.cfg.clock.Now().UnixNano() < h.holdUntil.Load()
}

// rampShare is the share of attempts admitted at n while ramping up: 1
// outside ramp-up.
func (h *host) rampShare(n int64) float64 {
	end := h.rampEnd.Load()
	if n >= end {
		return 1
	}
	start := h.rampStart.Load()
	if n <= start {
		return rampFloor
	}
	return rampFloor + (1-rampFloor)*float64(n-start)/float64(end-start)
}

// admission is the share of attempts h admits at now, for the metric: 0
// while open (probes aside), the ramp's share while ramping up, else 1.
func (h *host) admission(now time.Time) float64 {
	if h.cb == nil {
		return 1
	}
	switch gobreaker.State(h.state.Load()) {
	case gobreaker.StateOpen, gobreaker.StateHalfOpen:
		return 0
	}
	return h.rampShare(now.UnixNano())
}

// noteServerWait records what a failed response asked for (Retry-After),
// before its failure is reported, so that an open it causes holds that
// long.
func (h *host) noteServerWait(d time.Duration) {
	h.serverWait.Store(int64(d))
}

// recentSamples bounds the memory of observe: when successes and failures
// add up to more, both are halved, so that the rate follows the host.
const recentSamples = 100

// minRecentSamples is the fewest recent attempts whose success rate
// tripRun and fastProbes act on; with fewer, the host counts as healthy.
const minRecentSamples = 20

// observe records an admitted attempt's verdict in h's recent success
// rate. A failure joins the rate only once a success ends its run: the
// run in progress is what tripRun weighs against the rate before it.
//
// A host with no recent failure has the rate 1, whatever its successes: it
// writes nothing on success, so the healthy path stays read-only.
func (h *host) observe(v error) {
	switch v {
	case errExcluded:
	case nil:
		if h.run.Load() != 0 {
			h.failed.Add(h.run.Swap(0))
		}
		if h.failed.Load() == 0 {
			return
		}
		if ok := h.ok.Add(1); ok+h.failed.Load() > recentSamples {
			h.ok.Store(ok / 2)
			h.failed.Store(h.failed.Load() / 2)
		}
	default:
		h.run.Add(1)
	}
}

// tripOdds is how improbable a run of failures must be, at the success
// rate the host showed before it, to open the breaker: one in a thousand.
const tripOdds = 1e-3

// tripRun is the run of failures that opens h's breaker: the shortest run
// with odds below tripOdds at the host's recent success rate s, that is
// ln(tripOdds)/ln(1−s), from Breaker.ConsecutiveFailures up to four times
// that. A host that answered all or nearly all its recent calls opens
// after ConsecutiveFailures (25); one that answered 10% needs 66, which a
// host still answering 10% produces once in 20,000 attempts, where a run of
// 25 came once in 140.
func (h *host) tripRun() int64 {
	floor := int64(h.t.cfg.breaker.ConsecutiveFailures)
	ok, failed := h.ok.Load(), h.failed.Load()
	n := ok + failed
	if n < minRecentSamples || failed == 0 {
		return floor
	}
	s := float64(ok) / float64(n)
	if s >= 0.999 {
		return floor
	}
	need := int64(math.Ceil(math.Log(tripOdds) / math.Log1p(-s)))
	return min(max(need, floor), 4*floor)
}

// changed records a gobreaker transition. It runs with gobreaker's mutex
// held: it records and never calls the breaker.
func (h *host) changed(from, to gobreaker.State) {
	t := h.t
	b := &t.cfg.breaker
	now := t.cfg.clock.Now()
	n := now.UnixNano()
	switch to {
	case gobreaker.StateOpen:
		if from == gobreaker.StateClosed {
			h.openedAt.Store(n)
			h.probes.Store(0)
			h.fast.Store(int32(h.fastProbes()))
		} else {
			h.probes.Add(1)
		}
		hold := probeHold(b, time.Duration(n-h.openedAt.Load()))
		if h.probes.Load() < h.fast.Load() {
			hold = b.ProbeInterval
		}
		hold = time.Duration(float64(hold) * (0.8 + 0.4*t.cfg.rand()))
		if from == gobreaker.StateClosed && h.remoteTrip.Load() {
			// Another instance detected the outage and probes it: hold
			// until its open ends (at most Cooldown), as if this open
			// had begun when that one did.
			hold = max(0, min(time.Duration(h.remoteUntil.Load()-n), b.Cooldown))
			h.openedAt.Store(n - int64(4*b.Cooldown))
			h.fast.Store(0)
		}
		server := time.Duration(h.serverWait.Swap(0))
		server = min(server, t.cfg.retry.MaxWait)
		h.serverHeld.Store(server > hold)
		hold = max(hold, server)
		h.holdUntil.Store(n + int64(hold))
		h.rampEnd.Store(0)
	case gobreaker.StateClosed:
		if open := time.Duration(n - h.openedAt.Load()); b.RampUp > 0 && open >= 4*b.Cooldown {
			ramp := min(b.RampUp, open/4)
			h.rampStart.Store(n)
			h.rampEnd.Store(n + int64(ramp))
		}
	}
	h.okClosed.Reset() // gobreaker's counts restart too
	h.state.Store(int32(to))
	t.breakerChanged(h, from, to, now)
}

// fastProbes is how many probes an open breaker sends after the shortest
// hold, ProbeInterval, before its holds grow with the outage's age. A host
// that answered everything before this run of failures is most likely
// down: 3 quick probes cover a blip. One that was already failing some
// calls is more likely degraded, and its recent success rate s may lag a
// change for the worse (from 60% failures to 90%, say): it gets five over
// s, from 50 to 100, so that a host still answering 10% is found alive
// again with odds of 99.5%, within about half a second, where growing
// holds kept it refused for seconds in one short run of five. That costs
// 50 to 100 requests more when such a host does go down.
//
// Between the two, the floor of 50 grows with the share of recent
// attempts that failed: none above 3 up to healthyShare (2%), all of it
// from degradedShare (10%). A single reset among the last fifty calls does
// not make a healthy host look degraded; when it did, a real outage got 50
// quick probes where 3 do (in the scenario matrix, 8% of a plain client's
// load on the dead server instead of 5%).
func (h *host) fastProbes() int {
	ok, failed := h.ok.Load(), h.failed.Load()
	n := ok + failed
	if failed == 0 || n < minRecentSamples {
		return healthyFastProbes
	}
	f := float64(failed) / float64(n)
	if f < degradedShare {
		return healthyFastProbes + int(math.Round(47*max(0, f-healthyShare)/(degradedShare-healthyShare)))
	}
	if ok == 0 {
		return 50
	}
	s := float64(ok) / float64(n)
	return min(100, max(50, int(math.Ceil(5/s))))
}

// healthyFastProbes is how many quick probes a host that was healthy
// gets when its breaker opens (fastProbes).
const healthyFastProbes = 3

// healthyShare and degradedShare are the shares of recent attempts failed
// up to which a host counts as healthy, and from which it counts as
// degraded, when its breaker opens (fastProbes).
const (
	healthyShare  = 0.02
	degradedShare = 0.1
)

// probingDegraded reports whether h's breaker, open or probing, is within
// the quick probes (holds of ProbeInterval) that fastProbes gives a host
// that was already failing some of its calls, more than a healthy host's
// 3, and no server asked it to hold longer.
func (h *host) probingDegraded() bool {
	fast := h.fast.Load()
	return fast > healthyFastProbes && h.probes.Load() < fast && !h.serverHeld.Load()
}

// probeHold is how long an open breaker holds before its next probe, once
// the outage is age old: a quarter of its age, from ProbeInterval up to
// Cooldown. A blip is probed every few milliseconds; a long outage once
// per Cooldown. With the defaults that is about 17 probes in the first
// second of an outage and 4 a second after it: in an 8-second outage, 45
// probes, plus the 25 failures that opened it.
func probeHold(b *Breaker, age time.Duration) time.Duration {
	return min(max(age/4, b.ProbeInterval), b.Cooldown)
}

// Reasons a CircuitOpenError gives, beyond the breaker's state.
const (
	reasonOpen    = "failing"
	reasonProbing = "probing"
	reasonRamp    = "ramping up after recovery"
	reasonServer  = "server asked to wait"
	reasonRemote  = "failing for another instance"
)

// openError describes a refusal of h at now. reason "" means the breaker
// is open and holding.
func (h *host) openError(now time.Time, reason string) *CircuitOpenError {
	n := now.UnixNano()
	e := &CircuitOpenError{Host: h.name, State: BreakerState(h.state.Load()), Reason: reason, at: now,
		Remote: n < h.remoteUntil.Load()}
	switch {
	case reason == reasonRamp:
		e.Admitted = h.rampShare(n)
		e.Until = time.Unix(0, h.rampEnd.Load())
	case reason == reasonProbing:
		e.State = BreakerHalfOpen
	default:
		e.State = BreakerOpen
		e.Until = time.Unix(0, h.holdUntil.Load())
		switch {
		case h.serverHeld.Load():
			e.Reason = reasonServer
		case e.Remote:
			e.Reason = reasonRemote
		default:
			e.Reason = reasonOpen
		}
	}
	return e
}

// verdict is what an attempt's outcome tells admission: errFailure for a
// failure that shows the host unhealthy (an unhealthyStatus, a retryable
// network failure or timeout), errExcluded for the caller's own
// cancellation, nil (success) for anything else, 4xx included: the host
// answered. A WithClassifier hook that disagrees with Classify decides
// instead (hookVerdict).
func verdict(c *call, resp *http.Response, err error, o Outcome) error {
	if c.t.cfg.classify != nil {
		if v, changed := c.hookVerdict(o, resp, err); changed {
			return v
		}
	}
	if err != nil {
		if c.Context.Err() != nil {
			return errExcluded
		}
		if classifyErr(err) == Retryable {
			return errFailure
		}
		return nil
	}
	if unhealthyStatus(resp.StatusCode) {
		return errFailure
	}
	return nil
}
