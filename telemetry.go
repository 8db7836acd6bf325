package resilient

// This file holds the client's telemetry: spans, metrics, propagation and
// log lines. The rest of the package calls the hooks at the bottom of each
// section (startCall, endCall, retrying, stopped, refused, failed,
// breakerTransition) and never touches OpenTelemetry directly.
//
// # The shape of a trace
//
// One call to RoundTrip makes one INTERNAL span named "resilient GET" (the
// method varies), and under it one CLIENT span per attempt, made by otelhttp
// and named by the method ("GET"), as the HTTP client semantic conventions
// ask. The logical span is the parent of the attempts:
//
//	caller's span (if any)
//	└── resilient GET              INTERNAL  http.request.method, resilient.attempts, http.response.status_code;
//	    │                                    on failure also url.full (redacted), server.*, error.type
//	    ├── GET                    CLIENT    attempt 1, status 500, error.type "500"
//	    ├── (event resilient.retry: attempt 2, wait 0.137 s, reason "500 Internal Server Error")
//	    ├── GET                    CLIENT    attempt 2, http.request.resend_count 1
//	    ├── (event resilient.retry ...)
//	    └── GET                    CLIENT    attempt 3, http.request.resend_count 2
//
// Why a span for the logical request, beyond what otelhttp makes: without
// it, a caller with no span in its context would get three unrelated
// one-span traces for one call, and the error could name only one of them;
// the waits between attempts, the retry budget's and the breaker's
// decisions would have no span to be recorded on; and a call refused by the
// breaker would leave no trace at all. That is worth its cost, which is
// most of what resilient's tracing adds to otelhttp's: one SDK span per
// call, 4 allocations, 976 bytes and about 1.2 µs on a shared 2-core
// machine (BenchmarkTelemetry_logicalSpan; BenchmarkOTel compares the
// whole client with otelhttp alone). That puts resilient with the SDK
// beyond otelhttp alone by more than the 1 µs first aimed at, once its
// own retry machinery (about 1.6 µs without any telemetry) is counted;
// dropping the span would save its 1.2 µs and lose the one place where a
// call, as opposed to an attempt, can be seen. It was 12 allocations and
// 2.2 KB before its attributes were cut to what the attempts' spans do not
// already say and set in one batch. When tracing is off it costs nothing.
//
// The logical span ends when RoundTrip returns, once the response headers
// are in; the last attempt's span, like every otelhttp span, ends when the
// response body is read to the end or closed.
//
// # When telemetry is off
//
// otelhttp costs about 5 µs and 20 allocations per request even with the
// no-op providers, so a call takes the instrumented path only when it can
// matter (see instrumented): a provider was given by option, a global one
// was set, or the caller's context carries a span context, which must then
// be propagated. Otherwise no span is made, no header is injected, and
// errors carry no trace ID.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/resilient-http/resilient/internal/body"
)

// instrumentationName is the instrumentation scope of the client's spans and
// metrics.
const instrumentationName = "github.com/resilient-http/resilient"

// telemetry holds the client's instruments and logger. Spans go to the
// provider given by WithTracerProvider, else to the provider of the
// caller's span, else to the otel global, resolved per call so that a
// provider installed after New is used. Metrics go to WithMeterProvider's
// provider, else to the global one (whose instruments follow a provider
// installed later). It is safe for concurrent use.
type telemetry struct {
	cfg *config

	tracer  atomic.Pointer[tracerEntry] // the last provider's tracer
	globals atomic.Pointer[globals]     // the last globals seen by instrumented

	// tracing and metering say whether the option's providers record:
	// optUnset when no option was given (the globals decide, per call),
	// optOn for a real provider, optOff for a no-op one.
	tracing, metering optState

	retries         metric.Int64Counter
	budgetRefusals  metric.Int64Counter
	breakerRefusals metric.Int64Counter
	transitions     metric.Int64Counter
	state           metric.Int64UpDownCounter
}

type optState uint8

const (
	optUnset optState = iota
	optOn
	optOff
)

type tracerEntry struct {
	tp     trace.TracerProvider
	tracer trace.Tracer
	noop   bool // tp drops everything
}

func newTelemetry(cfg *config) *telemetry {
	t := &telemetry{cfg: cfg}
	if cfg.tp != nil {
		t.tracing = optOn
		if noopTracerProvider(cfg.tp) {
			t.tracing = optOff
		}
	}
	mp := cfg.mp
	if mp != nil {
		t.metering = optOn
		if noopMeterProvider(mp) {
			t.metering = optOff
		}
	} else {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentationName)
	// Instrument errors come only from invalid names; ours are constant and
	// valid, and the returned instruments are usable no-ops on error.
	t.retries, _ = m.Int64Counter("resilient.retries",
		metric.WithUnit("{retry}"),
		metric.WithDescription("Retries decided after a retryable failure; each is sent after its wait unless the call ends first."))
	t.budgetRefusals, _ = m.Int64Counter("resilient.retry_budget.refusals",
		metric.WithUnit("{retry}"),
		metric.WithDescription("Retries not sent because the host's retry budget was spent."))
	t.breakerRefusals, _ = m.Int64Counter("resilient.breaker.refusals",
		metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts, first or retry, not sent because the host's circuit breaker was open or its probes were all in flight."))
	t.transitions, _ = m.Int64Counter("resilient.breaker.transitions",
		metric.WithUnit("{transition}"),
		metric.WithDescription("Circuit breaker state changes, by resilient.breaker.from and resilient.breaker.to."))
	t.state, _ = m.Int64UpDownCounter("resilient.breaker.state",
		metric.WithUnit("{breaker}"),
		metric.WithDescription("Per-host circuit breakers currently in each state (resilient.breaker.state: closed, open, half-open); 1 for the current state of each host."))
	return t
}

// httpOptions returns the options for the otelhttp transport that makes
// the attempt spans; the caller adds the providers.
func (t *telemetry) httpOptions() []otelhttp.Option {
	return []otelhttp.Option{
		otelhttp.WithPropagators(&propagator{}),
		otelhttp.WithSpanNameFormatter(attemptSpanName),
	}
}

// The otel globals start as delegates in otel's internal/global package
// that forward to whatever is installed later, and drop everything until
// then; otel.Get* returns the installed provider itself once there is one.
// (Checked against go.opentelemetry.io/otel v1.47.0.) These report whether a
// provider drops everything: such a delegate, an explicit no-op, or the
// provider of a span that came from elsewhere (trace's own no-op).
const otelGlobalPkg = "go.opentelemetry.io/otel/internal/global"

func noopTracerProvider(tp trace.TracerProvider) bool {
	pkg, name := typeName(tp)
	switch pkg {
	case otelGlobalPkg, "go.opentelemetry.io/otel/trace/noop":
		return true
	case "go.opentelemetry.io/otel/trace":
		return name == "noopTracerProvider"
	}
	return pkg == "" && name == ""
}

func noopMeterProvider(mp metric.MeterProvider) bool {
	pkg, name := typeName(mp)
	switch pkg {
	case otelGlobalPkg, "go.opentelemetry.io/otel/metric/noop":
		return true
	}
	return pkg == "" && name == ""
}

// typeName returns the package path and name of v's type, or of the type
// it points to. It allocates nothing.
func typeName(v any) (pkg, name string) {
	t := reflect.TypeOf(v)
	if t == nil {
		return "", ""
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath(), t.Name()
}

// instrumented reports whether a call with ctx needs spans, metrics or
// propagation. It is false, and the call pays nothing for telemetry, when
// neither the options nor the otel globals provide a recording tracer or
// meter provider and ctx carries no span context.
func (t *telemetry) instrumented(ctx context.Context) bool {
	if t.tracing == optOn || t.metering == optOn {
		return true
	}
	if trace.SpanContextFromContext(ctx).IsValid() {
		return true // propagate the caller's trace, even with no provider
	}
	if t.tracing != optUnset && t.metering != optUnset {
		return false
	}
	on := t.globalsOn()
	return t.tracing == optUnset && on.tracing || t.metering == optUnset && on.metering
}

// globals caches what the otel globals were found to be, the last time
// they were looked at: reading a type's package path by reflection costs
// about 100 ns, comparing two interfaces a nanosecond.
type globals struct {
	tp                trace.TracerProvider
	mp                metric.MeterProvider
	tracing, metering bool // tp, mp record
}

// globalsOn reports whether the global providers record.
func (t *telemetry) globalsOn() *globals {
	tp, mp := otel.GetTracerProvider(), otel.GetMeterProvider()
	// Only comparable providers are cached (see below), so == cannot panic.
	if g := t.globals.Load(); g != nil && g.tp == tp && g.mp == mp {
		return g
	}
	g := &globals{tp: tp, mp: mp, tracing: !noopTracerProvider(tp), metering: !noopMeterProvider(mp)}
	if canCompare(tp) && canCompare(mp) {
		t.globals.Store(g)
	}
	return g
}

// canCompare reports whether v's dynamic type can be compared with ==
// without a run-time panic (pointers can; a struct holding a slice cannot).
func canCompare(v any) bool {
	rt := reflect.TypeOf(v)
	return rt != nil && rt.Comparable()
}

// tracerFor returns the tracer for a call: the option's provider, else the
// provider of the caller's span when it records, else the global one. The
// attempts' spans come from the same provider, since otelhttp asks the
// logical span for its provider.
func (t *telemetry) tracerFor(ctx context.Context) trace.Tracer {
	if tp := t.cfg.tp; tp != nil {
		return t.tracerOf(tp).tracer
	}
	if s := trace.SpanFromContext(ctx); s.SpanContext().IsValid() {
		if e := t.tracerOf(s.TracerProvider()); !e.noop {
			return e.tracer
		}
	}
	return t.tracerOf(otel.GetTracerProvider()).tracer
}

// tracerOf returns tp's tracer, from the cache when tp is the provider
// used last. Only comparable providers are cached, so == cannot panic.
func (t *telemetry) tracerOf(tp trace.TracerProvider) *tracerEntry {
	if e := t.tracer.Load(); e != nil && e.tp == tp {
		return e
	}
	e := &tracerEntry{tp: tp, tracer: tp.Tracer(instrumentationName), noop: noopTracerProvider(tp)}
	if canCompare(tp) {
		t.tracer.Store(e)
	}
	return e
}

// propagator is what otelhttp injects into every attempt: the global
// propagator once one is installed (otel.SetTextMapPropagator), else W3C
// Trace Context alone, so that traceparent reaches the server even in a
// program that only gave WithTracerProvider. To send no header at all,
// install an empty propagation.NewCompositeTextMapPropagator(). It is safe
// for concurrent use.
type propagator struct {
	last atomic.Pointer[propagatorEntry] // the global last seen, if comparable
}

type propagatorEntry struct {
	global, use propagation.TextMapPropagator
}

func (p *propagator) get() propagation.TextMapPropagator {
	g := otel.GetTextMapPropagator()
	if e := p.last.Load(); e != nil && e.global == g {
		return e.use
	}
	e := &propagatorEntry{global: g, use: g}
	if pkg, _ := typeName(g); pkg == otelGlobalPkg {
		e.use = propagation.TraceContext{}
	}
	if canCompare(g) {
		p.last.Store(e)
	}
	return e.use
}

func (p *propagator) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	p.get().Inject(ctx, c)
}

func (p *propagator) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	return p.get().Extract(ctx, c)
}

func (p *propagator) Fields() []string { return p.get().Fields() }

// attemptSpanName names an attempt's CLIENT span by its method, as the
// HTTP semantic conventions ask when there is no URL template: "GET", or
// "HTTP" for a method they do not know.
func attemptSpanName(_ string, r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect:
		return r.Method
	case "":
		return http.MethodGet
	}
	return "HTTP"
}

// callSpanName names the logical span, without allocating.
func callSpanName(method string) string {
	switch method {
	case http.MethodGet:
		return "resilient GET"
	case http.MethodHead:
		return "resilient HEAD"
	case http.MethodPost:
		return "resilient POST"
	case http.MethodPut:
		return "resilient PUT"
	case http.MethodPatch:
		return "resilient PATCH"
	case http.MethodDelete:
		return "resilient DELETE"
	case http.MethodOptions:
		return "resilient OPTIONS"
	case http.MethodTrace:
		return "resilient TRACE"
	case http.MethodConnect:
		return "resilient CONNECT"
	}
	return "resilient HTTP"
}

// startCall starts the span of the logical request; see the top of this
// file for why there is one. It passes no options: INTERNAL is the kind a
// span gets by default, and the attributes are set by endCall in one
// batch, since every SetAttributes or WithAttributes copies them again. A
// sampler therefore sees the span's name only, as it does for otelhttp's
// spans, which set their attributes after start too.
func (t *telemetry) startCall(ctx context.Context, c *call) (context.Context, trace.Span) {
	return t.tracerFor(ctx).Start(ctx, callSpanName(c.method))
}

// endCall records the request and its outcome on the logical span and ends
// it: status Error for a status of 400 or more (as for a CLIENT span) and
// for any error, error.type as the attempts' spans have it.
//
// A call that succeeded gets http.request.method, resilient.attempts and
// http.response.status_code; its attempts' spans say where it went. A call
// that failed also gets url.full, server.address and server.port, so that
// its span names the target even when no attempt was sent (the breaker
// refused it). Each attribute costs: on the success path, this keeps the
// span to four allocations (see BenchmarkTelemetry_logicalSpan).
func (t *telemetry) endCall(c *call, status int, err error) {
	s := c.span
	if s == nil {
		return
	}
	var attrs [4]attribute.KeyValue // escapes: sized for the success path
	a := attrs[:0]
	if attemptSpanName("", c.req) != "HTTP" {
		a = append(a, semconv.HTTPRequestMethodKey.String(c.method))
	} else {
		a = append(a, semconv.HTTPRequestMethodOther, semconv.HTTPRequestMethodOriginal(c.method))
	}
	a = append(a, attribute.Int("resilient.attempts", c.attempts))
	if status != 0 {
		a = append(a, semconv.HTTPResponseStatusCode(status))
	}
	if err == nil && status < 400 {
		s.SetAttributes(a...)
		s.End()
		return
	}
	// The redacted URL is computed for the error or the log anyway.
	a = append(a, semconv.URLFull(c.url()), semconv.ServerAddress(c.host.key.host))
	if port, err := strconv.Atoi(c.host.key.port); err == nil {
		a = append(a, semconv.ServerPort(port))
	}
	if err != nil {
		a = append(a, semconv.ErrorTypeKey.String(errorType(err)))
		s.SetAttributes(a...)
		s.SetStatus(codes.Error, c.errorDescription(err))
	} else {
		a = append(a, semconv.ErrorTypeKey.String(strconv.Itoa(status)))
		s.SetAttributes(a...)
		s.SetStatus(codes.Error, "")
	}
	s.End()
}

// errorType names err's class for error.type, with low cardinality: the
// status code of a *StatusError (as otelhttp does for the attempts),
// "resilient.circuit_open", "timeout", "canceled", or the cause's type
// as semconv.ErrorType names it ("*net.OpError", as on the attempts' spans).
func errorType(err error) string {
	var se *StatusError
	var te *TransportError
	var to interface{ Timeout() bool }
	switch {
	case errors.As(err, &se):
		return strconv.Itoa(se.StatusCode)
	case errors.Is(err, ErrCircuitOpen):
		return "resilient.circuit_open"
	case errors.As(err, &to) && to.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &te) && te.Err != nil:
		err = te.Err
	}
	return semconv.ErrorType(err).Value.AsString()
}

// errorDescription is the logical span's status description for err. The
// semantic conventions want none when the status code says it all, so a
// *StatusError gets none (its stop reason is an event); other errors get
// their message, scrubbed of the request's secrets.
func (c *call) errorDescription(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return ""
	}
	return c.text(err.Error())
}

// event adds a span event to the logical span, when there is one.
func (c *call) event(name string, attrs ...attribute.KeyValue) {
	if c.span != nil && c.span.IsRecording() {
		c.span.AddEvent(name, trace.WithAttributes(attrs...))
	}
}

// retrying records a retry about to wait and be sent: metric, span event,
// debug log line.
func (t *telemetry) retrying(ctx context.Context, c *call, wait time.Duration, reason string) {
	t.retries.Add(ctx, 1, metric.WithAttributeSet(c.host.attrs))
	l := t.cfg.logger
	logging := l != nil && l.Enabled(ctx, slog.LevelDebug)
	if !logging && (c.span == nil || !c.span.IsRecording()) {
		return
	}
	reason = c.text(reason)
	c.event("resilient.retry",
		attribute.Int("resilient.attempt", c.attempts+1),
		attribute.Float64("resilient.wait_seconds", wait.Seconds()),
		attribute.String("resilient.reason", reason))
	if logging {
		l.LogAttrs(ctx, slog.LevelDebug, "resilient: retrying",
			slog.String("method", c.method), slog.String("url", c.url()),
			slog.Int("attempt", c.attempts+1), slog.Duration("wait", wait),
			slog.String("reason", reason), slog.String("trace_id", c.traceID()))
	}
}

// stopped records why retrying stopped early, when a decision (not the
// outcome) stopped it.
func (t *telemetry) stopped(ctx context.Context, c *call, why error) {
	var co *CircuitOpenError
	switch {
	case why == ErrRetryBudgetExhausted:
		t.budgetRefusals.Add(ctx, 1, metric.WithAttributeSet(c.host.attrs))
		c.event("resilient.retry_budget_exhausted", attribute.Int("resilient.attempt", c.attempts+1))
	case why == ErrRetryAfterTooLong:
		c.event("resilient.retry_after_too_long",
			attribute.Float64("resilient.retry_after_seconds", c.retryAfter.Seconds()),
			attribute.Float64("resilient.max_wait_seconds", t.cfg.retry.MaxWait.Seconds()))
	case why == ErrDeadline:
		c.event("resilient.deadline_too_close", attribute.Int("resilient.attempt", c.attempts+1))
	case errors.As(why, &co):
		t.refused(ctx, c, co)
	}
}

// refused records an attempt, first or retry, that the breaker refused.
func (t *telemetry) refused(ctx context.Context, c *call, e *CircuitOpenError) {
	t.breakerRefusals.Add(ctx, 1, metric.WithAttributeSet(c.host.attrs))
	if c.span == nil || !c.span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.Int("resilient.attempt", c.attempts+1),
		attribute.String("resilient.breaker.state", e.State),
		attribute.Bool("resilient.breaker.remote", e.Remote),
	}
	if !e.Until.IsZero() {
		attrs = append(attrs, attribute.String("resilient.breaker.until", e.Until.UTC().Format(time.RFC3339Nano)))
	}
	c.event("resilient.circuit_open", attrs...)
}

// failed logs a call's final failure: at Warn, or at Info when the breaker
// refused the call before any attempt (those come in floods while a host is
// down, and the breaker's opening was logged at Warn already).
func (t *telemetry) failed(ctx context.Context, c *call, status int, err error) {
	l := t.cfg.logger
	level := slog.LevelWarn
	if c.attempts == 0 && errors.Is(err, ErrCircuitOpen) {
		level = slog.LevelInfo
	}
	if l == nil || !l.Enabled(ctx, level) {
		return
	}
	l.LogAttrs(ctx, level, "resilient: request failed",
		slog.String("method", c.method), slog.String("url", c.url()),
		slog.Int("status", status), slog.Int("attempts", c.attempts),
		slog.String("error", c.text(err.Error())), slog.String("trace_id", c.traceID()))
}

// hostAdded counts a new host's breaker as closed and precomputes its
// metric attributes.
func (t *telemetry) hostAdded(h *host) {
	h.attrs = attribute.NewSet(semconv.ServerAddress(h.key.host), serverPort(h.key.port), semconv.URLScheme(h.key.scheme))
	if h.cb != nil {
		t.state.Add(context.Background(), 1, metric.WithAttributeSet(h.withState("closed")))
	}
}

// hostDropped uncounts an evicted host's breaker.
func (t *telemetry) hostDropped(h *host) {
	if h.cb != nil {
		t.state.Add(context.Background(), -1, metric.WithAttributeSet(h.withState(stateNames[h.state.Load()])))
	}
}

// breakerTransition counts and logs a transition. It runs under gobreaker's
// lock: it must not call the breaker. gobreaker does not say which call
// caused it, so the log line names the host, not a trace.
func (t *telemetry) breakerTransition(h *host, from, to string) {
	ctx := context.Background()
	t.state.Add(ctx, -1, metric.WithAttributeSet(h.withState(from)))
	t.state.Add(ctx, 1, metric.WithAttributeSet(h.withState(to)))
	t.transitions.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(
		semconv.ServerAddress(h.key.host), serverPort(h.key.port),
		attribute.String("resilient.breaker.from", from), attribute.String("resilient.breaker.to", to))))
	if l := t.cfg.logger; l != nil {
		l.LogAttrs(ctx, slog.LevelWarn, "resilient: circuit breaker "+to,
			slog.String("host", h.name), slog.String("from", from), slog.String("to", to))
	}
}

// remoteOpen logs a breaker opened by another instance.
func (t *telemetry) remoteOpen(h *host, until time.Time) {
	if l := t.cfg.logger; l != nil {
		l.LogAttrs(context.Background(), slog.LevelWarn, "resilient: circuit breaker opened by another instance",
			slog.String("host", h.name), slog.Time("until", until))
	}
}

func (h *host) withState(s string) attribute.Set {
	return attribute.NewSet(semconv.ServerAddress(h.key.host), serverPort(h.key.port), attribute.String("resilient.breaker.state", s))
}

// serverPort is server.port, an int as the conventions want; a port that is
// not a number (never, from a parsed URL) is kept as a string.
func serverPort(port string) attribute.KeyValue {
	if n, err := strconv.Atoi(port); err == nil {
		return semconv.ServerPort(n)
	}
	return semconv.ServerPortKey.String(port)
}

// decorate sits between otelhttp and the network. It completes each
// attempt's CLIENT span with what otelhttp cannot know, the resend count
// (set on resends only, as the conventions ask: the first attempt has
// none), and replaces otelhttp's url.full, which keeps the query, with the
// redacted URL. An error whose message quotes a secret of the request is
// replaced by one that does not (see scrubbedError), so that neither the
// span's status nor the caller's error carries it.
type decorate struct{ next http.RoundTripper }

func (d decorate) RoundTrip(r *http.Request) (*http.Response, error) {
	c := callFrom(r.Context())
	if c == nil {
		return d.next.RoundTrip(r)
	}
	if s := trace.SpanFromContext(r.Context()); s.IsRecording() {
		// Each SetAttributes costs two allocations: only what is needed.
		if c.attempts > 1 {
			s.SetAttributes(semconv.HTTPRequestResendCount(c.attempts - 1))
		}
		// otelhttp drops the user info but keeps the query, the fragment
		// and an opaque URL's user info.
		if u := r.URL; u.Fragment != "" || u.Opaque != "" || c.t.redactor.HasSecret(u.RawQuery) {
			s.SetAttributes(semconv.URLFull(c.url()))
		}
	}
	resp, err := d.next.RoundTrip(r)
	if err != nil {
		err = c.scrubErr(err)
	}
	return resp, err
}

// scrubErr returns err, or a *scrubbedError when its message quotes a
// secret of the request.
func (c *call) scrubErr(err error) error {
	if msg := err.Error(); c.scrub(msg) != msg {
		return &scrubbedError{err: err, msg: c.scrub(msg)}
	}
	return err
}

// scrubbedError is an error whose message quoted a secret of the request
// (a base transport may return a *url.Error with the full URL, say): it
// reads as the original with the secrets redacted and unwraps to it, so
// errors.Is and errors.As see what they saw before.
type scrubbedError struct {
	err error
	msg string
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// ErrorType is the error.type of the original, for semconv.ErrorType.
func (e *scrubbedError) ErrorType() string { return semconv.ErrorType(e.err).Value.AsString() }

// Timeout reports whether the original is a timeout, as a net.Error would.
func (e *scrubbedError) Timeout() bool {
	var to interface{ Timeout() bool }
	return errors.As(e.err, &to) && to.Timeout()
}

// maxText bounds, in runes, a text the client did not write (an error
// from the base transport, a server's status line) in a span or log line.
const maxText = 300

// text returns s, which the client did not write, fit for a span or a log
// line: scrubbed of the request's secrets, then made one clean line of at
// most maxText runes (no control characters or invalid UTF-8, which a
// hostile server can put in a status line).
func (c *call) text(s string) string {
	return body.Excerpt([]byte(c.scrub(s)), maxText)
}

// minSecret is the shortest secret value scrub replaces inside a message:
// replacing shorter ones ("1", "en") would garble messages everywhere, and
// they protect little.
const minSecret = 4

// scrub returns msg without the secrets of c's request that an error
// message may quote: the URL (replaced by its redacted form), its user
// info, the values of secret query parameters, and the credentials in the
// Authorization, Proxy-Authorization and Cookie headers. It is for messages
// the client did not write (errors from the base transport, a server's
// status line) and runs on failure paths only.
func (c *call) scrub(msg string) string {
	u, h := c.req.URL, c.req.Header
	if u == nil || msg == "" {
		return msg
	}
	auth, pauth, cookie := h.Get("Authorization"), h.Get("Proxy-Authorization"), h.Get("Cookie")
	if u.User == nil && u.RawQuery == "" && auth == "" && pauth == "" && cookie == "" {
		return msg
	}
	var secrets []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if len(s) >= minSecret {
			secrets = append(secrets, s)
			if e := url.QueryEscape(s); e != s {
				secrets = append(secrets, e)
			}
		}
	}
	for _, v := range []string{auth, pauth} {
		add(v)
		if _, cred, ok := strings.Cut(v, " "); ok {
			add(cred)
		}
	}
	for part := range strings.SplitSeq(cookie, ";") {
		if _, v, ok := strings.Cut(part, "="); ok {
			add(v)
		}
	}
	if u.User != nil {
		add(u.User.String())
		add(u.User.Username())
		if p, ok := u.User.Password(); ok {
			add(p)
		}
	}
	for _, v := range c.t.redactor.SecretValues(u.RawQuery) {
		add(v)
		if dec, err := url.QueryUnescape(v); err == nil {
			add(dec)
		}
	}
	// Longest first, so that a secret inside another is not half replaced;
	// the whole URL first of all.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(secrets)+4)
	if c.url() != u.String() {
		pairs = append(pairs, u.String(), c.url())
	}
	for _, s := range secrets {
		pairs = append(pairs, s, "REDACTED")
	}
	return strings.NewReplacer(pairs...).Replace(msg)
}
