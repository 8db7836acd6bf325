package resilient

// This file holds the timeouts: the attempt timeout (Retry.AttemptTimeout),
// how an attempt that gets no response headers in time is abandoned and
// the error it then returns, and the body wrapper that ends WithTimeout's
// deadline when the caller is done. With New's own transport the timeout is the
// transport's ResponseHeaderTimeout and costs nothing per request; with a
// base transport of the caller's it is a context canceled by a timer.

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

// roundTripWithTimeout bounds one attempt until its response headers by
// canceling its context; the context lives on until the body is closed. It
// serves base transports that are not an *http.Transport of ours, whose
// ResponseHeaderTimeout does the same at no cost.
func roundTripWithTimeout(next http.RoundTripper, r *http.Request, d time.Duration) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(r.Context())
	timer := time.AfterFunc(d, func() { cancel(ErrAttemptTimeout) })
	resp, err := next.RoundTrip(r.WithContext(ctx))
	timer.Stop()
	if err != nil {
		if context.Cause(ctx) == ErrAttemptTimeout && r.Context().Err() == nil {
			err = &attemptTimeoutError{d: d, cause: err}
		}
		cancel(nil)
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// cancelBody ends a call's WithTimeout deadline when the caller closes the
// response body.
type cancelBody struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
