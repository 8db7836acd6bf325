package resilient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/internal/testpeers"
)

// TestOTelCollector_retriedCallArrivesAsOneTrace sends a call that fails
// three times through a client set up as the README's Tracing section
// says (OTLP/HTTP exporter, batch processor, WithTracerProvider), to a
// server instrumented with otelhttp that exports too, and reads what a real
// OpenTelemetry Collector received: one trace, under the trace ID that the
// *StatusError names, holding the logical span, three CLIENT attempt spans
// with resend counts 0 (none), 1 and 2 and status 500, and the server's
// three SERVER spans beside them.
func TestOTelCollector_retriedCallArrivesAsOneTrace(t *testing.T) {
	col, err := testpeers.StartCollector()
	testpeers.Need(t, err)
	t.Cleanup(func() { _ = col.Stop() })
	ctx := context.Background()

	// The exporter's default transport is package-wide and keeps its idle
	// connections for 90 s; one of our own is closed at the end, so that the
	// goroutine-leak check does not see them. A program would not bother.
	exportTransport := &http.Transport{}
	t.Cleanup(exportTransport.CloseIdleConnections)
	newProvider := func(service string) *sdktrace.TracerProvider {
		exp, err := otlptracehttp.New(ctx,
			otlptracehttp.WithEndpointURL("http://"+col.HTTPEndpoint+"/v1/traces"),
			otlptracehttp.WithHTTPClient(&http.Client{Transport: exportTransport}))
		if err != nil {
			t.Fatal(err)
		}
		return sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(exp),
			sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))))
	}

	// The server: 500 on every request, with its own spans.
	serverTP := newProvider("orders-server")
	srv := httptest.NewServer(otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "database unavailable", http.StatusInternalServerError)
	}), "GET /orders/{id}", otelhttp.WithTracerProvider(serverTP), otelhttp.WithPropagators(propagation.TraceContext{})))
	defer srv.Close()

	// The application.
	tp := newProvider("checkout")
	client := resilient.New(
		resilient.WithTracerProvider(tp),
		resilient.WithRetry(resilient.Retry{Max: 2, MinWait: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond}),
	)
	_, err = client.Get(srv.URL + "/orders/42")
	resilient.Close(client)
	var se *resilient.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *StatusError", err)
	}
	if se.Attempts != 3 || se.StatusCode != 500 || len(se.TraceID) != 32 {
		t.Fatalf("StatusError: %d attempts, status %d, trace %q; want 3, 500 and a trace ID", se.Attempts, se.StatusCode, se.TraceID)
	}
	if !strings.Contains(err.Error(), "trace "+se.TraceID) {
		t.Errorf("Error() = %q does not name trace %s", err, se.TraceID)
	}

	// Shutting the providers down flushes their batches to the collector.
	srv.Close()
	for _, p := range []*sdktrace.TracerProvider{tp, serverTP} {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := p.Shutdown(sctx); err != nil {
			t.Fatalf("flushing spans to the collector: %v", err)
		}
		cancel()
	}

	// 1 logical + 3 attempts + 3 server spans, once the collector has
	// written them all.
	var spans []collectedSpan
	deadline := time.Now().Add(15 * time.Second)
	for {
		log, err := col.Log()
		if err != nil {
			t.Fatal(err)
		}
		spans = collectedSpans(log, se.TraceID)
		if len(spans) >= 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector received %d spans of trace %s, want 7; its log:\n%s", len(spans), se.TraceID, log)
		}
		time.Sleep(100 * time.Millisecond)
	}

	var logical, attempts, server []collectedSpan
	for _, s := range spans {
		switch s.kind {
		case "Internal":
			logical = append(logical, s)
		case "Client":
			attempts = append(attempts, s)
		case "Server":
			server = append(server, s)
		}
	}
	if len(logical) != 1 || len(attempts) != 3 || len(server) != 3 {
		t.Fatalf("trace %s holds %d logical, %d client and %d server spans; want 1, 3 and 3:\n%+v", se.TraceID, len(logical), len(attempts), len(server), spans)
	}
	l := logical[0]
	if l.name != "resilient GET" || l.status != "Error" || l.attrs["resilient.attempts"] != "Int(3)" || l.attrs["http.response.status_code"] != "Int(500)" {
		t.Errorf("logical span %+v: want resilient GET, status Error, 3 attempts, status code 500", l)
	}
	if l.events["resilient.retry"] != 2 {
		t.Errorf("logical span has events %v, want two resilient.retry", l.events)
	}
	resends := map[string]bool{}
	attemptIDs := map[string]bool{}
	for _, a := range attempts {
		if a.parent != l.id {
			t.Errorf("attempt %s has parent %s, want the logical span %s", a.id, a.parent, l.id)
		}
		if a.status != "Error" || a.attrs["http.response.status_code"] != "Int(500)" || a.attrs["error.type"] != "Str(500)" {
			t.Errorf("attempt %+v: want status Error, status code 500, error.type 500", a)
		}
		rc, ok := a.attrs["http.request.resend_count"]
		if !ok {
			rc = "Int(0)" // the first attempt is not a resend and has none
		}
		resends[rc] = true
		attemptIDs[a.id] = true
	}
	for _, want := range []string{"Int(0)", "Int(1)", "Int(2)"} {
		if !resends[want] {
			t.Errorf("no attempt with http.request.resend_count %s; got %v", want, resends)
		}
	}
	for _, s := range server {
		if !attemptIDs[s.parent] {
			t.Errorf("server span %s has parent %s, not one of the attempts", s.id, s.parent)
		}
		if s.resource != "orders-server" {
			t.Errorf("server span from service %q", s.resource)
		}
	}
}

// collectedSpan is a span as the collector's debug exporter printed it.
type collectedSpan struct {
	traceID, parent, id, name, kind, status, resource string
	attrs                                             map[string]string // key: Type(value), e.g. Int(500)
	events                                            map[string]int    // event name: count
}

var debugField = regexp.MustCompile(`^\s*(Trace ID|Parent ID|ID|Name|Kind|Status code)\s*: ?(.*)$`)
var debugAttr = regexp.MustCompile(`^\s*-> ([^:]+): (.*)$`)

// collectedSpans parses the debug exporter's detailed output (collector
// v0.165.0) and returns the spans of trace traceID. The output is a series
// of blocks:
//
//	2026-11-25T17:03:24.778Z	info	ResourceSpans #0
//	Resource attributes:
//	     -> service.name: Str(checkout)
//	ScopeSpans #0
//	Span #0
//	    Trace ID       : 4bf9...
//	    Parent ID      : 00f0...
//	    ID             : 53995c3f42cd8ad8
//	    Name           : resilient GET
//	    Kind           : Internal
//	    Status code    : Error
//	Attributes:
//	     -> http.request.method: Str(GET)
//	Events:
//	SpanEvent #0
//	     -> Name: resilient.retry
func collectedSpans(log, traceID string) []collectedSpan {
	var out []collectedSpan
	var cur *collectedSpan
	var service, section string
	flush := func() {
		if cur != nil && cur.traceID == traceID {
			out = append(out, *cur)
		}
		cur = nil
	}
	for line := range strings.Lines(log) {
		line = strings.TrimRight(line, "\r\n")
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.Contains(trimmed, "ResourceSpans #"): // after the log line's prefix
			flush()
			section, service = "resource", ""
			continue
		case strings.HasPrefix(trimmed, "ScopeSpans #"):
			flush()
			section = "scope"
			continue
		case strings.HasPrefix(trimmed, "Span #"):
			flush()
			cur = &collectedSpan{resource: service, attrs: map[string]string{}, events: map[string]int{}}
			section = "span"
			continue
		case trimmed == "Attributes:" && cur != nil:
			section = "attrs"
			continue
		case trimmed == "Events:" || strings.HasPrefix(trimmed, "SpanEvent #"):
			section = "events"
			continue
		case trimmed == "Links:" || strings.HasPrefix(trimmed, "SpanLink #"):
			section = "links"
			continue
		case !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") && trimmed != "" &&
			!strings.HasPrefix(trimmed, "->") && section != "" && !debugField.MatchString(line) &&
			!strings.HasPrefix(trimmed, "Resource ") && !strings.HasPrefix(trimmed, "InstrumentationScope") &&
			!strings.HasPrefix(trimmed, "ScopeSpans ") && !strings.HasPrefix(trimmed, "Span ") && !strings.HasPrefix(trimmed, "Scope "):
			// The collector's own log lines end a block.
			flush()
			section = ""
			continue
		}
		if m := debugAttr.FindStringSubmatch(line); m != nil {
			switch {
			case section == "resource" && m[1] == "service.name":
				service = strings.TrimSuffix(strings.TrimPrefix(m[2], "Str("), ")")
			case section == "attrs" && cur != nil:
				cur.attrs[m[1]] = m[2]
			case section == "events" && cur != nil && m[1] == "Name":
				cur.events[m[2]]++
			}
			continue
		}
		if m := debugField.FindStringSubmatch(line); m != nil && cur != nil && section == "span" {
			v := strings.TrimSpace(m[2])
			switch m[1] {
			case "Trace ID":
				cur.traceID = v
			case "Parent ID":
				cur.parent = v
			case "ID":
				cur.id = v
			case "Name":
				cur.name = v
			case "Kind":
				cur.kind = v
			case "Status code":
				cur.status = v
			}
		}
	}
	flush()
	return out
}
