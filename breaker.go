package resilient

// This file holds the per-host breaker: a gobreaker circuit breaker, which
// owns the state (closed, open, half-open), the counts and the half-open
// probe permit, and the admission layer around it, which decides what
// gobreaker cannot express: how long an open breaker holds before its next
// probe, how many quick probes it sends, ramp-up after an outage, and
// holds that the server asked for. The layer reads gobreaker (its Allow,
// its counts in ReadyToTrip) and keeps only what is its own.
//
// # The promise: never worse than a plain client
//
// A refused call is a call that cannot succeed, so refusing is only worth
// it when almost nothing would succeed anyway. Admission therefore has
// three regimes:
//
//  1. Closed: every attempt is sent, and reported to gobreaker. It opens
//     on a run of failures (gobreaker's ConsecutiveFailures, never cleared
//     by an interval) that would be improbable, odds below 1 in 1000, at
//     the success rate the host showed before the run: 25 in a row for a
//     host that answered nearly everything, 66 for one that answered 10%
//     (tripRun). A fixed run of 25 opens about once per 140 attempts on a
//     host answering 10%, refusing calls a plain client would have had.
//     Only failures that show the host unhealthy count (5xx but those that
//     say the request is wrong, network failures, attempt timeouts: see
//     verdict); a 4xx shows a live host and counts as a success; the
//     caller's own cancellation counts as nothing. Attempts are counted,
//     not calls: a retry that fails is as much evidence as a first attempt.
//  2. Open: calls are refused in microseconds, without a lock, but for
//     probes, one at a time (Breaker.Probes, gobreaker's half-open permit;
//     a probe in flight for longer than a hold, against a host that times
//     out, gives its place to the next). The first few go after the
//     shortest hold, ProbeInterval: 3 for a host that was healthy, 50 to
//     100 for one that was already failing a tenth of its calls or more,
//     so that a degraded host is found alive again in a fraction of a
//     second (fastProbes); meanwhile a call it refuses may wait for the
//     quick probes, as long as its retries' backoffs could take, rather
//     than fail (waitForProbe, in retry.go). Then each
//     probe goes after a hold of a quarter of the outage's age, from
//     ProbeInterval to Cooldown, ±20% jitter (probeHold), as Envoy's
//     outlier detection and Finagle's failure accrual grow theirs, but in
//     time rather than in counts, so that a healed host is seen within a
//     Cooldown. A server that said when to come back (Retry-After on the
//     failure that opened the breaker, or on a failed probe) is held that
//     long instead, up to Retry.MaxWait, as resilience4j's
//     transitionToOpenAndWaitFor does. A successful probe closes it.
//  3. Ramp-up: after an open of at least four Cooldowns, when the breaker
//     was holding back a real outage, the share of attempts admitted grows
//     from half to all over RampUp, as Envoy's slow start does. After a
//     shorter open (a blip, a host that flaps) traffic returns whole: a
//     ramp there refuses calls a plain client gets answered. A breaker
//     opened by another instance counts as open for four Cooldowns
//     (share.go), so it ramps up too.
//
// gobreaker's open state lasts its Timeout, fixed and on its own wall
// clock; the hold grows and follows the Transport's clock. So gobreaker's
// Timeout is the least it accepts, and the hold is the layer's (holdUntil):
// while it lasts the layer refuses without asking gobreaker; once it is
// over, gobreaker's Allow decides, and hands out the half-open permit.
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
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

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

// breaker is a host's circuit breaker: gobreaker, and the admission
// layer's own state around it. Its fields are atomics, so that refusing a
// call while the host is down takes no lock.
type breaker struct {
	cb *gobreaker.TwoStepCircuitBreaker[struct{}]

	// holdUntil is 0 while gobreaker is closed (set in changed); while it
	// is open or half-open, the unix nanos before which no probe goes.
	holdUntil  atomic.Int64
	openedAt   atomic.Int64          // unix nanos when the breaker last opened from closed
	fast       atomic.Int32          // probes of this open sent after the shortest hold (fastProbes)
	probes     atomic.Int32          // probes failed since the breaker opened
	rampStart  atomic.Int64          // unix nanos; ramp-up runs from rampStart to rampEnd
	rampEnd    atomic.Int64          // 0: no ramp-up
	serverWait atomic.Int64          // nanoseconds the last failure asked to wait (Retry-After)
	serverHeld atomic.Bool           // the current hold is the server's
	probe      atomic.Pointer[probe] // the latest probe let through

	// The host's recent success rate, which tripRun and fastProbes weigh
	// a run of failures against: recent successes, and the failures of
	// runs that a success ended. The run in progress is pending: while
	// closed, gobreaker's ConsecutiveFailures when it last asked
	// ReadyToTrip; then the failures since the open. A success adds it to
	// failed.
	ok, failed, pending atomic.Int64
	// ratio counts the attempts and failures of the last Window, for
	// FailureRatio; nil when the run of failures always meets that rule
	// first: a ratio of 1 (the default) over at least as many samples as
	// the shortest run.
	ratio *ratioWindow

	// For WithOnBreakerChange's counts (callbacks.go): gobreaker clears
	// its counts before it reports a change.
	tripCounts  gobreaker.Counts                 // the counts that last opened the breaker; under gobreaker's lock
	tripped     atomic.Pointer[gobreaker.Counts] // a copy of them from the last open from closed, for Hosts
	probeCounts atomic.Pointer[gobreaker.Counts] // half-open counts before the latest probe's report (noteProbe)
}

// ratioWindow counts attempts and failures over Breaker.Window.
type ratioWindow struct {
	samples, failures budget.Counter
}

// newBreaker builds h's breaker, or returns nil when breakers are
// disabled.
func (h *host) newBreaker() *breaker {
	b := h.t.cfg.breaker
	if b.Disabled {
		return nil
	}
	br := &breaker{}
	if b.FailureRatio < 1 || b.MinRequests < b.ConsecutiveFailures {
		br.ratio = &ratioWindow{}
		br.ratio.samples.Init(b.Window)
		br.ratio.failures.Init(b.Window)
	}
	br.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name: h.name,
		// Probes at a time in half-open; that many successes close it.
		MaxRequests: b.Probes,
		// No Interval: the run of failures is never cleared by time, so
		// that a client calling a host less than 25 times in a period
		// still sees a run of 25.
		Interval: 0,
		// The hold is the admission layer's (see the file comment):
		// gobreaker's open ends as soon as the layer asks it again.
		Timeout: time.Nanosecond,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			trip := h.readyToTrip(c)
			if trip {
				br.tripCounts = c // under gobreaker's lock, for the callback
			}
			return trip
		},
		IsExcluded: func(err error) bool { return err == errExcluded },
		// Called with gobreaker's mutex held: record, never call back.
		OnStateChange: func(_ string, from, to gobreaker.State) { h.changed(from, to) },
	})
	return br
}

// readyToTrip is gobreaker's ReadyToTrip, asked after each failure while
// closed: a run as long as tripRun, an open published by another
// instance, or failures reaching FailureRatio of the Window's attempts.
func (h *host) readyToTrip(c gobreaker.Counts) bool {
	br := h.br
	run := int64(c.ConsecutiveFailures)
	br.pending.Store(run)
	if h.shared.remoteTrip.Load() || run >= h.tripRun() {
		return true
	}
	if r := br.ratio; r != nil {
		now := h.t.cfg.clock.Now().UnixNano()
		n := r.samples.Sum(now)
		return n >= h.t.cfg.breaker.MinRequests && float64(r.failures.Sum(now)) >= h.t.cfg.breaker.FailureRatio*float64(n)
	}
	return false
}

// admit decides whether an attempt to h may be sent now. When it may,
// done reports the attempt's outcome (see verdict) and must be called
// once; done is nil when breakers are disabled. A closed host that is not
// ramping up asks gobreaker without reading the Transport's clock.
func (h *host) admit() (done func(error), refusal *CircuitOpenError) {
	br := h.br
	if br == nil {
		return nil, nil
	}
	held := br.holdUntil.Load()
	if held == 0 && br.rampEnd.Load() == 0 {
		d, err := br.cb.Allow()
		if held = br.holdUntil.Load(); err == nil && held == 0 {
			return d, nil
		}
		// The breaker opened since holdUntil was read: gobreaker, whose
		// open ends at once, may have made this attempt a probe before
		// the hold. Give the permit back, and decide as for an open host.
		if err == nil {
			d(errExcluded)
		}
	}
	now := h.t.cfg.clock.Now()
	n := now.UnixNano()
	if held != 0 && n < held {
		return nil, h.openError(now, "")
	}
	if end := br.rampEnd.Load(); end != 0 {
		if n >= end {
			br.rampEnd.CompareAndSwap(end, 0) // ramp-up over
		} else if h.t.cfg.rand() >= h.rampShare(n) {
			return nil, h.openError(now, reasonRamp)
		}
	}
	d, err := br.cb.Allow()
	if errors.Is(err, gobreaker.ErrTooManyRequests) {
		// A probe is in flight. If it has been for longer than a hold, a
		// host that times out is keeping it: release its permit, so that
		// a healed host is not seen only when that probe times out.
		if p := br.probe.Load(); p != nil && n >= p.stale && p.report(errExcluded) {
			d, err = br.cb.Allow()
		}
	}
	if err != nil {
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			return nil, h.openError(now, reasonProbing)
		}
		return nil, h.openError(now, "")
	}
	if again := br.holdUntil.Load(); again != held && again > n {
		// A probe failed since held was read and a new hold began;
		// gobreaker, whose open ends at once, made this attempt a probe
		// before the hold. Give the permit back, and refuse as the hold
		// does.
		d(errExcluded)
		return nil, h.openError(now, "")
	}
	if held == 0 {
		return d, nil
	}
	// Admitted after a hold: gobreaker made this attempt its probe.
	age := time.Duration(n - br.openedAt.Load())
	p := &probe{done: d, stale: n + int64(probeHold(&h.t.cfg.breaker, age))}
	br.probe.Store(p)
	return func(v error) { h.noteProbe(); p.report(v) }, nil
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
	if h.br == nil {
		return false
	}
	held := h.br.holdUntil.Load()
	return held != 0 && h.t.cfg.clock.Now().UnixNano() < held
}

// state is the state of h's breaker at now, as users see it: open while
// the layer holds, else gobreaker's own.
func (h *host) state(now time.Time) BreakerState {
	if h.br == nil {
		return BreakerClosed
	}
	if held := h.br.holdUntil.Load(); held != 0 && now.UnixNano() < held {
		return BreakerOpen
	}
	return BreakerState(h.br.cb.State())
}

// rampShare is the share of attempts admitted at n while ramping up: 1
// outside ramp-up.
func (h *host) rampShare(n int64) float64 {
	br := h.br
	end := br.rampEnd.Load()
	if n >= end {
		return 1
	}
	start := br.rampStart.Load()
	if n <= start {
		return rampFloor
	}
	return rampFloor + (1-rampFloor)*float64(n-start)/float64(end-start)
}

// admission is the share of attempts h admits at now, for the metric: 0
// while open or probing, the ramp's share while ramping up, else 1.
func (h *host) admission(now time.Time) float64 {
	if h.br == nil {
		return 1
	}
	if h.br.holdUntil.Load() != 0 {
		return 0
	}
	return h.rampShare(now.UnixNano())
}

// noteServerWait records what a failed response asked for (Retry-After),
// before its failure is reported, so that an open it causes holds that
// long.
func (h *host) noteServerWait(d time.Duration) {
	h.br.serverWait.Store(int64(d))
}

// recentSamples bounds the memory of observe: when successes and failures
// add up to more, both are halved, so that the rate follows the host.
const recentSamples = 100

// minRecentSamples is the fewest recent attempts whose success rate
// tripRun and fastProbes act on; with fewer, the host counts as healthy.
const minRecentSamples = 20

// observe records an admitted attempt's verdict in h's recent success
// rate, and in the FailureRatio window. A failure joins the rate only
// once a success ends its run: the run in progress is what tripRun weighs
// against the rate before it. A host with no recent failure has the rate
// 1, whatever its successes: it writes nothing on success, so the healthy
// path only reads.
func (h *host) observe(v error) {
	br := h.br
	if v == errExcluded {
		return
	}
	if r := br.ratio; r != nil {
		now := h.t.cfg.clock.Now().UnixNano()
		r.samples.Add(now, false)
		if v != nil {
			r.failures.Add(now, false)
		}
	}
	if v != nil {
		if br.holdUntil.Load() != 0 {
			// Open or probing: a failed probe, or an attempt sent before
			// the open, lengthens the run that ReadyToTrip, asked only
			// while closed, last saw.
			br.pending.Add(1)
		}
		return
	}
	if br.pending.Load() != 0 {
		br.failed.Add(br.pending.Swap(0))
	}
	if br.failed.Load() == 0 {
		return
	}
	if ok := br.ok.Add(1); ok+br.failed.Load() > recentSamples {
		br.ok.Store(ok / 2)
		br.failed.Store(br.failed.Load() / 2)
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
	ok, failed := h.br.ok.Load(), h.br.failed.Load()
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
	t, br := h.t, h.br
	b := &t.cfg.breaker
	now := t.cfg.clock.Now()
	n := now.UnixNano()
	switch to {
	case gobreaker.StateOpen:
		if from == gobreaker.StateClosed {
			c := br.tripCounts
			br.tripped.Store(&c)
			br.openedAt.Store(n)
			br.probes.Store(0)
			br.fast.Store(int32(h.fastProbes()))
		} else {
			br.probes.Add(1)
		}
		hold := probeHold(b, time.Duration(n-br.openedAt.Load()))
		if br.probes.Load() < br.fast.Load() {
			hold = b.ProbeInterval
		}
		hold = time.Duration(float64(hold) * (0.8 + 0.4*t.cfg.rand()))
		if from == gobreaker.StateClosed && h.shared.remoteTrip.Load() {
			// Another instance detected the outage and probes it: hold
			// until its open ends (at most Cooldown), as if this open
			// had begun when that one did.
			hold = max(0, min(time.Duration(h.shared.remoteUntil.Load()-n), b.Cooldown))
			br.openedAt.Store(n - int64(4*b.Cooldown))
			br.fast.Store(0)
		}
		server := time.Duration(br.serverWait.Swap(0))
		server = min(server, t.cfg.retry.MaxWait)
		br.serverHeld.Store(server > hold)
		hold = max(hold, server)
		br.holdUntil.Store(max(n+int64(hold), 1))
		br.rampEnd.Store(0)
	case gobreaker.StateClosed:
		br.holdUntil.Store(0)
		if open := time.Duration(n - br.openedAt.Load()); b.RampUp > 0 && open >= 4*b.Cooldown {
			ramp := min(b.RampUp, open/4)
			br.rampStart.Store(n)
			br.rampEnd.Store(n + int64(ramp))
		}
	}
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
// holds kept it refused for seconds. That costs 50 to 100 requests more
// when such a host does go down.
//
// Between the two, the floor of 50 grows with the share of recent
// attempts that failed: none above 3 up to healthyShare (2%), all of it
// from degradedShare (10%). A single reset among the last fifty calls does
// not make a healthy host look degraded.
func (h *host) fastProbes() int {
	ok, failed := h.br.ok.Load(), h.br.failed.Load()
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
	br := h.br
	if br == nil {
		return false
	}
	fast := br.fast.Load()
	return fast > healthyFastProbes && br.probes.Load() < fast && !br.serverHeld.Load()
}

// probeHold is how long an open breaker holds before its next probe, once
// the outage is age old: a quarter of its age, from ProbeInterval up to
// Cooldown. A blip is probed every few milliseconds; a long outage once
// per Cooldown.
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
	br := h.br
	n := now.UnixNano()
	e := &CircuitOpenError{Host: h.name, Reason: reason, at: now, Remote: n < h.shared.remoteUntil.Load()}
	switch {
	case reason == reasonRamp:
		e.State = BreakerClosed
		e.Admitted = h.rampShare(n)
		e.Until = time.Unix(0, br.rampEnd.Load())
	case reason == reasonProbing:
		e.State = BreakerHalfOpen
	default:
		e.State = BreakerOpen
		e.Until = time.Unix(0, br.holdUntil.Load())
		switch {
		case br.serverHeld.Load():
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
		if c.ctx.Err() != nil {
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
