package resilient

// This file holds the spans: the tracer for a call, the propagator every
// attempt injects, span names, and the call span's start, end and events.
// What a trace looks like, and why there is a span per call, is in
// telemetry.go's header.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

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
// for any error, error.type as the attempts' spans have it. A failed call's
// status description is the error's message without the server's words
// and the IDs (shortText), redacted, and the request ID the server sent
// is resilient.request_id: the span says what happened, how long it took
// and why retrying stopped, as the error does.
//
// A call that succeeded gets http.request.method, resilient.attempts and
// http.response.status_code; its attempts' spans say where it went. A call
// that failed also gets url.full, server.address and server.port, so that
// its span names the target even when no attempt was sent (the breaker
// refused it). Each attribute costs: on the success path, this keeps the
// span's allocations to the fewest (BenchmarkTelemetry_logicalSpan).
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
		if id := RequestID(err); id != "" {
			a = append(a, attribute.String(requestIDKey, id))
		}
		s.SetAttributes(a...)
		s.SetStatus(codes.Error, c.text(shortText(err)))
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

// requestIDKey is the failed call span's attribute for the request ID
// that the server sent with its error (StatusError.RequestID): no semantic
// convention names one.
const requestIDKey = "resilient.request_id"

// event adds a span event to the logical span, when there is one.
func (c *call) event(name string, attrs ...attribute.KeyValue) {
	if c.span != nil && c.span.IsRecording() {
		c.span.AddEvent(name, trace.WithAttributes(attrs...))
	}
}
