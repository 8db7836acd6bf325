package resilient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/resilient-http/resilient/internal/body"
	"github.com/resilient-http/resilient/internal/headers"
	"github.com/resilient-http/resilient/internal/redact"
)

// call is the state of one logical request, shared by the hooks that
// go-retryablehttp calls (which see only the context) and by the attempt
// transport. It is itself the context of every attempt: embedding the
// caller's context and answering Value(callKey{}) with itself saves an
// allocation per request.
type call struct {
	context.Context // the caller's, plus the logical span when traced

	t            *Transport
	req          *http.Request // the caller's request; never modified
	rr           retryablehttp.Request
	method       string
	host         *host
	idempotent   bool
	replayable   bool
	instrumented bool
	span         trace.Span // logical span, nil when not instrumented

	primed     *outcome          // the first attempt's outcome, replayed into go-retryablehttp's loop
	attempts   int               // attempts sent to the network
	refused    *CircuitOpenError // the breaker refused the latest attempt
	last       *failure          // the latest retryable failure with a response
	lastErr    error             // the latest attempt's error, when it had no response
	retryAfter time.Duration     // what the server asked for, last time it asked
	stop       error             // why retrying stopped early, if it did
	redacted   string            // cached redacted URL
}

// outcome is one attempt's result.
type outcome struct {
	resp *http.Response
	err  error
}

// failure is a failed response kept for the final error after its body was
// read (bounded) and its connection freed.
type failure struct {
	resp      *http.Response
	body      []byte
	truncated bool
}

type callKey struct{}

// Value answers callKey with the call itself.
func (c *call) Value(key any) any {
	if _, ok := key.(callKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// callFrom returns the call that ctx belongs to, or nil.
func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// url returns the request URL, redacted, computed once.
func (c *call) url() string {
	if c.redacted == "" {
		c.redacted = c.t.redactor.URL(c.req.URL)
	}
	return c.redacted
}

// traceID returns the W3C trace ID of the call's trace, or "".
func (c *call) traceID() string {
	sc := trace.SpanContextFromContext(c.Context)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// keep records a retryable failed response for the final error: its body up
// to the limit is read, the rest drained (bounded) so that the connection
// returns to the pool, and resp.Body replaced by an empty body.
func (c *call) keep(resp *http.Response) {
	if resp == nil {
		return
	}
	b, truncated, _ := body.Keep(resp.Body, resp.ContentLength, c.t.cfg.bodyLimit, drainLimit, bodyReadTimeout)
	resp.Body = http.NoBody
	c.last = &failure{resp: resp, body: b, truncated: truncated}
}

// Bounds on reading bodies that are not the caller's.
const (
	// maxStatus bounds the status line kept in a *StatusError.
	maxStatus = 80
	// drainLimit is how much of a failed response is read, beyond what is
	// kept, to keep its connection; longer bodies cost the connection.
	drainLimit = 256 << 10
	// bodyReadTimeout abandons an error body whose server stops sending.
	bodyReadTimeout = 5 * time.Second
)

// statusError builds the *StatusError for f.
func (c *call) statusError(f *failure, stop error) *StatusError {
	resp := f.resp
	e := &StatusError{
		StatusCode: resp.StatusCode,
		Status:     body.Excerpt([]byte(resp.Status), maxStatus), // a server's words: cleaned and bounded
		Method:     c.method,
		URL:        c.url(),
		Header:     redact.StripHeader(resp.Header), // the response is ours to discard
		Body:       f.body,
		Truncated:  f.truncated,
		TraceID:    c.traceID(),
		RequestID:  headers.RequestID(resp.Header),
		Attempts:   c.attempts,
		Err:        stop,
	}
	if d, ok := headers.ServerDelay(resp.Header, time.Now()); ok {
		e.RetryAfter = d
	}
	if e.Status == "" {
		e.Status = http.StatusText(resp.StatusCode)
	}
	e.Problem = parseProblem(resp.Header.Get("Content-Type"), f.body)
	return e
}

// attempt is the transport go-retryablehttp's inner client sends each
// attempt through: the breaker decides, the attempt is counted and bounded
// in time, and the outcome is reported to the breaker. It deliberately has
// no CloseIdleConnections method, so that go-retryablehttp's call to it
// after every failure does not empty the connection pool.
type attempt struct{ t *Transport }

func (a attempt) RoundTrip(r *http.Request) (*http.Response, error) {
	c := callFrom(r.Context())
	if c == nil {
		return nil, errors.New("resilient: attempt without a call context")
	}
	if p := c.primed; p != nil {
		// go-retryablehttp's first iteration: replay the outcome of the
		// attempt RoundTrip already made, and drop the body it rewound.
		c.primed = nil
		if r.Body != nil {
			r.Body.Close()
		}
		return p.resp, p.err
	}
	t := a.t
	h := c.host
	c.refused = nil
	var done func(error)
	if h.cb != nil {
		// While open, refuse without taking gobreaker's lock: under load,
		// refused calls would otherwise queue on it.
		if h.openNow() {
			return nil, c.refuse(r, h.openError(nil))
		}
		d, err := h.cb.Allow()
		if err != nil {
			return nil, c.refuse(r, h.openError(err))
		}
		done = d
	}
	c.attempts++
	next := t.base
	if c.instrumented {
		next = t.traced
	}
	var resp *http.Response
	var err error
	if t.ctxTimeout > 0 {
		resp, err = roundTripWithTimeout(next, r, t.ctxTimeout)
	} else {
		resp, err = next.RoundTrip(r)
		if err != nil && t.headerTimeout > 0 && strings.Contains(err.Error(), "timeout awaiting response headers") {
			err = &attemptTimeoutError{d: t.headerTimeout, cause: err}
		}
	}
	if done != nil {
		done(verdict(c, resp, err))
	}
	if err != nil && !c.instrumented {
		err = c.scrubErr(err) // decorate does it below otelhttp when traced
	}
	c.lastErr = err
	return resp, err
}

// refuse records and reports a breaker refusal. The attempt's body is
// closed unsent, as http.RoundTripper requires.
func (c *call) refuse(r *http.Request, e *CircuitOpenError) error {
	if r.Body != nil {
		r.Body.Close()
	}
	c.refused = e
	c.t.tel.refused(c, c, e)
	return e
}

// verdict is what an attempt's outcome tells the breaker: errFailure for a
// retryable failure of the server or the network, errExcluded for the
// caller's own cancellation, nil (success) for anything else, 4xx included.
func verdict(c *call, resp *http.Response, err error) error {
	if err != nil {
		if c.Context.Err() != nil {
			return errExcluded
		}
		if classifyErr(err) == Retryable {
			return errFailure
		}
		return nil
	}
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return errFailure
	}
	return nil
}

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
