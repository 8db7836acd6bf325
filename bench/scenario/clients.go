package scenario

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/redis/go-redis/v9"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/redisstore"
)

// Settings are what a scenario asks of every client alike.
type Settings struct {
	// AttemptTimeout, when not zero, bounds each attempt until its response
	// headers arrive. Zero leaves each client at its default.
	AttemptTimeout time.Duration
	// Redis, when set, is the host:port of a Redis through which
	// resilient's instances share breaker transitions (redisstore), under
	// Service; the other clients have nothing to share.
	Redis, Service string
	// OnBreakerOpen, when set, is called each time the client's breaker
	// opens: resilient's for any host (WithOnBreakerChange, on its
	// callback goroutine, so shortly after), failsafe-go's (OnOpen). The
	// other clients have no breaker.
	OnBreakerOpen func()
}

// Outcome is what one call came to.
type Outcome struct {
	// OK: a 2xx response whose body was read fully.
	OK bool
	// Refused: the call's error is the client's own breaker-open error
	// (resilient.ErrCircuitOpen, circuitbreaker.ErrOpen): it was refused
	// locally.
	Refused bool
}

// Caller makes calls to one server. It is safe for concurrent use.
type Caller interface {
	// Call makes call index to url with ctx and reads the body.
	Call(ctx context.Context, url string, index int) Outcome
	// Close releases the caller's connections.
	Close()
}

// Client is one client of the matrix; each scenario builds a fresh one.
type Client struct {
	// Name is the client's name in flags and tables.
	Name string
	// About says how it is configured, for the report.
	About string
	// New builds the client, with its own connection pool.
	New func(Settings) Caller
}

// Clients returns the clients of the matrix, plain first: it is the
// baseline.
func Clients() []Client {
	return []Client{
		{Name: "plain", About: "`&http.Client{Transport: t}`, t a clone of `http.DefaultTransport` with `MaxIdleConnsPerHost: 100`", New: newPlain},
		{Name: "resilient", About: "`resilient.New()`: the library's defaults (its own transport has `MaxIdleConnsPerHost: 100`)", New: newResilient},
		{Name: "failsafe", About: "failsafe-go `failsafehttp.NewRoundTripper(t, retry, breaker)`: `failsafehttp.NewRetryPolicyBuilder()` with " +
			"`WithMaxRetries(3)`, `WithBackoff(100ms, 5s)`, `WithJitterFactor(0.5)` (retries 5xx but 501, 429 and errors, honours Retry-After " +
			"on 429/503); the breaker of bench/peers.go: `circuitbreaker.NewBuilder()` at its defaults (opens on 1 failure, 1 min delay, " +
			"closes on 1 success) with `HandleIf` 5xx but 501, 429 and errors; retry outside the breaker, so a refused attempt is retried " +
			"(a refused call takes its three backoffs, ~0.7 s)", New: newFailsafe},
		{Name: "retryablehttp", About: "go-retryablehttp `retryablehttp.NewClient()`, `Client.Do`: defaults (RetryMax 4, `DefaultBackoff` 1 s..30 s, " +
			"honours Retry-After) but `Logger: nil` and `HTTPClient: &http.Client{Transport: t}`", New: newRetryable},
	}
}

// SelectClients returns the clients named, in the order of Clients.
func SelectClients(names []string) ([]Client, error) {
	var out []Client
	for _, c := range Clients() {
		for _, n := range names {
			if n == c.Name {
				out = append(out, c)
			}
		}
	}
	if len(out) != len(names) {
		return nil, errors.New("scenario: unknown or repeated client in " + strconv.Quote(strings.Join(names, ",")))
	}
	return out, nil
}

// transport is every client's own pool: a clone of http.DefaultTransport
// with MaxIdleConnsPerHost 100, as resilient.New makes its own.
func transport(s Settings) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 100
	tr.ResponseHeaderTimeout = s.AttemptTimeout
	return tr
}

// httpCaller calls through an *http.Client.
type httpCaller struct {
	hc      *http.Client
	attempt time.Duration // plain only: its one attempt's limit
	refused error         // the client's breaker-open error, or nil
	close   func()
}

func (c *httpCaller) Call(ctx context.Context, url string, index int) Outcome {
	if c.attempt > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.attempt)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Outcome{}
	}
	req.Header.Set(CallHeader, strconv.Itoa(index))
	resp, err := c.hc.Do(req)
	return c.finish(resp, err)
}

func (c *httpCaller) finish(resp *http.Response, err error) Outcome {
	o := Outcome{Refused: c.refused != nil && errors.Is(err, c.refused)}
	var ee retrypolicy.ExceededError
	if resp == nil && errors.As(err, &ee) {
		// failsafe-go hands the last response over inside the error.
		resp, _ = ee.LastResult.(*http.Response)
	}
	if resp == nil {
		return o
	}
	_, rerr := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	o.OK = err == nil && rerr == nil && resp.StatusCode >= 200 && resp.StatusCode < 300
	return o
}

func (c *httpCaller) Close() { c.close() }

func newPlain(s Settings) Caller {
	tr := transport(Settings{})
	return &httpCaller{hc: &http.Client{Transport: tr}, attempt: s.AttemptTimeout, close: tr.CloseIdleConnections}
}

func newResilient(s Settings) Caller {
	var opts []resilient.Option
	if s.AttemptTimeout > 0 {
		opts = append(opts, resilient.WithRetry(resilient.Retry{AttemptTimeout: s.AttemptTimeout}))
	}
	if f := s.OnBreakerOpen; f != nil {
		opts = append(opts, resilient.WithOnBreakerChange(func(c resilient.BreakerChange) {
			if c.To == resilient.BreakerOpen {
				f()
			}
		}))
	}
	closeStore := func() {}
	if s.Redis != "" {
		rdb := redis.NewClient(&redis.Options{Addr: s.Redis})
		st := redisstore.New(rdb, redisstore.Options{Service: s.Service})
		opts = append(opts, resilient.WithSharedBreakers(st))
		closeStore = func() {
			st.Close()
			rdb.Close()
		}
	}
	hc := resilient.New(opts...)
	return &httpCaller{hc: hc, refused: resilient.ErrCircuitOpen, close: func() {
		hc.CloseIdleConnections()
		resilient.Close(hc) // stops its subscription to the store, if any
		closeStore()
	}}
}

// failsafeFailure is what failsafe-go's HTTP retry policy retries, given
// to its circuit breaker too, as bench/peers.go does: without it, the
// breaker would see only errors, never a 5xx.
func failsafeFailure(resp *http.Response, err error) bool {
	return err != nil || resp != nil && (resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented)
}

func newFailsafe(s Settings) Caller {
	tr := transport(s)
	rp := failsafehttp.NewRetryPolicyBuilder().WithMaxRetries(3).
		WithBackoff(100*time.Millisecond, 5*time.Second).WithJitterFactor(0.5).Build()
	cbb := circuitbreaker.NewBuilder[*http.Response]().HandleIf(failsafeFailure)
	if f := s.OnBreakerOpen; f != nil {
		cbb = cbb.OnOpen(func(circuitbreaker.StateChangedEvent) { f() })
	}
	cb := cbb.Build()
	rt := failsafehttp.NewRoundTripperWithExecutor(tr, failsafe.With[*http.Response](rp, cb))
	return &httpCaller{hc: &http.Client{Transport: rt}, refused: circuitbreaker.ErrOpen, close: tr.CloseIdleConnections}
}

// retryableCaller calls through go-retryablehttp's own Client.
type retryableCaller struct {
	rc *retryablehttp.Client
	tr *http.Transport
}

func newRetryable(s Settings) Caller {
	tr := transport(s)
	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{Transport: tr}
	rc.Logger = nil // its default logger writes a line per request to stderr
	return &retryableCaller{rc: rc, tr: tr}
}

func (c *retryableCaller) Call(ctx context.Context, url string, index int) Outcome {
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Outcome{}
	}
	req.Header.Set(CallHeader, strconv.Itoa(index))
	resp, err := c.rc.Do(req)
	return (&httpCaller{}).finish(resp, err)
}

func (c *retryableCaller) Close() { c.tr.CloseIdleConnections() }
