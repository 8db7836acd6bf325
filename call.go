package resilient

// This file holds the state of one logical request (a call): what the
// attempts, the retry decision and the final shaping share. A call is
// written by one goroutine at a time: RoundTrip's, then go-retryablehttp's
// loop, which runs on that same goroutine.

import (
	"context"
	"net/http"
	"time"
	"unsafe"

	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/otel/trace"
)

// call is the state of one logical request. It is itself the context of
// every attempt: embedding the caller's context and answering
// Value(callKey{}) with itself lets go-retryablehttp's hooks, which see
// only the context, find it, and saves an allocation per request.
type call struct {
	context.Context // the caller's, plus the logical span when traced

	t            *Transport
	req          *http.Request // the caller's request; never modified
	rr           retryablehttp.Request
	method       string
	host         *host
	replay       *replayer // sends a body without GetBody again; nil for others
	started      int64     // the call's start on the attempt watchdog's clock; 0: read it at the first attempt
	begun        int64     // budget: the call's start in Unix nanoseconds, for the host's latency
	idempotent   bool
	replayable   bool
	instrumented bool
	skipBreaker  bool       // Policy.SkipBreaker
	hedges       int32      // hedges among attempts; they use no retry (hedge.go)
	span         trace.Span // logical span, nil when not instrumented
	cancel       func()     // ends WithTimeout's deadline; nil without one
	hedge        *Hedging   // the call's hedging policy, nil when not hedged (hedge.go)

	attempts   int               // attempts sent to the network
	probeWaits int               // waits for a probe after a refusal (waitForProbe)
	last       result            // the latest attempt's outcome
	failed     *failure          // the latest failed response, read for the final error
	refused    *CircuitOpenError // admission refused the latest attempt; last is the one before
	stop       error             // why retrying stopped early, if something other than the outcome stopped it
	redacted   string            // cached redacted URL
	policy     *callPolicy       // the retry policy of the call's Policy; nil: the client's (see retryPolicy)
	first      attemptCtx        // the first attempt's context, under a context-enforced attempt timeout (timeout.go)
}

// result is one attempt's outcome: a response or an error, and its class
// (Classify, or the client's Classifier), found once when it came back.
// known is false for a result made without an attempt (a body that could
// not be replayed), which outcome classifies when asked.
type result struct {
	resp  *http.Response
	err   error
	known bool  // class holds the outcome's class
	class uint8 // an Outcome, in a byte: the call stays in its size class
}

// classified returns the result of an attempt whose outcome is of class o.
func classified(resp *http.Response, err error, o Outcome) result {
	return result{resp: resp, err: err, known: true, class: uint8(o)}
}

// failure is a failed response kept for the final error after its body was
// read (bounded) and its connection freed.
type failure struct {
	resp      *http.Response
	body      []byte
	truncated bool
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
		Context:    ctx,
		cancel:     cancel,
		t:          t,
		req:        req,
		method:     req.Method,
		host:       t.hosts.find(req.URL, now),
		idempotent: IsIdempotent(req),
		// A body without GetBody goes again only through replay
		// (replay.go), which next asks after each attempt.
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
	if t.watch != nil && t.realTime {
		c.started = t.watch.at(now) // the first attempt's start, without reading the clock again
	}
	if c.host.budget != nil {
		c.begun = now.UnixNano()                               // budget
		c.host.budget.Call(c.begun, spread(unsafe.Pointer(c))) // budget
	}
	if t.tel.instrumented(c.Context) {
		c.instrumented = true
		c.Context, c.span = t.tel.startCall(c.Context, c)
	}
	return c
}

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

// keep reads the latest failed response for the final error, before a
// retry: its body up to the limit is read, the rest drained (bounded) so
// that the connection returns to the pool, and resp.Body replaced by an
// empty body.
func (c *call) keep() {
	resp := c.last.resp
	if resp == nil {
		return
	}
	b, truncated := c.t.keepBody(resp)
	resp.Body = http.NoBody
	c.failed = &failure{resp: resp, body: b, truncated: truncated}
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
