package resilient

// This file holds one attempt: admission decides whether it may go; it is
// sent (through otelhttp when traced), bounded by the attempt timeout; its
// outcome is classified once, with the wait its server asked for, and
// reported to admission.

import (
	"context"
	"net/http"
	"time"

	"github.com/resilient-http/resilient/internal/headers"
)

// attempt sends one attempt of c, r being the request to send, and records
// its outcome in c.last; a hedged call races several instead (hedge.go),
// once admitted here like any other. A refused attempt is not sent: its
// body is closed, as http.RoundTripper requires, and the refusal recorded
// in c.refused.
func (c *call) attempt(r *http.Request) {
	done, refusal := c.admit()
	if refusal != nil {
		c.refuse(r, refusal)
		return
	}
	c.refused = nil
	if c.hedge != nil {
		c.hedged(r, done) // hedge.go
		return
	}
	c.sendOne(r, done)
}

// sendOne sends an admitted attempt alone, done being its admission's
// report, and records its outcome in c.last.
func (c *call) sendOne(r *http.Request, done func(error)) {
	c.attempts++
	c.last = c.sendAdmitted(c.watch(r), done, nil)
}

// refuse ends an attempt that admission refused: its body is closed, as
// http.RoundTripper requires, and the refusal recorded.
func (c *call) refuse(r *http.Request, refusal *CircuitOpenError) {
	if r.Body != nil {
		r.Body.Close()
	}
	c.refused = refusal
	c.t.tel.refused(c, refusal)
}

// sendAdmitted sends an admitted attempt and returns its result: the
// outcome classified once (the retry decision, the breaker and a hedged
// race all use this class), with the wait its server asked for, which is
// reported to admission before the outcome, so that an open it causes
// holds that long. An attempt of a hedged group that was canceled
// because another won is reported as neither success nor failure. A
// failure counted against the host retires the attempt's connection
// (conns.go), breakers or not.
func (c *call) sendAdmitted(r *http.Request, done func(error), rn *run) result {
	t := c.t
	resp, err := t.send(c, r)
	o, stop := c.classify(r, resp, err)
	res := result{resp: resp, err: err, class: o, stop: stop}
	if resp != nil && (o != Success || resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests) {
		res.retryAfter, res.asked = headers.ServerDelay(resp.Header, t.cfg.clock.Now())
	}
	var v error
	if done != nil || o != Success {
		v = verdict(c, resp, err, o)
		if err != nil && rn != nil && rn.lost() {
			v = errExcluded
		}
	}
	if done != nil {
		if v == errFailure {
			// What this failure asked for, 0 if nothing: an open holds
			// for the wait of the failure that opened it, not for one an
			// earlier failure asked (a flaky host's 503 with Retry-After
			// would otherwise hold an outage of plain 500s "as the server
			// asked").
			var asked time.Duration
			if res.asked {
				asked = res.retryAfter
			}
			c.host.noteServerWait(asked)
		}
		c.host.observe(v)
		done(v)
	}
	if v == errFailure {
		w := c.conns
		if rn != nil {
			w = rn.conns
		}
		c.retire(w, &res)
	}
	return res
}

// admit asks the host's admission whether an attempt of c may go (see
// host.admit); a call whose Policy skips the breaker is always admitted,
// and reports nothing.
func (c *call) admit() (done func(error), refusal *CircuitOpenError) {
	if c.skipBreaker {
		return nil, nil
	}
	return c.host.admit()
}

// send puts one attempt on the network: through otelhttp when the call is
// traced, bounded by the attempt timeout, with secrets scrubbed from its
// error.
func (t *Transport) send(c *call, r *http.Request) (*http.Response, error) {
	next := t.base
	if c.instrumented {
		next = t.traced
	}
	var resp *http.Response
	var err error
	if t.ctxTimeout > 0 {
		resp, err = t.roundTripWithTimeout(next, r)
	} else {
		resp, err = next.RoundTrip(r)
		if err != nil && t.headerTimeout > 0 && headerTimedOut(r, err) {
			err = &attemptTimeoutError{d: t.headerTimeout, cause: err}
		}
	}
	if err != nil && !c.instrumented {
		err = c.scrubErr(r, err) // decorate does it below otelhttp when traced
	}
	return resp, err
}

// AttemptFromContext returns the number of the attempt whose request
// carries ctx: 1 for the first, 2 for the first retry, and so on, hedges
// counted. A base transport (see NewTransport) or a Classifier calls it
// with its request's context, to log or tag which attempt it sees:
//
//	n := resilient.AttemptFromContext(req.Context())
//
// The number holds while the attempt is prepared (WithPrepareRetry), sent
// and classified; a context kept after that may answer for a later
// attempt of the same call. A context that no retry carries, the first
// attempt's included (it may be the caller's own), gives 1. It costs a
// context lookup.
func AttemptFromContext(ctx context.Context) int {
	c := callFrom(ctx)
	if c == nil {
		return 1
	}
	if c.hedge != nil {
		if a, ok := ctx.Value(attemptKey{}).(*hedgeRunCtx); ok {
			return a.n // an attempt of a hedged group, on its own goroutine
		}
	}
	if c.preparing {
		return c.attempts + 1 // the retry that is not sent yet
	}
	return max(c.attempts, 1)
}
