package resilient

// This file holds the retry loop and the retry decision: loop, the one
// loop that sends every attempt of a call, the first included; decide, a
// pure function from an attempt's outcome and the call's facts to "retry
// after d" or "stop, and why"; and Backoff.

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/resilient-http/resilient/internal/body"
)

// loop sends the attempts of c, r being the first, until one ends the
// call. Each turn:
//
//  1. admit and send (attempt.go): the outcome is classified once, with
//     the wait its server asked for, and reported to the host's breaker;
//  2. decide whether to go again (decide, pure), after a retryable
//     failure or a refusal that a quick probe may soon lift;
//  3. spend one retry from the host's budget;
//  4. keep the failed response for the final error;
//  5. wait, on the Transport's clock, ending with the call's context;
//  6. rewind the body for the next attempt, and prepare a retry
//     (WithPrepareRetry).
//
// The outcome is left in c for finish (finish.go).
func (t *Transport) loop(c *call, r *http.Request) {
	for {
		c.attempt(r)
		var o Outcome
		if c.refused == nil {
			o = c.last.class
			if o != Retryable || c.last.stop != nil || c.ctx.Err() != nil {
				// Most calls end here, and need neither the deadline
				// nor a random draw.
				c.stop = c.last.stop // a Classifier's own error, if it gave one
				c.answered(o)
				return
			}
		}
		now := t.cfg.clock.Now()
		d := decide(c.retryPolicy(), c.last, c.facts(o), now, t.cfg.rand())
		if d.retry && !d.probe {
			if c.replay != nil && !c.replay.ready(c.ctx) {
				if c.ctx.Err() != nil {
					return
				}
				d = decision{stop: ErrBodyNotReplayable}
			} else if c.host.budget != nil && !c.host.budget.TryRetry(now.UnixNano(), budgetCause(c.last)) {
				d = decision{stop: ErrRetryBudgetExhausted}
			}
		}
		if !d.retry {
			c.stopped(d, now)
			return
		}
		if d.probe {
			c.probeWaited += d.wait
			t.tel.waitingForProbe(c, d.wait)
		} else {
			c.keep()
			t.tel.retrying(c, d.wait, reason(c.last))
			if t.events != nil {
				t.events.retrying(c, d.wait)
			}
		}
		if !t.cfg.clock.Sleep(c.ctx, d.wait) {
			c.stop = c.ctxStop()
			return
		}
		var err error
		if r, err = c.rewind(r); err != nil {
			c.last = result{err: err}
			return
		}
	}
}

// facts gathers what decide needs to know of c besides its latest
// outcome, whose class is o.
func (c *call) facts(o Outcome) facts {
	dl, _ := c.ctx.Deadline()
	f := facts{
		outcome:     o,
		attempts:    c.attempts - int(c.hedges),
		idempotent:  c.idempotent,
		replayable:  c.replayable || c.replay != nil, // a copy's readiness is known later (loop)
		deadline:    dl,
		refused:     c.refused,
		probeWaited: c.probeWaited,
	}
	if !c.skipBreaker {
		f.hostFailing = c.host.failing()
		f.probing = c.refused != nil && c.host.probingDegraded()
		f.probeInterval = c.t.cfg.breaker.ProbeInterval
	}
	return f
}

// answered tells the host's retry budget how long a call answered at its
// first attempt took: the latency that shows a queue building (budget). A
// call that waited for a probe first says nothing of the host's latency.
func (c *call) answered(o Outcome) {
	if o == Success && c.attempts == 1 && c.probeWaited == 0 && c.host.budget != nil {
		now := c.t.cfg.clock.Now().UnixNano()
		c.host.budget.Answered(now, now-c.begun)
	}
}

// stopped records why c stops going again, when something other than the
// outcome itself stopped it.
func (c *call) stopped(d decision, now time.Time) {
	if c.refused != nil {
		c.stop = c.refused
		return
	}
	if d.stop == errHostFailing {
		d.stop = c.host.openError(now, "")
	}
	if d.stop != nil {
		c.stop = d.stop
		c.t.tel.stopped(c, d.stop, d.retryAfter)
	}
}

// rewind returns the request of c's next attempt: a fresh copy of r (the
// transport may still be closing r's body) whose context carries the call
// (attemptCtx), so that AttemptFromContext finds the attempt's number, with the body sent
// again from GetBody or the replay copy, and, before a retry,
// WithPrepareRetry's changes.
func (c *call) rewind(r *http.Request) (*http.Request, error) {
	prepare := c.t.cfg.prepareRetry
	if c.attempts == 0 {
		prepare = nil // nothing was sent yet: not a retry
	}
	var next *http.Request
	if prepare != nil {
		next = r.Clone(c.attemptCtx()) // a header of its own, for prepare to change
	} else {
		next = r.WithContext(c.attemptCtx())
	}
	if b := c.req.Body; b != nil && b != http.NoBody {
		var err error
		if c.replay != nil {
			b, err = c.replay.rewind(c.ctx)
		} else if b, err = c.req.GetBody(); err != nil {
			err = fmt.Errorf("resilient: cannot send the request body again, GetBody failed: %w", err)
		}
		if err != nil {
			return nil, err
		}
		next.Body = b
	}
	if prepare != nil {
		c.preparing = true
		err := prepare(next)
		c.preparing = false
		if err != nil {
			if next.Body != nil {
				next.Body.Close()
			}
			return nil, &prepareRetryError{err}
		}
	}
	return next, nil
}

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

// serverWaitCap is the longest wait a server may ask for: MaxServerWait,
// or MaxWait when it is not set.
func (p *Retry) serverWaitCap() time.Duration {
	if p.MaxServerWait > 0 {
		return p.MaxServerWait
	}
	return p.MaxWait
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

	// For an attempt that admission refused (refused not nil):
	refused       *CircuitOpenError
	probeWaited   time.Duration // time waited for a probe so far
	probing       bool          // the breaker sends a degraded host's quick probes (probingDegraded)
	probeInterval time.Duration // Breaker.ProbeInterval
}

// decision is what decide concludes: go again after wait, or stop. stop
// says why retrying stopped early; it is nil when the outcome itself ends
// the call (success, a permanent failure, retries used up). probe is set
// when the attempt was refused and the wait is for the breaker's next
// probe: that attempt was never sent, so it spends no retry.
type decision struct {
	retry      bool
	probe      bool
	wait       time.Duration
	retryAfter time.Duration // what the server asked for, when it asked
	stop       error
}

// probeWaitLimit is the most that one call waits for probes in all: the
// sum of the backoff ceilings of Retry.Max retries, MinWait·(2^Max − 1),
// each at most MaxWait (700 ms with the defaults).
func probeWaitLimit(p *Retry) time.Duration {
	var sum time.Duration
	for n := range max(p.Max, 0) {
		sum += min(p.MaxWait, time.Duration(float64(p.MinWait)*math.Exp2(float64(min(n, 62)))))
	}
	return sum
}

// errHostFailing is decide's reason when the host's admission refuses
// calls; call.stopped turns it into the host's *CircuitOpenError.
var errHostFailing = errors.New("host failing")

// deadlineMargin is the least time left for an attempt after a wait: a
// retry that would start closer to the deadline than this is not made.
const deadlineMargin = 10 * time.Millisecond

// decide is the retry policy, a pure function of the latest outcome, the
// call's facts, the time and a random number in [0, 1) for the jitter. It
// retries a retryable outcome of a request that may be sent again (an
// idempotent one, or one the failure proves never reached the server),
// within Retry.Max, after the server's Retry-After or RateLimit delay or
// else a jittered backoff (Retry.Backoff's wait, when set, never shorter
// than the server's); it stops early, with a reason, when the request is
// not safe to send again (ErrNotIdempotent), when the server asks for
// longer than MaxServerWait (MaxWait by default), when the wait would
// leave no time before the deadline (ErrDeadline, whoever set the wait),
// when the body cannot be sent again, or when the host is failing. An attempt that admission refused goes again only to meet a
// quick probe (waitForProbe).
func decide(p *Retry, last result, f facts, now time.Time, rnd float64) decision {
	if f.refused != nil {
		return waitForProbe(p, f, now)
	}
	if f.outcome != Retryable || f.attempts > p.Max {
		return decision{}
	}
	if !f.idempotent && (last.err == nil || !neverSent(last.err)) {
		return decision{stop: ErrNotIdempotent}
	}
	if !f.replayable {
		return decision{stop: ErrBodyNotReplayable}
	}
	var d decision
	if last.asked {
		d.retryAfter, d.wait = last.retryAfter, last.retryAfter
		if d.wait > p.serverWaitCap() {
			d.stop = ErrRetryAfterTooLong
			return d
		}
	} else if p.Backoff == nil {
		d.wait = Backoff(f.attempts-1, p.MinWait, p.MaxWait, rnd)
	}
	if p.Backoff != nil {
		d.wait = max(d.wait, p.Backoff(f.attempts-1, last.resp, rnd)) // never shorter than the server's ask
	}
	if !f.deadline.IsZero() && !now.Add(d.wait+deadlineMargin).Before(f.deadline) {
		// Even when the server asked for the wait: the deadline, not
		// the server, stops the call.
		d.stop = ErrDeadline
		return d
	}
	if f.hostFailing {
		d.stop = errHostFailing
		return d
	}
	d.retry = true
	return d
}

// waitForProbe is decide's verdict on an attempt that admission refused:
// wait and go again, or stop with the refusal. It waits only while the
// breaker of a host that was already failing some calls sends its quick
// probes, one per ProbeInterval (fastProbes, breaker.go: such a host is
// likely to answer again within them): until the hold ends, or one
// ProbeInterval while another call's probe is in flight, each wait no
// longer than Retry.MinWait; and in all no longer than the backoffs of
// Retry.Max retries could take (probeWaitLimit), as a retrier without a
// breaker would wait. The refused attempt was never sent, so this is safe
// for any method whose body can be sent again; it sends nothing that
// admission does not let through, so the host sees no more load; and it
// is bounded by the call's deadline. Otherwise a refused call fails in
// microseconds: when a healthy host goes down, once the quick probes are
// spent, and for a Retry-After or a ramp-up. In the flapping scenario
// (bench/SCENARIOS.md), a call refused while the host is down so
// succeeds once it is up.
func waitForProbe(p *Retry, f facts, now time.Time) decision {
	e := f.refused
	stop := decision{stop: e}
	if !f.replayable || !f.probing || f.probeInterval > p.MinWait {
		return stop
	}
	var d time.Duration
	switch {
	case e.State == BreakerHalfOpen:
		d = f.probeInterval
	case e.State == BreakerOpen && !e.Until.IsZero():
		d = max(0, e.Until.Sub(now))
		if d > min(2*f.probeInterval, p.MinWait) {
			return stop
		}
	default:
		return stop
	}
	if f.probeWaited+d > probeWaitLimit(p) {
		return stop
	}
	if !f.deadline.IsZero() && !now.Add(d+deadlineMargin).Before(f.deadline) {
		return stop
	}
	return decision{retry: true, probe: true, wait: d}
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
	return body.StatusLine(last.resp.Status, last.resp.StatusCode, maxStatus)
}
