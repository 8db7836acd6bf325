package resilient

// This file holds the classification hook: Classifier, WithClassifier, and
// how the hook's answer reaches the retry decision (the result's class and
// stop, which loop reads) and the breaker (hookVerdict), with the response
// body given back intact after the hook read it.

import (
	"io"
	"net/http"

	"github.com/resilient-http/resilient/internal/body"
)

// Classifier classifies one attempt's outcome: req is the attempt's
// request, resp its response, or err the error that came instead (err
// takes precedence). Classify is the default, and a Classifier usually
// calls it for what it does not change:
//
//	func(req *http.Request, resp *http.Response, err error) (resilient.Outcome, error) {
//		if resp != nil && resp.StatusCode == http.StatusConflict {
//			return resilient.Retryable, nil
//		}
//		return resilient.Classify(resp, err), nil
//	}
//
// A Classifier may also end the call with an error of its own, by
// returning it: the call is not retried, whatever the Outcome says, and
// fails with that error as its Stop, so errors.Is finds it. A response of
// any status then becomes a *StatusError (a 200 whose body says "quota
// exceeded", a 401 whose token cannot be refreshed), with its status and
// body; without a response, the error is a *TransportError. The Outcome
// still serves the breaker and a hedged call's race.
//
// req is not the Classifier's to change. Its Context is the one the
// attempt was sent with: it carries the caller's values and deadline, and
// AttemptFromContext(req.Context()) says which attempt this was. For the
// method or URL of a call that got a response, resp.Request is the same
// request.
//
// A Classifier may read resp.Body: it then reads at most the client's
// error body limit (WithErrorBodyLimit, 64 KiB by default; past it the body
// ends early), and what it read is given back in front of the rest, so the
// caller's response and the *StatusError see the whole body. Closing it
// does nothing. It must not keep resp or its body, since reading a body
// waits for the server: read only what the status says is worth reading.
// It is called once per attempt sent, when its outcome comes back, and its
// answer serves the retry decision, the breaker and a hedged call's race:
// from the call's goroutine or, for a hedged call, from its attempts'
// goroutines at once, never twice on one response; it must be quick and
// safe for concurrent use.
type Classifier func(req *http.Request, resp *http.Response, err error) (Outcome, error)

// WithClassifier makes the client classify outcomes with f instead of
// Classify, to retry more outcomes (a 409 whose body says "try again", an
// error of your own) or fewer, or to end a call with an error of your own.
// The retry decision follows f. So does the breaker, where f disagrees
// with Classify: an outcome that f makes Retryable counts against the
// host, one that f makes Success or Permanent does not; where f agrees,
// the breaker counts as usual (a 429 is retryable but does not count
// against the host; see Breaker). The errors stay as they are, but for
// f's own: a final 409 comes back as a response, a final 503 as a
// *StatusError, and IsRetryable keeps using Classify. A nil f keeps
// Classify.
func WithClassifier(f Classifier) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.classify = f
		}
	})
}

// classify classifies one attempt's outcome, r being its request, with
// the client's Classifier if it has one: the class, and the Classifier's
// own error that ends the call, if it gave one.
func (c *call) classify(r *http.Request, resp *http.Response, err error) (Outcome, error) {
	if f := c.t.cfg.classify; f != nil {
		return c.t.classifyWith(f, r, resp, err)
	}
	return Classify(resp, err), nil
}

// hookVerdict is the breaker's verdict on an attempt when the client has a
// Classifier and its class got disagrees with Classify: errFailure when it
// makes the outcome Retryable, nil (success) when it makes it anything
// else. changed is false when the hook agrees, or for the caller's own
// cancellation, which never counts: verdict then decides as without a
// hook.
func (c *call) hookVerdict(got Outcome, resp *http.Response, err error) (v error, changed bool) {
	if err != nil && c.ctx.Err() != nil {
		return nil, false
	}
	if got == Classify(resp, err) {
		return nil, false
	}
	if got == Retryable {
		return errFailure, true
	}
	return nil, true
}

// classifyWith calls f on an outcome. While f runs, resp.Body is a
// peekBody bounded by the error body limit; what f read is put back in
// front of the rest of the body afterwards.
func (t *Transport) classifyWith(f Classifier, r *http.Request, resp *http.Response, err error) (Outcome, error) {
	if err != nil || resp == nil || resp.Body == nil || resp.Body == http.NoBody {
		return f(r, resp, err)
	}
	orig := resp.Body
	p := &peekBody{r: orig, left: t.cfg.bodyLimit}
	resp.Body = p
	out, stop := f(r, resp, err)
	resp.Body = orig
	if len(p.read) > 0 {
		resp.Body = body.Replay(p.read, orig)
	}
	return out, stop
}

// peekBody is the body a Classifier sees: it records what is read, up to
// left bytes, and cannot be closed.
type peekBody struct {
	r    io.Reader
	read []byte
	left int64
}

func (p *peekBody) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.read = append(p.read, b[:n]...)
	p.left -= int64(n)
	return n, err
}

func (p *peekBody) Close() error { return nil }
