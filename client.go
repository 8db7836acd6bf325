package resilient

// This file holds the entry points (New, NewTransport, Transport) and
// RoundTrip, where every request starts. A request travels:
//
//  1. RoundTrip validates it and starts its call (call.go): the host's
//     state from the registry (hosts.go), one call counted in the host's
//     retry budget, the logical span (tracing.go).
//  2. loop (retry.go) sends every attempt, the first included: admission
//     by the host's breaker (breaker.go), the send (attempt.go), the
//     outcome classified and reported, a failed attempt's connection
//     retired (conns.go), then decide, the budget, the wait and the body
//     rewound, until an attempt ends the call.
//  3. finish (finish.go) shapes the outcome once: the response, or a
//     *StatusError, *TransportError or *CircuitOpenError (errors.go).
//
// Telemetry (telemetry.go, tracing.go) and redaction (scrub.go) are called
// from those steps; sharing admission with a fleet is share.go.

import (
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

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
//
// New panics, with an error matching ErrInvalidOption that names the field,
// when an option is invalid (Retry{Max: -5}, a negative WithTimeout): a
// misconfiguration is found when the program starts, not by its first
// request in production, as net/http's ServeMux panics on an invalid
// pattern. A program that builds options from configuration checks them
// first with Validate, which returns that error.
func New(opts ...Option) *http.Client {
	return &http.Client{Transport: NewTransport(nil, opts...)}
}

// Transport is the http.RoundTripper that New's client uses and
// NewTransport returns. It is safe for concurrent use. Most callers use
// New and never see it; those who build their own *http.Client use
// NewTransport, and reach Hosts, DroppedCallbacks and Close on its result
// (or use the package's Hosts and Close, which take the *http.Client).
type Transport struct {
	cfg      *config
	base     http.RoundTripper // the network
	traced   http.RoundTripper // otelhttp around decorate around base
	ownBase  bool              // base is our clone of http.DefaultTransport, or of WithTransport's
	owned    *owned            // what owning base adds (conns_own.go); nil over a caller's transport
	hosts    *registry
	tel      *telemetry
	redactor *redact.Redactor
	events   *dispatcher // runs the callbacks; nil without any

	headerTimeout time.Duration // enforced by the base's ResponseHeaderTimeout
	ctxTimeout    time.Duration // enforced per attempt through the context (timeout.go)

	closed      atomic.Bool
	unsubscribe func()
	unobserve   func()
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport that sends requests through base with
// the resilience of New.
//
// A nil base means a transport that the Transport builds and owns: a
// clone of http.DefaultTransport (or of WithTransport's) with
// MaxIdleConnsPerHost raised to 100 (retries and concurrent calls to one
// host would otherwise churn connections) and ResponseHeaderTimeout set
// to Retry.AttemptTimeout, which then costs nothing per request. Owning
// it, the Transport dials its connections and serves HTTP/2 through
// golang.org/x/net/http2, so that a connection whose attempt failed is
// retired exactly: an HTTP/1 one writes no other request and is closed
// once the failed response's body is read; an HTTP/2 one takes no new
// request, and closes once its streams in flight have finished; the
// connection that replaces it tries the name's other addresses first.
// See the package doc, "A connection is part of the host's health".
//
// With a base of yours, Retry.AttemptTimeout is enforced by canceling each
// attempt's context after it (timeout.go), unless base is an
// *http.Transport whose ResponseHeaderTimeout is set, which then serves as
// the attempt timeout. WithTimeout bounds each call here too. It panics on
// an invalid option, as New does. Over a base
// of yours, a failed attempt's HTTP/1 connection (which net/http's
// httptrace reports for any *http.Transport, wrapped or not) is closed
// once its body is read; but nothing stops base from handing it to
// another request in the microseconds between the end of that body and
// the close (net/http sends that request again itself when it may), a
// failing HTTP/2 connection cannot be retired without resetting the other
// streams on it, so it is left as it is, and the dialer is base's, so a
// name's addresses are dialed in base's order. To have all of it with a
// TLS configuration, proxy or limits of yours, pass your *http.Transport
// with WithTransport and a nil base.
func NewTransport(base http.RoundTripper, opts ...Option) *Transport {
	cfg := newConfig(opts)
	if base != nil && cfg.transport != nil {
		cfg.invalid("WithTransport needs a nil base; NewTransport was given both")
	}
	if cfg.err != nil {
		panic(cfg.err)
	}
	t := &Transport{cfg: cfg, redactor: redact.New(cfg.secrets...), events: newDispatcher(cfg)}
	if d := cfg.retry.AttemptTimeout; d > 0 {
		t.ctxTimeout = d
	}
	if base == nil {
		tr, nd := cfg.transport, (*net.Dialer)(nil)
		if tr == nil {
			tr = http.DefaultTransport.(*http.Transport)
			nd = &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second} // DefaultTransport's
		}
		tr = tr.Clone()
		if tr.MaxIdleConnsPerHost == 0 {
			tr.MaxIdleConnsPerHost = 100
		}
		if t.ctxTimeout > 0 && tr.ResponseHeaderTimeout > 0 {
			t.headerTimeout, t.ctxTimeout = tr.ResponseHeaderTimeout, 0 // WithTransport's own
		} else if t.ctxTimeout > 0 {
			tr.ResponseHeaderTimeout = t.ctxTimeout
			t.headerTimeout, t.ctxTimeout = t.ctxTimeout, 0
		}
		t.owned = own(tr, nd, cfg.resolver, cfg.clock)
		base, t.ownBase = tr, true
	} else if tr, ok := base.(*http.Transport); ok && tr.ResponseHeaderTimeout > 0 && t.ctxTimeout > 0 {
		// The caller's transport already bounds the wait for headers: use
		// it, rather than a context per attempt.
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
	t.unobserve = t.tel.observeAdmission(t.hosts, cfg.clock)
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
	t.loop(c, c.firstRequest())
	if c.replay != nil {
		c.replay.finish()
	}
	return t.finish(c)
}

// validate rejects what cannot be sent, with an error that says why.
func (t *Transport) validate(req *http.Request) error {
	switch {
	case t.closed.Load():
		return ErrClosed
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
	if t.owned != nil && t.owned.h2 != nil {
		t.owned.h2.closeIdle()
	}
}

// WithTransport makes New, and NewTransport with a nil base, build on a
// clone of tr instead of http.DefaultTransport: the client keeps tr's TLS
// configuration, proxy, dialer, timeouts and limits, and the Transport
// owns the clone as it owns New's default (see NewTransport): it retires
// a failed attempt's connection exactly, HTTP/2 ones gracefully, and,
// when tr has no dialer of its own (DialContext and Dial nil), dials a
// name's other addresses after one failed. MaxIdleConnsPerHost 0 becomes
// 100; a ResponseHeaderTimeout of tr's serves as Retry.AttemptTimeout.
// (A tr that dials with the deprecated Dial keeps its connections as
// they are, which are then retired as over a transport of yours.)
// HTTP/2 is spoken where net/http would speak it over tr: with
// ForceAttemptHTTP2, or without a TLS configuration or dialer of tr's.
// tr itself is not used: later changes to it do not apply, and its
// CloseIdleConnections does not reach the clone (the Transport's, and
// Close, do). A nil tr is ignored.
func WithTransport(tr *http.Transport) Option {
	return optionFunc(func(c *config) {
		if tr != nil {
			c.transport = tr
		}
	})
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
