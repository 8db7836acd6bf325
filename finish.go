package resilient

// This file holds the end of a call: finish shapes its outcome into what
// RoundTrip returns (a response, a *StatusError, a *TransportError or a
// *CircuitOpenError), and statusError builds the *StatusError.

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/resilient-http/resilient/internal/body"
	"github.com/resilient-http/resilient/internal/headers"
	"github.com/resilient-http/resilient/internal/redact"
)

// finish shapes the call's outcome:
//   - refused before any attempt: the *CircuitOpenError;
//   - the last attempt failed without a response: a *TransportError, or,
//     when the call's context ended it after a failed response, a
//     *StatusError for that response;
//   - a final 5xx or 429, or any response that the Classifier ended the
//     call on with an error of its own: a *StatusError;
//   - anything else: the response, as the server sent it.
//
// c.stop, why retrying stopped early, goes into the error.
func (t *Transport) finish(c *call) (*http.Response, error) {
	last := c.last
	if c.stop == nil && c.ctx.Err() != nil && (last.err != nil || c.failed != nil) {
		c.stop = c.ctxStop()
	}
	switch {
	case c.attempts == 0:
		e := c.refused
		e.TraceID = c.traceID()
		e.Elapsed = c.elapsed()
		return t.fail(c, 0, e)
	case last.err != nil:
		if c.failed != nil && c.ctx.Err() != nil && errors.Is(last.err, c.ctx.Err()) {
			// A retry was cut short by the caller's deadline: the
			// failure before it says more than "canceled".
			se := c.statusError(c.failed, c.stop)
			return t.fail(c, se.StatusCode, se)
		}
		return t.fail(c, 0, &TransportError{Method: c.method, URL: c.url(), Attempts: c.attempts,
			TraceID: c.traceID(), Err: last.err, Elapsed: c.elapsed(), Stop: c.stop})
	}
	resp := last.resp
	// The caller sees its own request, and its own context, on the response.
	resp.Request = c.req
	f := c.failed
	kept := f != nil && f.resp == resp
	if (resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests || t.cfg.passThrough) && last.stop == nil {
		if kept {
			// Read while the call decided to retry, then the retry did
			// not happen: give back what was kept.
			resp.Body = body.Replay(f.body, http.NoBody)
		}
		if c.cancel != nil {
			// WithTimeout's deadline bounds reading the body too.
			resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: c.cancel}
		}
		t.tel.endCall(c, resp.StatusCode, nil)
		return resp, nil
	}
	if !kept {
		f = t.keepFailure(last)
	}
	se := c.statusError(f, c.stop)
	return t.fail(c, se.StatusCode, se)
}

// elapsed is how long c has taken so far, on the Transport's clock.
func (c *call) elapsed() time.Duration {
	return time.Duration(c.t.cfg.clock.Now().UnixNano() - c.begun)
}

// ctxStop is why c stopped when its context ended: errDeadlinePassed,
// which matches ErrDeadline too, when its deadline passed; else the
// context's error.
func (c *call) ctxStop() error {
	err := c.ctx.Err()
	if err == context.DeadlineExceeded {
		return errDeadlinePassed
	}
	return err
}

// fail records a call's final error and returns it.
func (t *Transport) fail(c *call, status int, err error) (*http.Response, error) {
	t.tel.failed(c, status, err)
	t.tel.endCall(c, status, err)
	if c.cancel != nil {
		c.cancel()
	}
	return nil, err
}

// statusError builds the *StatusError for f.
func (c *call) statusError(f *failure, stop error) *StatusError {
	resp := f.resp
	e := &StatusError{
		StatusCode: resp.StatusCode,
		Status:     body.ExcerptString(resp.Status, maxStatus), // a server's words: cleaned and bounded
		Method:     c.method,
		URL:        c.url(),
		Header:     redact.StripHeader(resp.Header), // the response is ours to discard
		Body:       f.body,
		Truncated:  f.truncated,
		TraceID:    c.traceID(),
		RequestID:  headers.RequestID(resp.Header),
		Attempts:   c.attempts,
		Elapsed:    c.elapsed(),
		Stop:       stop,
	}
	if f.asked {
		e.RetryAfter = f.retryAfter
	}
	if e.Status == "" {
		e.Status = http.StatusText(resp.StatusCode)
	}
	e.Problem = parseProblem(resp.Header.Get("Content-Type"), f.body)
	return e
}
