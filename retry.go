package resilient

// This file holds the retry policy: Backoff, decide (a pure function from
// an attempt's outcome and the call's facts to "retry after d" or "stop,
// and why"), and next, the step after each attempt that applies the
// decision: it spends the retry budget, keeps the failed response for the
// final error, and waits.

import (
	"context"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/resilient-http/resilient/internal/body"
	"github.com/resilient-http/resilient/internal/headers"
)

// Backoff returns the wait before retry number n (0 for the first retry):
// "full jitter" exponential backoff, a uniform draw below
// min(maxWait, minWait·2ⁿ), where r is a random number in [0, 1). It is a
// pure function, safe to share.
func Backoff(n int, minWait, maxWait time.Duration, r float64) time.Duration {
	if n < 0 {
		n = 0
	}
	ceiling := float64(maxWait)
	if n < 62 {
		ceiling = math.Min(ceiling, float64(minWait)*math.Exp2(float64(n)))
	}
	return time.Duration(r * ceiling)
}

// facts is what the retry decision needs to know of a call besides its
// latest outcome.
type facts struct {
	outcome     Outcome   // the latest outcome's class (Classify, or WithClassifier's hook)
	attempts    int       // attempts sent so far, hedges aside
	idempotent  bool      // safe to send twice (method or Idempotency-Key)
	replayable  bool      // the body can be sent again
	deadline    time.Time // the call's deadline; zero for none
	hostFailing bool      // the host's admission refuses calls now
}

// decision is what decide concludes: retry after wait, or stop. stop says
// why retrying stopped early; it is nil when the outcome itself ends the
// call (success, a permanent failure, retries used up).
type decision struct {
	retry      bool
	wait       time.Duration
	retryAfter time.Duration // what the server asked for, when it asked
	stop       error
}

// errHostFailing is decide's reason when the host's admission refuses
// calls; next turns it into the host's *CircuitOpenError.
var errHostFailing = errors.New("host failing")

// deadlineMargin is the least time left for an attempt after a wait: a
// retry that would start closer to the deadline than this is not made.
const deadlineMargin = 10 * time.Millisecond

// decide is the retry policy, a pure function of the latest outcome, the
// call's facts, the time and a random number in [0, 1) for the jitter. It
// retries a retryable outcome of a request that may be sent again (an
// idempotent one, or one the failure proves never reached the server),
// within Retry.Max, after the server's Retry-After or RateLimit delay or
// else a jittered backoff; it stops early, with a reason, when the server
// asks for longer than MaxWait, when the wait would leave no time before
// the deadline, when the body cannot be sent again, or when the host is
// failing.
func decide(p *Retry, last result, f facts, now time.Time, rnd float64) decision {
	if f.outcome != Retryable || f.attempts > p.Max {
		return decision{}
	}
	if !f.idempotent && (last.err == nil || !neverSent(last.err)) {
		return decision{}
	}
	if !f.replayable {
		return decision{stop: ErrBodyNotReplayable}
	}
	var d decision
	asked := false
	if last.resp != nil {
		if w, ok := headers.ServerDelay(last.resp.Header, now); ok {
			d.retryAfter, d.wait, asked = w, w, true
			if w > p.MaxWait {
				d.stop = ErrRetryAfterTooLong
				return d
			}
		}
	}
	if !asked {
		d.wait = Backoff(f.attempts-1, p.MinWait, p.MaxWait, rnd)
	}
	if !f.deadline.IsZero() && !now.Add(d.wait+deadlineMargin).Before(f.deadline) {
		d.stop = ErrDeadline
		if asked {
			d.stop = ErrRetryAfterTooLong
		}
		return d
	}
	if f.hostFailing {
		d.stop = errHostFailing
		return d
	}
	d.retry = true
	return d
}

// next runs after each attempt and reports whether to send another. It
// applies decide: on a stop it records the reason; on a retry it spends
// one from the host's retry budget (or stops with
// ErrRetryBudgetExhausted), keeps the failed response for the final error
// and waits, stopping if the call's context ends first.
func (c *call) next() bool {
	t := c.t
	if c.refused != nil {
		if d, ok := c.waitForProbe(); ok {
			t.tel.waitingForProbe(c, d)
			if !t.cfg.clock.Sleep(c.Context, d) {
				c.stop = c.Context.Err()
				return false
			}
			return true
		}
		c.stop = c.refused
		return false
	}
	if c.Context.Err() != nil {
		return false
	}
	o := c.outcome()
	if o != Retryable {
		// decide would say the same; most calls end here, and need
		// neither the deadline nor a random draw.
		if o == Success && c.attempts == 1 && c.host.budget != nil { // budget
			now := t.cfg.clock.Now().UnixNano()      // budget
			c.host.budget.Answered(now, now-c.begun) // budget
		}
		return false
	}
	if c.replay != nil {
		if c.replayable = c.bodyReady(); c.Context.Err() != nil {
			return false
		}
	}
	now := t.cfg.clock.Now()
	dl, _ := c.Context.Deadline()
	d := decide(c.retryPolicy(), c.last, facts{
		outcome:     o,
		attempts:    c.attempts - int(c.hedges),
		idempotent:  c.idempotent,
		replayable:  c.replayable,
		deadline:    dl,
		hostFailing: !c.skipBreaker && c.host.failing(),
	}, now, t.cfg.rand())
	if d.retry && c.host.budget != nil && !c.host.budget.TryRetry(now.UnixNano(), budgetCause(c.last)) { // budget
		d = decision{stop: ErrRetryBudgetExhausted}
	}
	if !d.retry {
		if d.stop == errHostFailing {
			d.stop = c.host.openError(now, "")
		}
		if d.stop != nil {
			c.stop = d.stop
			t.tel.stopped(c, c, d.stop, d.retryAfter)
		}
		return false
	}
	c.keep()
	t.tel.retrying(c, c, d.wait, reason(c.last))
	if t.events != nil {
		t.events.retrying(c, d.wait)
	}
	if !t.cfg.clock.Sleep(c.Context, d.wait) {
		c.stop = c.Context.Err()
		return false
	}
	return true
}

// waitForProbe reports whether an attempt of c that admission refused
// waits and goes again, and for how long. It waits only while the breaker
// of a host that was already failing some calls sends its quick probes,
// one per ProbeInterval (fastProbes: a degraded host, or one that flaps,
// is likely to answer again within them): until the hold ends, or one
// ProbeInterval while another call's probe is in flight; never longer
// than Retry.MinWait, the scale of a retry's own backoff. The refused
// attempt was never sent, so this is safe for any method whose body can
// be sent again; it sends nothing that admission does not let through, so
// the host sees no more load; and it is bounded by Retry.Max and the
// call's deadline. Otherwise a refused call fails in microseconds: when a
// healthy host goes down (waiting for its 3 quick probes put the p99 of
// the calls refused in an 8 s outage at 12 to 36 ms instead of under
// 1 ms), once the holds grow, and for a Retry-After or a ramp-up.
//
// In the flapping scenario (500 ms down, 500 ms up) a call refused in the
// last milliseconds of an outage now succeeds, where it failed in
// microseconds: bench/SCENARIOS.md measures both.
func (c *call) waitForProbe() (time.Duration, bool) {
	e, p := c.refused, c.retryPolicy()
	if !c.replayable || c.probeWaits >= p.Max {
		return 0, false
	}
	interval := c.t.cfg.breaker.ProbeInterval
	if interval > p.MinWait || !c.host.probingDegraded() {
		return 0, false
	}
	now := c.t.cfg.clock.Now()
	var d time.Duration
	switch {
	case e.State == BreakerHalfOpen:
		d = interval
	case e.State == BreakerOpen && !e.Until.IsZero():
		d = max(0, e.Until.Sub(now))
		if d > min(2*interval, p.MinWait) {
			return 0, false
		}
	default:
		return 0, false
	}
	if dl, ok := c.Context.Deadline(); ok && !now.Add(d+deadlineMargin).Before(dl) {
		return 0, false
	}
	c.probeWaits++
	return d, true
}

// checkRetry is go-retryablehttp's CheckRetry hook: next, for the call
// that ctx belongs to. It waits itself, rather than in go-retryablehttp's
// Backoff hook, because Backoff receives no context (and no response
// after a network failure), so it cannot see the deadline or the call.
func checkRetry(ctx context.Context, _ *http.Response, _ error) (bool, error) {
	c := callFrom(ctx)
	if c == nil {
		return false, nil
	}
	return c.next(), nil
}

// reason describes a failed attempt in a few words, for logs and events.
func reason(last result) string {
	if err := last.err; err != nil {
		var te interface{ Timeout() bool }
		if errors.As(err, &te) && te.Timeout() {
			return "timeout"
		}
		return err.Error()
	}
	return body.Excerpt([]byte(last.resp.Status), maxStatus)
}
