package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/go-resty/resty/v2"
	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/resilient-http/resilient"
)

// Profile selects how a peer is configured for a measurement.
type Profile int

const (
	// Defaults builds each peer as its documentation's first example does.
	// The exceptions, the same in every measurement, are written in
	// Peer.About.
	Defaults Profile = iota
	// NoRetry turns retries off and keeps breakers from ever opening, so
	// that every call is exactly one attempt: the cost of a failure, not of
	// a refusal.
	NoRetry
	// FastRetry makes every peer that can retry do 3 retries on 5xx with
	// waits of a millisecond or two, with breakers that never open and no
	// retry budget: it shows what a peer does on retries, quickly.
	FastRetry
)

// Config is what a peer is built from.
type Config struct {
	// Base is the transport under the peer. nil means the peer's own
	// connection pool: LoopbackTransport() for every peer but resilient,
	// and for resilient the pool resilient.New makes (a clone of
	// http.DefaultTransport with MaxIdleConnsPerHost 100 and
	// ResponseHeaderTimeout set to the attempt timeout).
	Base http.RoundTripper
	// Profile is the configuration; Defaults when zero.
	Profile Profile
	// TracerProvider is given to the peers that trace (resilient-otel,
	// otelhttp). nil means the otel global, which nothing here sets.
	TracerProvider trace.TracerProvider
}

// Call is one logical request.
type Call struct {
	Method string      // "GET", "PUT", …
	URL    string      // absolute
	Body   []byte      // nil: no body
	Header http.Header // added to the request; nil: none
	// KeepBody returns the response body in Outcome.Body; otherwise it is
	// read and discarded.
	KeepBody bool
}

// Outcome is what the caller of a peer gets back from a Call.
type Outcome struct {
	// Status is the final response's status code, 0 when the caller got
	// none (not even inside an error).
	Status int
	// Body is the final response's body as the caller can read it, when
	// Call.KeepBody is set.
	Body []byte
	// BodyFrom says where the caller finds the final response's body:
	// "response", "StatusError.Body", "ExceededError.LastResult", or ""
	// when it is lost.
	BodyFrom string
	// BodyErr is the error reading that body, if any.
	BodyErr error
	// Err is the error the peer returned.
	Err error
}

// OK reports whether the call succeeded with a 2xx status.
func (o Outcome) OK() bool { return o.Err == nil && o.Status >= 200 && o.Status < 300 }

// Client is a peer, built, ready to make calls. It is safe for concurrent
// use.
type Client interface {
	// Do makes the call as the peer's documentation shows, reads the body
	// and closes it.
	Do(ctx context.Context, c *Call) Outcome
	// CloseIdleConnections closes the idle connections of the peer's pool.
	CloseIdleConnections()
}

// Peer is one library in the comparison.
type Peer struct {
	// Name is the peer's name in benchmark names and tables: no spaces or
	// slashes.
	Name string
	// About says what it is and how it is configured, for the tables.
	About string
	// New builds the peer.
	New func(Config) Client
}

// Peers returns every peer, bare net/http first: it is the baseline of
// every table.
func Peers() []Peer {
	return []Peer{
		{Name: "bare", About: "net/http `http.Client`, no wrapper", New: newBare},
		{Name: "resilient", About: "`resilient.New()` (loopback) or `NewTransport(base)`; defaults, no otel providers set", New: newResilient(false)},
		{Name: "resilient-otel", About: "as resilient, with `WithTracerProvider(sdktrace.NewTracerProvider())`", New: newResilient(true)},
		{Name: "otelhttp", About: "`otelhttp.NewTransport(base)` with the same SDK tracer provider", New: newOtelhttp},
		{Name: "retryablehttp", About: "go-retryablehttp `Client.Do`, defaults but `Logger: nil`", New: newRetryable(false)},
		{Name: "retryablehttp-std", About: "go-retryablehttp `StandardClient()`, defaults but `Logger: nil`", New: newRetryable(true)},
		{Name: "failsafe", About: "failsafe-go `failsafehttp.NewRoundTripper` with `NewRetryPolicyBuilder()` and a circuit breaker that counts 5xx", New: newFailsafe},
		{Name: "resty", About: "resty v2 `resty.New().SetTransport(base)`, `R().Execute`", New: newResty},
	}
}

// PeerNamed returns the peer called name; it panics if there is none.
func PeerNamed(name string) Peer {
	for _, p := range Peers() {
		if p.Name == name {
			return p
		}
	}
	panic("bench: no peer named " + name)
}

// LoopbackTransport returns the transport the peers get on loopback: a
// clone of http.DefaultTransport with MaxIdleConnsPerHost raised to 100, as
// resilient.New raises it, so that parallel calls do not churn connections
// for some peers and not others.
func LoopbackTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 100
	return tr
}

func baseOf(cfg Config) http.RoundTripper {
	if cfg.Base != nil {
		return cfg.Base
	}
	return LoopbackTransport()
}

// stdClient is a peer used through a plain *http.Client.
type stdClient struct{ hc *http.Client }

func (s stdClient) CloseIdleConnections() { s.hc.CloseIdleConnections() }

func (s stdClient) Do(ctx context.Context, c *Call) Outcome {
	var body io.Reader
	if c.Body != nil {
		body = bytes.NewReader(c.Body)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, body)
	if err != nil {
		return Outcome{Err: err}
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	resp, err := s.hc.Do(req)
	return finish(resp, err, c.KeepBody)
}

// finish reads and closes the body the caller got, wherever it is: in the
// response, in a *resilient.StatusError, or in failsafe-go's
// ExceededError.LastResult, whose body a careful caller must close.
func finish(resp *http.Response, err error, keep bool) Outcome {
	o := Outcome{Err: err}
	if resp != nil {
		o.Status, o.BodyFrom = resp.StatusCode, "response"
		o.Body, o.BodyErr = readBody(resp.Body, keep)
		return o
	}
	var se *resilient.StatusError
	if errors.As(err, &se) {
		o.Status, o.BodyFrom = se.StatusCode, "StatusError.Body"
		if keep {
			o.Body = se.Body
		}
		return o
	}
	var ee retrypolicy.ExceededError
	if errors.As(err, &ee) {
		if r, ok := ee.LastResult.(*http.Response); ok && r != nil {
			o.Status, o.BodyFrom = r.StatusCode, "ExceededError.LastResult"
			o.Body, o.BodyErr = readBody(r.Body, keep)
		}
	}
	return o
}

func readBody(rc io.ReadCloser, keep bool) ([]byte, error) {
	defer rc.Close()
	if keep {
		return io.ReadAll(rc)
	}
	_, err := io.Copy(io.Discard, rc)
	return nil, err
}

func newBare(cfg Config) Client {
	return stdClient{&http.Client{Transport: baseOf(cfg)}}
}

// neverOpens is a breaker policy that counts every outcome and never opens.
var neverOpens = resilient.Breaker{ConsecutiveFailures: math.MaxUint32, MinRequests: math.MaxUint32}

func newResilient(traced bool) func(Config) Client {
	return func(cfg Config) Client {
		var opts []resilient.Option
		switch cfg.Profile {
		case NoRetry:
			opts = append(opts, resilient.WithRetry(resilient.Retry{Max: -1}), resilient.WithBreaker(neverOpens))
		case FastRetry:
			opts = append(opts, resilient.WithRetry(resilient.Retry{Max: 3, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond,
				Budget: resilient.RetryBudget{Disabled: true}}), resilient.WithBreaker(neverOpens))
		}
		if traced {
			opts = append(opts, resilient.WithTracerProvider(cfg.TracerProvider))
		}
		if cfg.Base == nil {
			return stdClient{resilient.New(opts...)}
		}
		return stdClient{&http.Client{Transport: resilient.NewTransport(cfg.Base, opts...)}}
	}
}

func newOtelhttp(cfg Config) Client {
	var opts []otelhttp.Option
	if cfg.TracerProvider != nil {
		opts = append(opts, otelhttp.WithTracerProvider(cfg.TracerProvider))
	}
	return stdClient{&http.Client{Transport: otelhttp.NewTransport(baseOf(cfg), opts...)}}
}

// retryableClient is go-retryablehttp's own Client.
type retryableClient struct{ rc *retryablehttp.Client }

func (r retryableClient) CloseIdleConnections() { r.rc.HTTPClient.CloseIdleConnections() }

func (r retryableClient) Do(ctx context.Context, c *Call) Outcome {
	var body any
	if c.Body != nil {
		body = c.Body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, c.Method, c.URL, body)
	if err != nil {
		return Outcome{Err: err}
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	resp, err := r.rc.Do(req)
	return finish(resp, err, c.KeepBody)
}

func newRetryable(standard bool) func(Config) Client {
	return func(cfg Config) Client {
		rc := retryablehttp.NewClient()
		rc.HTTPClient = &http.Client{Transport: baseOf(cfg)}
		// Its default logger writes a line per request to stderr.
		rc.Logger = nil
		switch cfg.Profile {
		case NoRetry:
			rc.RetryMax = 0
		case FastRetry:
			rc.RetryMax, rc.RetryWaitMin, rc.RetryWaitMax = 3, time.Millisecond, 2*time.Millisecond
		}
		if standard {
			return stdClient{rc.StandardClient()}
		}
		return retryableClient{rc}
	}
}

// httpFailure is what failsafe-go's HTTP retry policy retries, for its
// circuit breaker: without a HandleIf, the breaker sees only errors, never
// a 5xx response.
func httpFailure(resp *http.Response, err error) bool {
	return err != nil || resp != nil && (resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented)
}

func newFailsafe(cfg Config) Client {
	rp := failsafehttp.NewRetryPolicyBuilder()
	cb := circuitbreaker.NewBuilder[*http.Response]().HandleIf(httpFailure)
	switch cfg.Profile {
	case NoRetry:
		rp = rp.WithMaxRetries(0)
		cb = circuitbreaker.NewBuilder[*http.Response]().HandleIf(func(*http.Response, error) bool { return false })
	case FastRetry:
		rp = rp.WithMaxRetries(3).WithDelay(time.Millisecond)
		cb = circuitbreaker.NewBuilder[*http.Response]().HandleIf(func(*http.Response, error) bool { return false })
	}
	rt := failsafehttp.NewRoundTripper(baseOf(cfg), rp.Build(), cb.Build())
	return stdClient{&http.Client{Transport: rt}}
}

// restyClient is resty v2.
type restyClient struct{ rc *resty.Client }

func (r restyClient) CloseIdleConnections() { r.rc.GetClient().CloseIdleConnections() }

func (r restyClient) Do(ctx context.Context, c *Call) Outcome {
	req := r.rc.R().SetContext(ctx)
	if c.Body != nil {
		req.SetBody(c.Body)
	}
	for k, v := range c.Header {
		req.SetHeader(k, v[0])
	}
	resp, err := req.Execute(c.Method, c.URL)
	o := Outcome{Err: err}
	if resp != nil && resp.RawResponse != nil {
		// resty has read the whole body already, and closed it.
		o.Status, o.BodyFrom = resp.StatusCode(), "response"
		if c.KeepBody {
			o.Body = resp.Body()
		}
	}
	return o
}

func newResty(cfg Config) Client {
	rc := resty.New().SetTransport(baseOf(cfg))
	if cfg.Profile == FastRetry {
		// resty retries only errors unless told which responses to retry.
		rc.SetRetryCount(3).SetRetryWaitTime(time.Millisecond).SetRetryMaxWaitTime(2 * time.Millisecond).
			AddRetryCondition(func(r *resty.Response, err error) bool { return r != nil && r.StatusCode() >= 500 })
	}
	return restyClient{rc}
}
