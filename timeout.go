package resilient

// This file holds the attempt timeout (Retry.AttemptTimeout): how an
// attempt that gets no response headers in time is abandoned, how it is
// recognised, and the error it then returns; and the body wrapper that
// ends a context (an attempt's, WithTimeout's) when the caller is done. With New's own transport the timeout
// is the transport's ResponseHeaderTimeout and costs nothing per request;
// with a base transport of the caller's it is a context per attempt,
// canceled by a timer on the Transport's clock.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
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

// headerTimedOut reports whether err, which an *http.Transport returned
// for r, is its ResponseHeaderTimeout firing: a timeout while r's context
// is still live (neither the caller's deadline nor its cancellation), and
// not the connection's own (a dial, read or write deadline is a
// *net.OpError). Over HTTP/1, net/http's error for it is known by type:
// the only such error that matches context.DeadlineExceeded. Over HTTP/2
// net/http allows no better than its text: the error has neither an
// exported type nor a sentinel, and nothing else tells it from the TLS
// handshake timeout (TLSHandshakeTimeout), whose error is as bare, so
// "http2: timeout awaiting response headers" is matched there, and there
// only. timeout_test.go fails if net/http changes either.
func headerTimedOut(r *http.Request, err error) bool {
	if r.Context().Err() != nil {
		return false
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true // HTTP/1: net/http's timeoutError
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout() && strings.HasSuffix(err.Error(), "http2: timeout awaiting response headers")
}

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

// cancelBody ends a context when the caller closes the response body: an
// attempt's (its timeout's, or a hedged winner's, hedge.go), or
// WithTimeout's deadline (finish.go). The context must outlive RoundTrip
// while the body is read.
type cancelBody struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
