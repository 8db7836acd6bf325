package resilient

// This file holds the entry points (New, NewTransport, Transport) and
// RoundTrip, where every request starts. A request travels:
//
//  1. RoundTrip (this file) validates it and starts its call (call.go):
//     the per-host state from the registry (hosts.go), one call counted
//     in the host's retry budget, the logical span (tracing.go).
//  2. The first attempt (attempt.go): admission (admission.go) decides
//     whether it may go; it is sent through otelhttp when traced, bounded
//     by the attempt timeout (timeout.go), and its outcome is reported to
//     admission and recorded as the call's latest result.
//  3. next (retry.go) runs after every attempt: decide, a pure function,
//     says "retry after d" or "stop, and why"; next spends the retry
//     budget, keeps the failed response for the final error, and waits.
//  4. Retries run in go-retryablehttp's loop, which rewinds the body from
//     GetBody and calls attemptTransport (attempt.go) for each attempt and
//     checkRetry, that is next, after it. The first attempt is made before
//     the loop, so that a call that needs no retry never pays for
//     go-retryablehttp's inner *http.Client (three allocations).
//  5. finish (finish.go) shapes the outcome once: the response, or a
//     *StatusError, *TransportError or *CircuitOpenError (errors.go).
//
// Telemetry (telemetry.go, tracing.go) and redaction (scrub.go) are called
// from those steps; sharing admission with a fleet is share.go.

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/resilient-http/resilient/internal/redact"
)

// New returns an *http.Client whose transport is NewTransport(nil, opts...):
// a clone of http.DefaultTransport wrapped in retries, per-host circuit
// breakers, a retry budget and tracing. Its Timeout is zero: WithTimeout is
// enforced inside the transport, so that a call that runs out of time still
// returns its last outcome typed. It is safe for concurrent use, like any
// *http.Client, and can replace http.DefaultClient:
//
//	http.DefaultClient = resilient.New()
//
// Its Do returns, inside the usual *url.Error, a *StatusError for a final
// 5xx or 429 response, a *TransportError when the last attempt got no
// response, or a *CircuitOpenError when the host's breaker refused the call.
func New(opts ...Option) *http.Client {
	t := NewTransport(nil, opts...).(*Transport)
	return &http.Client{Transport: t}
}

// Transport is the http.RoundTripper returned by NewTransport. It is safe
// for concurrent use. Most callers use New and never see it; those who
// build their own *http.Client use NewTransport, whose result is a
// *Transport: assert it to reach Hosts, DroppedCallbacks and Close (or
// use the package's Hosts and Close, which take the *http.Client).
type Transport struct {
	cfg      *config
	base     http.RoundTripper // the network
	traced   http.RoundTripper // otelhttp around decorate around base
	ownBase  bool              // base is our clone of http.DefaultTransport
	rc       *retryablehttp.Client
	hosts    *registry
	tel      *telemetry
	redactor *redact.Redactor
	events   *dispatcher // runs the callbacks; nil without any

	headerTimeout time.Duration // enforced by our base's ResponseHeaderTimeout
	ctxTimeout    time.Duration // enforced per attempt through the context
	watch         *watchdog     // cancels attempts past ctxTimeout; nil when it is 0
	bodyWatch     *watchdog     // bounds reads of error bodies (bodyReadTimeout)
	realTime      bool          // cfg.clock is the real clock, whose readings the watchdog can use

	closed      atomic.Bool
	unsubscribe func()
	unobserve   func()
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport that sends requests through base with
// the resilience of New. A nil base means a clone of http.DefaultTransport
// with MaxIdleConnsPerHost raised to 100 (retries and concurrent calls to
// one host would otherwise churn connections) and ResponseHeaderTimeout set
// to Retry.AttemptTimeout, which then costs nothing per request. With a
// base of yours, Retry.AttemptTimeout is enforced by canceling each
// attempt's context (one allocation per attempt, the request carrying it;
// see watchdog.go), unless base is an
// *http.Transport whose ResponseHeaderTimeout is set, which then serves as
// the attempt timeout. WithTimeout bounds each call here too.
func NewTransport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	cfg := newConfig(opts)
	t := &Transport{cfg: cfg, redactor: redact.New(cfg.secrets...), events: newDispatcher(cfg)}
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
		// it, rather than a context per attempt.
		t.headerTimeout, t.ctxTimeout = tr.ResponseHeaderTimeout, 0
	}
	if t.ctxTimeout > 0 {
		t.watch = newWatchdog(t.ctxTimeout)
	}
	_, t.realTime = cfg.clock.(realClock)
	t.bodyWatch = newWatchdog(bodyReadTimeout)
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
	t.unobserve = t.tel.observeAdmission(t.hosts, cfg.clock)
	retries := cfg.retry.Max
	if retries < 0 {
		retries = 0
	}
	t.rc = &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: attemptTransport{},
			// Redirects are followed once, by the caller's client.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Logger:       nil, // its default logger writes to stderr
		RetryMax:     math.MaxInt32,
		CheckRetry:   checkRetry,
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
	c := t.newCall(req, t.cfg.clock.Now())
	if c.policy != nil && c.policy.bad != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return t.fail(c, 0, c.policy.bad)
	}
	// The first attempt carries the call as its context only when the base
	// must see it (the call's span or deadline), and the attempt timeout
	// does not give it a context of its own, whose parent is the call; or
	// when its body is replaced by the replay copy, or when it is hedged
	// (each hedged attempt's context derives from it). Otherwise it goes
	// as the caller made it: a request less to allocate.
	r := req
	if c.replay != nil || c.hedge != nil || (c.instrumented || c.cancel != nil) && t.ctxTimeout == 0 {
		r = req.WithContext(c)
	}
	if c.replay != nil {
		r.Body = c.replay.first()
	}
	c.attempt(r)
	if c.next() {
		if r == req {
			r = req.WithContext(c)
		}
		t.retry(c, r)
	}
	if c.replay != nil {
		c.replay.finish()
	}
	return t.finish(c)
}

// retry runs the retries of c in go-retryablehttp's loop. Each iteration
// sends one attempt through attemptTransport and asks checkRetry (next)
// whether to go on; the outcome is in c, so what the loop returns is not
// needed.
func (t *Transport) retry(c *call, r *http.Request) {
	// A fresh shallow copy: the first attempt's transport may still be
	// closing r.Body in the background.
	rc := *r
	c.rr.Request = &rc
	getBody := c.req.GetBody
	if c.replay != nil {
		getBody = func() (io.ReadCloser, error) { return c.replay.rewind(c) }
	}
	if getBody != nil && c.req.Body != nil && c.req.Body != http.NoBody {
		err := c.rr.SetBody(retryablehttp.ReaderFunc(func() (io.Reader, error) {
			b, err := getBody()
			if err != nil {
				c.last = result{err: fmt.Errorf("resilient: cannot replay the request body, GetBody failed: %w", err)}
			}
			return b, err
		}))
		if err != nil {
			c.last = result{err: fmt.Errorf("resilient: cannot replay the request body, GetBody failed: %w", err)}
			return
		}
		rc.ContentLength = c.req.ContentLength // SetBody guesses it from the reader
	}
	t.rc.Do(&c.rr) //nolint:bodyclose // the outcome, body included, is in c
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
	t.unobserve()
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
