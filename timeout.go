package resilient

// This file holds the attempt timeout (Retry.AttemptTimeout): how an
// attempt that gets no response headers in time is abandoned, and the
// error it then returns; and the body wrapper that ends WithTimeout's
// deadline when the caller is done. With New's own transport the timeout
// is the transport's ResponseHeaderTimeout and costs nothing per request;
// with a base transport of the caller's it is a context per attempt,
// canceled by a timer on the Transport's clock.

import (
	"context"
	"io"
	"net/http"
	"time"
)

// attemptTimeoutError reports an attempt that got no response headers in
// time. It matches ErrAttemptTimeout and is a net.Error timeout.
type attemptTimeoutError struct {
	d     time.Duration
	cause error
}

func (e *attemptTimeoutError) Error() string {
	return "resilient: no response headers within the attempt timeout of " + e.d.String()
}
func (e *attemptTimeoutError) Unwrap() error        { return e.cause }
func (e *attemptTimeoutError) Is(target error) bool { return target == ErrAttemptTimeout }
func (e *attemptTimeoutError) Timeout() bool        { return true }
func (e *attemptTimeoutError) Temporary() bool      { return true }

// roundTripWithTimeout sends r through next, canceling its context once
// the attempt timeout has passed without response headers. It serves
// base transports that are not an *http.Transport of ours, whose
// ResponseHeaderTimeout does the same at no cost. The attempt's context
// lives until the response body is closed, so that reading the body
// still follows the caller's context.
func (t *Transport) roundTripWithTimeout(next http.RoundTripper, r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(r.Context())
	timer := t.cfg.clock.AfterFunc(t.ctxTimeout, cancel)
	resp, err := next.RoundTrip(r.WithContext(ctx))
	expired := !timer.Stop()
	if err != nil {
		cancel()
		if expired && r.Context().Err() == nil {
			err = &attemptTimeoutError{d: t.ctxTimeout, cause: err}
		}
		return nil, err
	}
	if r.Context().Done() != nil {
		// The context follows the caller's until the body is closed; one
		// that cannot end holds nothing to release.
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	}
	return resp, nil
}

// cancelBody ends a context (an attempt's, or WithTimeout's deadline)
// when the caller closes the response body.
type cancelBody struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
