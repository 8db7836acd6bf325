package resilient

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"io"

	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/resilient-http/resilient/internal/body"
	"github.com/resilient-http/resilient/internal/redact"
)

// New returns an *http.Client whose transport is NewTransport(nil, opts...):
// a clone of http.DefaultTransport wrapped in retries, per-host circuit
// breakers, a retry budget and tracing. Its Timeout is WithTimeout's value,
// zero by default. It is safe for concurrent use, like any *http.Client, and
// can replace http.DefaultClient:
//
//	http.DefaultClient = resilient.New()
//
// Its Do returns, inside the usual *url.Error, a *StatusError for a final
// 5xx or 429 response, a *TransportError when the last attempt got no
// response, or a *CircuitOpenError when the host's breaker refused the call.
func New(opts ...Option) *http.Client {
	t := NewTransport(nil, opts...).(*Transport)
	return &http.Client{Transport: t, Timeout: t.cfg.timeout}
}

// Transport is the http.RoundTripper returned by NewTransport. It is safe
// for concurrent use. Most callers use New and never see it; those who
// build their own *http.Client use NewTransport.
type Transport struct {
	cfg      *config
	base     http.RoundTripper // the network
	traced   http.RoundTripper // otelhttp around decorate around base
	ownBase  bool              // base is our clone of http.DefaultTransport
	rc       *retryablehttp.Client
	hosts    *registry
	tel      *telemetry
	redactor *redact.Redactor

	headerTimeout time.Duration // enforced by our base's ResponseHeaderTimeout
	ctxTimeout    time.Duration // enforced per attempt through the context

	closed      atomic.Bool
	unsubscribe func()
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport that sends requests through base with
// the resilience of New. A nil base means a clone of http.DefaultTransport
// with MaxIdleConnsPerHost raised to 100 (retries and concurrent calls to
// one host would otherwise churn connections) and ResponseHeaderTimeout set
// to Retry.AttemptTimeout, which then costs nothing per request. With a
// base of yours, Retry.AttemptTimeout is enforced by canceling each
// attempt's context (about six allocations per attempt), unless base is an
// *http.Transport whose ResponseHeaderTimeout is set, which then serves as
// the attempt timeout. WithTimeout is ignored: the caller's client owns the
// total timeout.
func NewTransport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	cfg := newConfig(opts)
	t := &Transport{cfg: cfg, redactor: redact.New(cfg.secrets...)}
	if d := cfg.retry.AttemptTimeout; d > 0 {
		t.ctxTimeout = d
	}
	if base == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 100
		if t.ctxTimeout > 0 {
			tr.ResponseHeaderTimeout = t.ctxTimeout
			t.headerTimeout, t.ctxTimeout = t.ctxTimeout, 0
		}
		base, t.ownBase = tr, true
	} else if tr, ok := base.(*http.Transport); ok && tr.ResponseHeaderTimeout > 0 && t.ctxTimeout > 0 {
		// The caller's transport already bounds the wait for headers: use
		// it, rather than a context per attempt (six allocations).
		t.headerTimeout, t.ctxTimeout = tr.ResponseHeaderTimeout, 0
	}
	t.base = base
	t.tel = newTelemetry(cfg)
	oo := t.tel.httpOptions()
	if cfg.tp != nil {
		oo = append(oo, otelhttp.WithTracerProvider(cfg.tp))
	}
	if cfg.mp != nil {
		oo = append(oo, otelhttp.WithMeterProvider(cfg.mp))
	}
	t.traced = otelhttp.NewTransport(decorate{base}, oo...)
	t.hosts = newRegistry(t)
	retries := cfg.retry.Max
	if retries < 0 {
		retries = 0
	}
	t.rc = &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: attempt{t},
			// Redirects are followed once, by the caller's client.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Logger:       nil, // its default logger writes to stderr
		RetryMax:     math.MaxInt32,
		CheckRetry:   t.checkRetry,
		Backoff:      func(time.Duration, time.Duration, int, *http.Response) time.Duration { return 0 },
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	if cfg.store != nil {
		t.unsubscribe = cfg.store.Subscribe(t.remoteEvent)
	}
	return t
}

// RoundTrip sends req with retries, as New describes. It never modifies req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.validate(req); err != nil {
		if req != nil && req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	now := time.Now()
	c := &call{
		Context:    req.Context(),
		t:          t,
		req:        req,
		method:     req.Method,
		host:       t.hosts.get(keyOf(req.URL), now),
		idempotent: IsIdempotent(req),
		replayable: true,
	}
	if c.method == "" {
		c.method = http.MethodGet
	}
	if c.host.budget != nil {
		c.host.budget.Call(now.UnixNano())
	}
	if t.tel.instrumented(c.Context) {
		c.instrumented = true
		c.Context, c.span = t.tel.startCall(c.Context, c)
	}

	r := req.WithContext(c)
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		// Not replayable: sent once, as is, and never retried.
		c.replayable = false
	}

	// The first attempt goes straight to the attempt transport: a call that
	// succeeds (or fails for good) at once never enters go-retryablehttp,
	// whose inner *http.Client costs three allocations per attempt
	// (net/http clones the header and URL for its redirect logic). Its loop
	// takes over after a retryable failure, starting from that outcome.
	resp, err := attempt{t}.RoundTrip(r)
	if c.refused != nil || Classify(resp, err) != Retryable || t.cfg.retry.Max <= 0 || !c.replayable {
		return t.finish(c, resp, err)
	}
	return t.retry(c, r, resp, err)
}

// retry hands a call whose first attempt failed in a retryable way to
// go-retryablehttp's loop, which begins by asking checkRetry about that
// first outcome (replayed by the attempt transport) and goes on from there.
func (t *Transport) retry(c *call, r *http.Request, resp *http.Response, err error) (*http.Response, error) {
	// A fresh shallow copy: the first attempt's transport may still be
	// closing r.Body in the background.
	rc := *r
	c.rr.Request = &rc
	if getBody := c.req.GetBody; getBody != nil && c.req.Body != nil && c.req.Body != http.NoBody {
		if serr := c.rr.SetBody(retryablehttp.ReaderFunc(func() (io.Reader, error) { return getBody() })); serr != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return t.finish(c, nil, fmt.Errorf("resilient: cannot replay the request body, GetBody failed: %w", serr))
		}
		rc.ContentLength = c.req.ContentLength // SetBody guesses it from the reader
	}
	c.primed = &outcome{resp: resp, err: err}
	resp, err = t.rc.Do(&c.rr)
	return t.finish(c, resp, err)
}

// finish shapes the final outcome: a final 5xx or 429 becomes a
// *StatusError, a failure without a response a *TransportError, anything
// else passes through.
func (t *Transport) finish(c *call, resp *http.Response, err error) (*http.Response, error) {
	if err != nil {
		if ue, ok := err.(*url.Error); ok && ue.Err != nil {
			err = ue.Err
		}
		var out error
		switch {
		case c.refused != nil && c.attempts == 0:
			c.refused.TraceID = c.traceID()
			out = c.refused
		case c.refused != nil && c.last != nil && c.lastErr == nil:
			// The breaker refused a retry after a failed response.
			out = c.statusError(c.last, c.refused)
		case c.Context.Err() != nil && c.last != nil && errors.Is(err, c.Context.Err()):
			out = c.statusError(c.last, err)
		default:
			if c.refused != nil {
				// The breaker refused a retry: report the failure that
				// came before it, with the refusal as the reason to stop.
				c.stop = c.refused
				if c.lastErr != nil {
					err = c.lastErr
				}
			}
			out = &TransportError{Method: c.method, URL: c.url(), Attempts: c.attempts,
				TraceID: c.traceID(), Err: err, Stop: c.stop}
		}
		t.tel.failed(c, c, 0, out)
		t.tel.endCall(c, 0, out)
		return nil, out
	}
	// The caller sees its own request, and its own context, on the response.
	resp.Request = c.req
	// A response kept for the final error had its body read while the
	// call decided to retry (then the wait was canceled): give back what
	// was kept if it is to be returned as a response.
	f := c.last
	kept := f != nil && f.resp == resp
	if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests || t.cfg.passThrough {
		if kept {
			resp.Body = body.Replay(f.body, http.NoBody)
		}
		t.tel.endCall(c, resp.StatusCode, nil)
		return resp, nil
	}
	if !kept {
		b, truncated, _ := body.Keep(resp.Body, resp.ContentLength, t.cfg.bodyLimit, drainLimit, bodyReadTimeout)
		f = &failure{resp: resp, body: b, truncated: truncated}
	}
	se := c.statusError(f, c.stop)
	t.tel.failed(c, c, se.StatusCode, se)
	t.tel.endCall(c, se.StatusCode, se)
	return nil, se
}

// validate rejects what cannot be sent, with an error that says why.
func (t *Transport) validate(req *http.Request) error {
	switch {
	case t.closed.Load():
		return ErrClosed
	case t.cfg.err != nil:
		return t.cfg.err
	case req == nil:
		return fmt.Errorf("%w: request is nil", ErrInvalidRequest)
	case req.URL == nil:
		return fmt.Errorf("%w: request has no URL", ErrInvalidRequest)
	case t.ownBase && req.URL.Scheme != "http" && req.URL.Scheme != "https":
		return fmt.Errorf("%w: unsupported scheme %q in %s; use http or https", ErrInvalidRequest, req.URL.Scheme, t.redactor.URL(req.URL))
	case req.URL.Host == "":
		return fmt.Errorf("%w: URL %s has no host", ErrInvalidRequest, t.redactor.URL(req.URL))
	}
	return nil
}

// CloseIdleConnections closes the idle connections of the base transport.
func (t *Transport) CloseIdleConnections() {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// Close stops sharing breaker state, closes idle connections and makes
// every later request fail with ErrClosed. It is safe to call more than
// once. Requests in flight finish normally.
func (t *Transport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	if t.unsubscribe != nil {
		t.unsubscribe()
	}
	t.CloseIdleConnections()
	return nil
}

// Close closes the Transport of a client made by New; see Transport.Close.
// It does nothing for a client with another transport.
func Close(c *http.Client) error {
	if c == nil {
		return nil
	}
	if t, ok := c.Transport.(*Transport); ok {
		return t.Close()
	}
	return nil
}
