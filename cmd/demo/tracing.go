package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// newTracerProvider returns the tracer provider handed to the resilient
// client, so that its errors carry trace IDs. Without an endpoint, spans
// are recorded and dropped: the IDs exist, nothing is sent. With one,
// spans are exported over OTLP/HTTP to it, so the IDs can be looked up.
func newTracerProvider(ctx context.Context, endpoint string) (*sdktrace.TracerProvider, error) {
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "resilient-demo"))),
	}
	if endpoint != "" {
		eo, err := otlpOptions(endpoint)
		if err != nil {
			return nil, err
		}
		exp, err := otlptracehttp.New(ctx, eo...)
		if err != nil {
			return nil, fmt.Errorf("-otlp %s: %w", endpoint, err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// otlpOptions turns the -otlp value into exporter options.
func otlpOptions(endpoint string) ([]otlptracehttp.Option, error) {
	u, err := otlpURL(endpoint)
	if err != nil {
		return nil, err
	}
	return []otlptracehttp.Option{otlptracehttp.WithEndpointURL(u.String())}, nil
}

// otlpURL parses the -otlp value: host:port or an http(s) URL; a URL
// without a path sends to the standard /v1/traces.
func otlpURL(endpoint string) (*url.URL, error) {
	raw := endpoint
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("-otlp %q: want host:port or an http(s) URL such as http://localhost:4318", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u, nil
}

// checkCollector reports an error when nothing listens at the -otlp
// endpoint, so that a wrong endpoint fails before the run, not after it.
func checkCollector(ctx context.Context, endpoint string, timeout time.Duration) error {
	u, err := otlpURL(endpoint)
	if err != nil {
		return err
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot reach the OTLP collector at %s: %v", addr, err)
	}
	conn.Close()
	return nil
}
