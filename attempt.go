package resilient

// This file holds one attempt: admission decides whether it may go, it is
// sent (through otelhttp when traced), bounded in time, its outcome is
// reported to admission and recorded as the call's latest result.

import (
	"errors"
	"net/http"
	"strings"

	"github.com/resilient-http/resilient/internal/headers"
)

// attempt sends one attempt of c. r is the request to send: the caller's
// with the call as context for the first attempt, go-retryablehttp's
// rewound copy for the others. A refused attempt is not sent: its body is
// closed, as http.RoundTripper requires, and the refusal returned.
func (c *call) attempt(r *http.Request) (*http.Response, error) {
	if !c.t.cfg.hooks.prepareRetry(c, &r) { // retryablehttp hooks
		return nil, c.last.err
	}
	if c.hedge != nil {
		return c.hedged(r) // hedge.go
	}
	done, refusal := c.admit()
	if refusal != nil {
		return c.refuse(r, refusal)
	}
	c.refused = nil
	c.attempts++
	resp, o, err := c.sendAdmitted(r, done, nil)
	c.last = classified(resp, err, o)
	return resp, err
}

// refuse ends an attempt that admission refused: its body is closed, as
// http.RoundTripper requires, and the refusal recorded and returned.
func (c *call) refuse(r *http.Request, refusal *CircuitOpenError) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	c.refused = refusal
	c.t.tel.refused(c, c, refusal)
	return nil, refusal
}

// sendAdmitted sends an admitted attempt, classifies its outcome (once:
// the retry decision, the breaker and a hedged race all use this class)
// and reports it to admission. An attempt of a hedged group that was
// canceled because another won is reported as neither success nor
// failure.
func (c *call) sendAdmitted(r *http.Request, done func(error), rn *run) (*http.Response, Outcome, error) {
	t, h := c.t, c.host
	resp, err := t.send(c, r)
	o := c.classify(resp, err)
	if done != nil {
		v := verdict(c, resp, err, o)
		if err != nil && rn != nil && rn.lost() {
			v = errExcluded
		}
		if v == errFailure && resp != nil {
			if d, ok := headers.ServerDelay(resp.Header, t.cfg.clock.Now()); ok {
				h.noteServerWait(d)
			}
		}
		h.observe(v)
		done(v)
	}
	return resp, o, err
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
	next = t.cfg.hooks.transport(c, r, next) // retryablehttp hooks
	var resp *http.Response
	var err error
	if t.ctxTimeout > 0 {
		resp, err = t.roundTripWithTimeout(c, next, r)
	} else {
		resp, err = next.RoundTrip(r)
		if err != nil && t.headerTimeout > 0 && strings.Contains(err.Error(), "timeout awaiting response headers") {
			err = &attemptTimeoutError{d: t.headerTimeout, cause: err}
		}
	}
	if err != nil && !c.instrumented {
		err = c.scrubErr(r, err) // decorate does it below otelhttp when traced
	}
	return resp, err
}

// attemptTransport is the transport of go-retryablehttp's inner client:
// every retry goes through it to the call's attempt. It deliberately has
// no CloseIdleConnections method, so that go-retryablehttp's call to it
// after every failed call does not empty the connection pool.
type attemptTransport struct{}

func (attemptTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c := callFrom(r.Context())
	if c == nil {
		return nil, errors.New("resilient: attempt without a call context")
	}
	return c.attempt(r)
}
