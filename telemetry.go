package resilient

import (
	"context"
	"log/slog"
	"net/http"
	"reflect"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName is the instrumentation scope of the client's spans and
// metrics.
const instrumentationName = "github.com/resilient-http/resilient"

// telemetry holds the client's instruments and logger. Spans and metrics go
// to the providers given by option, else to the otel globals, resolved per
// call so that a provider installed after New is used.
type telemetry struct {
	cfg *config

	tracer atomic.Pointer[tracerEntry] // cache for the resolved provider

	retries         metric.Int64Counter
	budgetRefusals  metric.Int64Counter
	breakerRefusals metric.Int64Counter
	transitions     metric.Int64Counter
	state           metric.Int64UpDownCounter
}

type tracerEntry struct {
	tp     trace.TracerProvider
	tracer trace.Tracer
}

func newTelemetry(cfg *config) *telemetry {
	t := &telemetry{cfg: cfg}
	mp := cfg.mp
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentationName)
	// Instrument errors come only from invalid names; ours are constant and
	// valid, and the returned instruments are usable no-ops on error.
	t.retries, _ = m.Int64Counter("resilient.retries",
		metric.WithUnit("{retry}"),
		metric.WithDescription("Retries sent after a retryable failure."))
	t.budgetRefusals, _ = m.Int64Counter("resilient.retry_budget.refusals",
		metric.WithUnit("{retry}"),
		metric.WithDescription("Retries refused because the host's retry budget was spent."))
	t.breakerRefusals, _ = m.Int64Counter("resilient.breaker.refusals",
		metric.WithUnit("{request}"),
		metric.WithDescription("Attempts refused without a request because the host's circuit breaker was open."))
	t.transitions, _ = m.Int64Counter("resilient.breaker.transitions",
		metric.WithUnit("{transition}"),
		metric.WithDescription("Circuit breaker state changes."))
	t.state, _ = m.Int64UpDownCounter("resilient.breaker.state",
		metric.WithUnit("{breaker}"),
		metric.WithDescription("Per-host circuit breakers in each state (closed, open, half-open)."))
	return t
}

// unset reports whether v is one of otel's default global delegates or an
// explicit no-op: then telemetry would be dropped and need not be produced.
func unset(v any) bool {
	t := reflect.TypeOf(v)
	if t == nil {
		return true
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.PkgPath() {
	case "go.opentelemetry.io/otel/internal/global",
		"go.opentelemetry.io/otel/trace/noop",
		"go.opentelemetry.io/otel/metric/noop":
		return true
	}
	return false
}

// instrumented reports whether a call with ctx needs spans, metrics or
// propagation. It is false when no provider was given and the otel globals
// were never set, so that a client without OpenTelemetry pays nothing.
func (t *telemetry) instrumented(ctx context.Context) bool {
	if t.cfg.tp != nil || t.cfg.mp != nil {
		return true
	}
	if !unset(otel.GetTracerProvider()) || !unset(otel.GetMeterProvider()) {
		return true
	}
	return !unset(otel.GetTextMapPropagator()) && trace.SpanContextFromContext(ctx).IsValid()
}

// tracerFor returns the tracer for a call: the option's provider, else the
// caller's span's provider, else the global one.
func (t *telemetry) tracerFor(ctx context.Context) trace.Tracer {
	tp := t.cfg.tp
	if tp == nil {
		if s := trace.SpanFromContext(ctx); s.SpanContext().IsValid() {
			tp = s.TracerProvider()
		} else {
			tp = otel.GetTracerProvider()
		}
	}
	if e := t.tracer.Load(); e != nil && e.tp == tp {
		return e.tracer
	}
	e := &tracerEntry{tp: tp, tracer: tp.Tracer(instrumentationName)}
	t.tracer.Store(e)
	return e.tracer
}

// spanNames holds the logical span's name per common method, so that naming
// it allocates nothing.
var spanNames = map[string]string{
	http.MethodGet: "resilient GET", http.MethodHead: "resilient HEAD",
	http.MethodPost: "resilient POST", http.MethodPut: "resilient PUT",
	http.MethodPatch: "resilient PATCH", http.MethodDelete: "resilient DELETE",
	http.MethodOptions: "resilient OPTIONS", http.MethodTrace: "resilient TRACE",
}

// startCall starts the span of the logical request. Its children are the
// CLIENT spans of the attempts (made by otelhttp), so that every attempt of
// one call shares one trace ID even when the caller's context has no span,
// and the waits between attempts, budget and breaker decisions have a place
// to be recorded as events.
func (t *telemetry) startCall(ctx context.Context, c *call) (context.Context, trace.Span) {
	name, ok := spanNames[c.method]
	if !ok {
		name = "resilient HTTP"
	}
	return t.tracerFor(ctx).Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(c.method),
			semconv.URLFull(c.url()),
			semconv.ServerAddress(c.host.key.host),
		))
}

// endCall records the final outcome on the logical span and ends it.
func (t *telemetry) endCall(c *call, status int, err error) {
	s := c.span
	if s == nil {
		return
	}
	s.SetAttributes(attribute.Int("resilient.attempts", c.attempts))
	if status != 0 {
		s.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	switch {
	case err != nil:
		s.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
		s.SetStatus(codes.Error, err.Error())
	case status >= 500:
		s.SetAttributes(semconv.ErrorTypeKey.String(http.StatusText(status)))
		s.SetStatus(codes.Error, http.StatusText(status))
	}
	s.End()
}

// errorType names err's class for error.type, with low cardinality.
func errorType(err error) string {
	t := reflect.TypeOf(err)
	if t == nil {
		return "_OTHER"
	}
	return t.String()
}

// event adds a span event to the logical span, when there is one.
func (c *call) event(name string, attrs ...attribute.KeyValue) {
	if c.span != nil {
		c.span.AddEvent(name, trace.WithAttributes(attrs...))
	}
}

// retrying records a retry: metric, span event, debug log.
func (t *telemetry) retrying(ctx context.Context, c *call, wait time.Duration, reason string) {
	t.retries.Add(ctx, 1, metric.WithAttributeSet(c.host.attrs))
	c.event("retry",
		attribute.Int("resilient.attempt", c.attempts+1),
		attribute.Float64("resilient.wait_seconds", wait.Seconds()),
		attribute.String("resilient.reason", reason))
	if l := t.cfg.logger; l != nil && l.Enabled(ctx, slog.LevelDebug) {
		l.LogAttrs(ctx, slog.LevelDebug, "resilient: retrying",
			slog.String("method", c.method), slog.String("url", c.url()),
			slog.Int("attempt", c.attempts+1), slog.Duration("wait", wait),
			slog.String("reason", reason), slog.String("trace_id", c.traceID()))
	}
}

// stopped records why retrying stopped early, when a decision (not the
// outcome) stopped it.
func (t *telemetry) stopped(ctx context.Context, c *call, why error) {
	switch why {
	case ErrRetryBudgetExhausted:
		t.budgetRefusals.Add(ctx, 1, metric.WithAttributeSet(c.host.attrs))
		c.event("retry_budget_exhausted")
	case ErrRetryAfterTooLong:
		c.event("retry_after_too_long", attribute.Float64("resilient.retry_after_seconds", c.retryAfter.Seconds()))
	case ErrDeadline:
		c.event("deadline_too_close")
	}
}

// refused records an attempt refused by the breaker.
func (t *telemetry) refused(ctx context.Context, c *call, e *CircuitOpenError) {
	t.breakerRefusals.Add(ctx, 1, metric.WithAttributeSet(c.host.attrs))
	attrs := []attribute.KeyValue{attribute.String("resilient.breaker.state", e.State), attribute.Bool("resilient.breaker.remote", e.Remote)}
	if !e.Until.IsZero() {
		attrs = append(attrs, attribute.String("resilient.breaker.until", e.Until.UTC().Format(time.RFC3339Nano)))
	}
	c.event("circuit_open", attrs...)
}

// failed logs a call's final failure.
func (t *telemetry) failed(ctx context.Context, c *call, status int, err error) {
	l := t.cfg.logger
	if l == nil || !l.Enabled(ctx, slog.LevelWarn) {
		return
	}
	l.LogAttrs(ctx, slog.LevelWarn, "resilient: request failed",
		slog.String("method", c.method), slog.String("url", c.url()),
		slog.Int("status", status), slog.Int("attempts", c.attempts),
		slog.String("error", err.Error()), slog.String("trace_id", c.traceID()))
}

// hostAdded counts a new host's breaker as closed and precomputes its
// metric attributes.
func (t *telemetry) hostAdded(h *host) {
	h.attrs = attribute.NewSet(semconv.ServerAddress(h.key.host), attribute.String("server.port", h.key.port), attribute.String("url.scheme", h.key.scheme))
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
// lock: it must not call the breaker.
func (t *telemetry) breakerTransition(h *host, from, to string) {
	ctx := context.Background()
	t.state.Add(ctx, -1, metric.WithAttributeSet(h.withState(from)))
	t.state.Add(ctx, 1, metric.WithAttributeSet(h.withState(to)))
	t.transitions.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(
		semconv.ServerAddress(h.key.host), attribute.String("server.port", h.key.port),
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
	return attribute.NewSet(semconv.ServerAddress(h.key.host), attribute.String("server.port", h.key.port), attribute.String("resilient.breaker.state", s))
}

// decorate sits between otelhttp and the network: it completes each
// attempt's CLIENT span with what otelhttp cannot know (the resend count)
// and replaces url.full with the redacted URL.
type decorate struct{ next http.RoundTripper }

func (d decorate) RoundTrip(r *http.Request) (*http.Response, error) {
	if c := callFrom(r.Context()); c != nil {
		if s := trace.SpanFromContext(r.Context()); s.IsRecording() {
			s.SetAttributes(
				semconv.HTTPRequestResendCount(c.attempts-1),
				semconv.URLFull(c.url()),
			)
		}
	}
	return d.next.RoundTrip(r)
}
