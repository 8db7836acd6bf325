package resilient

// This file holds the state of one logical request (a call): what the
// attempts, the retry decision and the final shaping share. A call is
// written by one goroutine, RoundTrip's; a hedged attempt's goroutines
// write only their own run (hedge.go).

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/resilient-http/resilient/internal/body"
)

// call is the state of one logical request. Its ctx is the caller's
// context, plus WithTimeout's deadline and the logical span; the requests
// of attempts that must carry the call (see firstRequest, rewind) get
// actx, ctx with the call as its callKey value, so that decorate, below
// otelhttp, and AttemptFromContext find the call of the attempt they see.
type call struct {
	ctx  context.Context // the caller's, plus WithTimeout's deadline and the logical span when traced
	actx context.Context // ctx carrying the call, made once when a request first needs it (attemptCtx)

	t            *Transport
	req          *http.Request // the caller's request; never modified
	method       string
	host         *host
	replay       *replayer // sends a body without GetBody again; nil for others
	begun        int64     // the call's start in Unix nanoseconds: the host's latency (budget), the error's Elapsed
	idempotent   bool
	replayable   bool
	instrumented bool
	skipBreaker  bool       // Policy.SkipBreaker
	hedges       int32      // hedges among attempts; they use no retry (hedge.go)
	span         trace.Span // logical span, nil when not instrumented
	cancel       func()     // ends WithTimeout's deadline; nil without one
	hedge        *Hedging   // the call's hedging policy, nil when not hedged (hedge.go)

	attempts    int               // attempts sent to the network
	probeWaited time.Duration     // time waited for a probe after refusals (waitForProbe)
	last        result            // the latest attempt's outcome
	failed      *failure          // the latest failed response, read for the final error
	conns       *attemptConn      // what the latest attempt learnt of its connection; nil unless its host was watching (conns.go)
	refused     *CircuitOpenError // admission refused the latest attempt; last is the one before
	stop        error             // why retrying stopped early, if something other than the outcome stopped it
	preparing   bool              // WithPrepareRetry's function runs (rewind)
	redacted    string            // cached redacted URL
	policy      *callPolicy       // the retry policy of the call's Policy; nil: the client's (see retryPolicy)
}

// result is one attempt's outcome: a response or an error, its class
// (Classify, or the client's Classifier) and the wait its server asked
// for (Retry-After, RateLimit), each found once when it came back. A
// result made without an attempt (a body that could not be sent again)
// ends the call, and finish reads only its error.
type result struct {
	resp       *http.Response
	err        error
	retryAfter time.Duration // what the server asked to wait; valid when asked
	asked      bool
	class      Outcome
	stop       error // the Classifier's own error, which ends the call; nil for none
}

// failure is a failed response kept for the final error after its body was
// read (bounded) and its connection freed, with what its server asked.
type failure struct {
	resp       *http.Response
	body       []byte
	truncated  bool
	retryAfter time.Duration
	asked      bool
}

type callKey struct{}

// newCall starts the call for req at now.
func (t *Transport) newCall(req *http.Request, now time.Time) *call {
	ctx := req.Context()
	var cancel context.CancelFunc
	if d := t.cfg.timeout; d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
	}
	c := &call{
		ctx:        ctx,
		cancel:     cancel,
		t:          t,
		req:        req,
		method:     req.Method,
		begun:      now.UnixNano(),
		host:       t.hosts.find(req.URL, now),
		idempotent: IsIdempotent(req),
		// A body without GetBody goes again only through replay
		// (replay.go), which the loop asks (ready) after each attempt.
		replayable: req.Body == nil || req.Body == http.NoBody || req.GetBody != nil,
	}
	if c.method == "" {
		c.method = http.MethodGet
	}
	if p, ok := req.Context().Value(policyKey{}).(*Policy); ok {
		c.applyPolicy(p)
	}
	if !c.replayable && c.retryPolicy().Max > 0 {
		c.replay = newReplayer(req, t.cfg.replayMax)
	}
	c.hedge = t.hedgeFor(c)
	if c.host.budget != nil {
		c.host.budget.Call(c.begun, rand.Uint32())
	}
	if t.tel.instrumented(c.ctx) {
		c.instrumented = true
		c.ctx, c.span = t.tel.startCall(c.ctx, c)
	}
	return c
}

// firstRequest returns the request of c's first attempt: the caller's,
// carrying the call in its context (attemptCtx) only where the base must
// see the call's span or deadline, or decorate must find the call, or
// where the body is replaced by the replay copy, or the attempt hedged
// (each hedged attempt's context derives from it). Otherwise the caller's
// request goes as it is, with neither the copy nor the context allocated.
func (c *call) firstRequest() *http.Request {
	r := c.req
	if c.replay != nil || c.hedge != nil || c.instrumented || c.cancel != nil {
		r = r.WithContext(c.attemptCtx())
	}
	if c.replay != nil {
		r.Body = c.replay.first()
	}
	return r
}

// attemptCtx returns the context of c's attempts that carry the call: ctx
// answering callKey with c. It is made once, on first use.
func (c *call) attemptCtx() context.Context {
	if c.actx == nil {
		c.actx = context.WithValue(c.ctx, callKey{}, c)
	}
	return c.actx
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
	sc := trace.SpanContextFromContext(c.ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// keep reads the latest failed response for the final error, before a
// retry: its body up to the limit is read, the rest drained (bounded) so
// that the connection returns to the pool, and resp.Body replaced by an
// empty body.
func (c *call) keep() {
	resp := c.last.resp
	if resp == nil {
		return
	}
	c.failed = c.t.keepFailure(c.last)
	resp.Body = http.NoBody
}

// keepFailure reads the body of last's response for the final error, up to
// the error-body limit and bounded by bodyReadTimeout, drains (bounded)
// and closes it.
func (t *Transport) keepFailure(last result) *failure {
	resp := last.resp
	b, truncated, _ := body.Keep(resp.Body, resp.ContentLength, t.cfg.bodyLimit, drainLimit, bodyReadTimeout)
	return &failure{resp: resp, body: b, truncated: truncated, retryAfter: last.retryAfter, asked: last.asked}
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
