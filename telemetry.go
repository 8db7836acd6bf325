package resilient

// This file holds the client's telemetry other than spans: when a call is
// instrumented at all, the metrics (counters, the breaker state and the
// admission gauge), the span events and log lines of retries, refusals and
// breaker transitions. The rest of the package's OpenTelemetry code is in
// tracing.go (the call's span, the propagator), hedge_telemetry.go (the
// hedge counters), scrub.go (decorate, which completes otelhttp's attempt
// spans) and client.go (which wraps the base transport in otelhttp). The
// request path calls the hooks (startCall and endCall in tracing.go;
// retrying, waitingForProbe, stopped, refused, failed, breakerTransition
// and remoteOpen here) and makes no span, metric or log line itself; it
// only holds the call's span (call.go) and each host's metric attributes
// (hosts.go).
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
// call (BenchmarkTelemetry_logicalSpan measures it, BenchmarkOTel the
// whole client against otelhttp alone; bench/RESULTS.md and
// CONTRIBUTING.md's "What telemetry costs" have the figures). Its
// attributes are only what the attempts' spans do not already say, set in
// one batch. When tracing is off it costs nothing.
//
// The logical span ends when RoundTrip returns, once the response headers
// are in; the last attempt's span, like every otelhttp span, ends when the
// response body is read to the end or closed.
//
// # When telemetry is off
//
// otelhttp costs microseconds and a score of allocations per request even
// with the no-op providers (bench/RESULTS.md), so a call takes the instrumented path only when it can
// matter (see instrumented): a provider was given by option, a global one
// was set, or the caller's context carries a span context, which must then
// be propagated. Otherwise no span is made, no header is injected, and
// errors carry no trace ID.

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
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
	meter           metric.Meter
	hedges          hedgeInstruments // hedge_telemetry.go
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
	t.meter = m
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
	t.hedges = newHedgeInstruments(m)
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
// provider of a span that came from elsewhere (trace's own no-op). The
// delegates' types are internal, so only their package path tells them;
// it keeps a program that sets no provider off otelhttp's path, 19 µs a
// call (TestNoopProviders_otelGlobalsAtStart says how it was measured, and
// fails when otel moves them).
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
// a hundred times what comparing two interfaces does.
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

// retrying records a retry about to wait and be sent: metric, span event,
// debug log line.
func (t *telemetry) retrying(c *call, wait time.Duration, reason string) {
	t.retries.Add(c.ctx, 1, metric.WithAttributeSet(c.host.attrs))
	l := t.cfg.logger
	logging := l != nil && l.Enabled(c.attemptCtx(), slog.LevelDebug)
	if !logging && (c.span == nil || !c.span.IsRecording()) {
		return
	}
	reason = c.text(reason)
	c.event("resilient.retry",
		attribute.Int("resilient.attempt", c.attempts+1),
		attribute.Float64("resilient.wait_seconds", wait.Seconds()),
		attribute.String("resilient.reason", reason))
	if logging {
		attrs := []slog.Attr{slog.String("method", c.method), slog.String("url", c.url()),
			slog.Int("attempt", c.attempts+1), slog.Duration("wait", wait),
			slog.String("reason", reason)}
		if id := c.traceID(); id != "" {
			attrs = append(attrs, slog.String("trace_id", id))
		}
		l.LogAttrs(c.attemptCtx(), slog.LevelDebug, "resilient: retrying", attrs...)
	}
}

// waitingForProbe records a refused attempt that waits for the breaker's
// next probe (waitForProbe): a span event.
func (t *telemetry) waitingForProbe(c *call, wait time.Duration) {
	if c.span == nil || !c.span.IsRecording() {
		return
	}
	c.event("resilient.wait_for_probe",
		attribute.Int("resilient.attempt", c.attempts+1),
		attribute.Float64("resilient.wait_seconds", wait.Seconds()))
}

// stopped records why retrying stopped early, when a decision (not the
// outcome) stopped it; retryAfter is what the server asked for, if it did.
func (t *telemetry) stopped(c *call, why error, retryAfter time.Duration) {
	var co *CircuitOpenError
	switch {
	case why == ErrRetryBudgetExhausted:
		t.budgetRefusals.Add(c.ctx, 1, metric.WithAttributeSet(c.host.attrs))
		c.event("resilient.retry_budget_exhausted", attribute.Int("resilient.attempt", c.attempts+1))
	case why == ErrRetryAfterTooLong:
		c.event("resilient.retry_after_too_long",
			attribute.Float64("resilient.retry_after_seconds", retryAfter.Seconds()),
			attribute.Float64("resilient.max_wait_seconds", c.retryPolicy().MaxWait.Seconds()))
	case why == ErrDeadline:
		c.event("resilient.deadline_too_close", attribute.Int("resilient.attempt", c.attempts+1))
	case why == ErrNotIdempotent:
		c.event("resilient.not_idempotent", attribute.Int("resilient.attempt", c.attempts+1))
	case why == ErrBodyNotReplayable:
		c.event("resilient.body_not_replayable", attribute.Int64("resilient.replay_limit", t.cfg.replayMax))
	case errors.As(why, &co):
		t.refused(c, co)
	}
}

// refused records an attempt, first or retry, that the breaker refused.
func (t *telemetry) refused(c *call, e *CircuitOpenError) {
	t.breakerRefusals.Add(c.ctx, 1, metric.WithAttributeSet(c.host.attrs))
	if c.span == nil || !c.span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.Int("resilient.attempt", c.attempts+1),
		attribute.String("resilient.breaker.state", e.State.String()),
		attribute.Bool("resilient.breaker.remote", e.Remote),
	}
	if e.Reason != "" {
		attrs = append(attrs, attribute.String("resilient.breaker.reason", e.Reason))
	}
	if !e.Until.IsZero() {
		attrs = append(attrs, attribute.String("resilient.breaker.until", e.Until.UTC().Format(time.RFC3339Nano)))
	}
	c.event("resilient.circuit_open", attrs...)
}

// failed logs a call's final failure: at Warn, or at Info when the breaker
// refused the call before any attempt (those come in floods while a host is
// down, and the breaker's opening was logged at Warn already).
func (t *telemetry) failed(c *call, status int, err error) {
	l := t.cfg.logger
	level := slog.LevelWarn
	if c.attempts == 0 && errors.Is(err, ErrCircuitOpen) {
		level = slog.LevelInfo
	}
	if l == nil || !l.Enabled(c.attemptCtx(), level) {
		return
	}
	attrs := []slog.Attr{slog.String("method", c.method), slog.String("url", c.url()),
		slog.Int("status", status), slog.Int("attempts", c.attempts),
		slog.String("error", c.text(err.Error()))}
	// The IDs only when there are some: an empty trace_id reads as a bug.
	if id := c.traceID(); id != "" {
		attrs = append(attrs, slog.String("trace_id", id))
	}
	if id := RequestID(err); id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	l.LogAttrs(c.attemptCtx(), level, "resilient: request failed", attrs...)
}

// hostAdded counts a new host's breaker as closed and precomputes its
// metric attributes.
func (t *telemetry) hostAdded(h *host) {
	h.attrs = attribute.NewSet(semconv.ServerAddress(h.key.host), serverPort(h.key.port), semconv.URLScheme(h.key.scheme))
	if h.br != nil {
		t.state.Add(context.Background(), 1, metric.WithAttributeSet(h.withState("closed")))
	}
}

// hostDropped uncounts an evicted host's breaker.
func (t *telemetry) hostDropped(h *host) {
	if h.br != nil {
		// gobreaker's state, which its last change counted.
		t.state.Add(context.Background(), -1, metric.WithAttributeSet(h.withState(stateNames[h.br.cb.State()])))
	}
}

// observeAdmission reports, at each metric collection, the share of
// attempts each host admits (resilient.admission: 1 closed, 0 open, in
// between while ramping up), and the share of calls that retries may add
// to it now (resilient.retry_budget.share: Retry.Max while retries are
// free, RetryBudget.Ratio while the host shows that load hurts it). It
// returns the function that stops it.
func (t *telemetry) observeAdmission(hosts *registry, clk clock) func() {
	g, err := t.meter.Float64ObservableGauge("resilient.admission",
		metric.WithUnit("1"),
		metric.WithDescription("Share of attempts each host's admission lets through: 1 when closed, 0 when open (probes aside), between while ramping up after an outage."))
	if err != nil {
		return func() {}
	}
	share, err := t.meter.Float64ObservableGauge("resilient.retry_budget.share",
		metric.WithUnit("1"),
		metric.WithDescription("Share of the calls that retries may add to each host now: Retry.Max while the host shows no sign that load hurts it, at most RetryBudget.Ratio while it does (latency above its baseline, attempt timeouts, 429)."))
	if err != nil {
		return func() {}
	}
	reg, err := t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := clk.Now()
		hosts.each(func(h *host) {
			if h.br != nil {
				o.ObserveFloat64(g, h.admission(now), metric.WithAttributeSet(h.attrs))
			}
			if h.budget != nil {
				v, _, _ := h.budget.Limit(now.UnixNano(), float64(h.t.cfg.retry.Max))
				o.ObserveFloat64(share, v, metric.WithAttributeSet(h.attrs))
			}
		})
		return nil
	}, g, share)
	if err != nil {
		return func() {}
	}
	return func() { _ = reg.Unregister() }
}

// breakerTransition counts and logs a transition. It runs under gobreaker's
// lock: it must not call the breaker. gobreaker does not say which call
// caused it, so the log line names the host, not a trace. The edges of an
// outage (opening from closed, closing) are logged at Warn; the flips
// between open and half-open of each probe at Debug.
func (t *telemetry) breakerTransition(h *host, from, to string) {
	ctx := context.Background()
	t.state.Add(ctx, -1, metric.WithAttributeSet(h.withState(from)))
	t.state.Add(ctx, 1, metric.WithAttributeSet(h.withState(to)))
	t.transitions.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(
		semconv.ServerAddress(h.key.host), serverPort(h.key.port),
		attribute.String("resilient.breaker.from", from), attribute.String("resilient.breaker.to", to))))
	level := slog.LevelDebug
	if from == "closed" || to == "closed" {
		level = slog.LevelWarn
	}
	if l := t.cfg.logger; l != nil && l.Enabled(ctx, level) {
		l.LogAttrs(ctx, level, "resilient: circuit breaker "+to,
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
