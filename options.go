package resilient

// This file holds Option, the config every option fills, the Retry,
// RetryBudget and Breaker policies with their documented defaults
// (DefaultRetry, DefaultBreaker, DefaultErrorBodyLimit), and the options
// that are no one feature's own: retry, breaker, timeout, error bodies,
// redaction, OpenTelemetry providers, logger and shared breakers. The
// others live with their feature: WithHedging (hedge.go), WithReplayLimit
// (replay.go), WithClassifier (classifier.go), WithPrepareRetry
// (prepare.go), WithOnRetry and WithOnBreakerChange (callbacks.go),
// withClock (clock.go), WithTransport (client.go), withResolver
// (conns_own.go).

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Option configures New and NewTransport. Options are applied in order; a
// nil provider or logger is ignored, so the default stays in force. An
// invalid value (a negative count or duration where the field's comment
// allows none) makes New and NewTransport panic; Validate reports it as
// an error instead.
type Option interface {
	apply(*config)
}

// Validate returns the error that New and NewTransport would panic with
// for opts, or nil when every option is valid. The error matches
// ErrInvalidOption and names the first invalid field and what it accepts,
// for example
//
//	resilient: invalid option: Retry.Max is -5; use -1 to disable retries or 0 for the default
//
// Call it where options come from configuration, before New, to report a
// bad value rather than crash; options written in the code need no check,
// since New's panic shows them in the first test or run.
func Validate(opts ...Option) error {
	return newConfig(opts).err
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Retry is the retry policy. Its zero value means DefaultRetry; each zero
// field takes the default written beside it.
type Retry struct {
	// Max is the number of retries after the first attempt. 0 means 3;
	// -1 disables retries.
	Max int
	// MinWait is the backoff ceiling before the first retry; the ceiling
	// doubles with every retry up to MaxWait, and the wait is drawn
	// uniformly below it ("full jitter"). 0 means 100ms.
	MinWait time.Duration
	// MaxWait caps every backoff wait and, unless MaxServerWait is set,
	// the wait a server asks for with Retry-After or RateLimit: a server
	// that asks for longer ends the retries at once, and the error carries
	// its RetryAfter. 0 means 5s.
	MaxWait time.Duration
	// MaxServerWait caps the wait a server asks for with Retry-After or
	// RateLimit, when that cap must differ from MaxWait's: a MaxWait that
	// bounds the jitter to 400ms would otherwise end the retries of every
	// 429 that asks for a second. The server's ask is never shortened: one
	// longer than MaxServerWait, or than the time left before the call's
	// deadline, ends the retries at once, and the error carries its
	// RetryAfter. 0 means MaxWait.
	MaxServerWait time.Duration
	// Backoff, when not nil, gives the wait before retry n (0 for the first
	// retry) in place of the package's Backoff(n, MinWait, MaxWait, r). resp
	// is the response that failed, nil after a network error; its body is
	// not Backoff's to read. r is a random number in [0, 1) for jitter,
	// drawn by the client, so that Backoff can be a pure function. A wait
	// the server asked for is never shortened: the wait is the longer of
	// the two. MaxWait does not cap what Backoff returns; the call's
	// deadline does, as for any wait: one that would end past it is not
	// started (ErrDeadline). It is called from the call's goroutine, from
	// many calls at once, and must be safe for concurrent use. nil means
	// the package's Backoff.
	Backoff func(n int, resp *http.Response, r float64) time.Duration
	// AttemptTimeout bounds each attempt until its response headers arrive;
	// an attempt that exceeds it is abandoned and counts as a retryable
	// failure. It does not bound reading the body (use the context or
	// WithTimeout). 0 means 10s; -1 disables it.
	AttemptTimeout time.Duration
	// Budget limits the share of traffic that retries may add per host.
	Budget RetryBudget
}

// RetryBudget holds retries back on a host that shows that load hurts it,
// and only there. Random failures (a share of 5xx, resets, a flapping host)
// cost the server nothing other calls need: every retry Retry allows goes,
// and Retry.Max bounds the load. A capacity-bound server in overload is
// another matter: its queue grows, answers come later, attempts time out
// while it still works on them, and retries keep it overloaded after the
// cause has gone (a retry storm). So while the host shows one of these
// signs, retries may add at most Ratio of the calls made to it over a
// rolling Window, or MinRetries when that is more, as Finagle's
// RetryBudget and gRPC's retry throttling (whose token ratio is also 0.1)
// do:
//
//   - an attempt timed out, or was answered 429, within the last Hold;
//   - the latency of its answered calls over the last Window is above
//     Latency times its own baseline (their average over about Baseline),
//     and 20 ms or more above it: a queue is building. The share then
//     shrinks as the queue grows: it is multiplied by Latency × baseline
//     over the recent latency.
//
// HostState.RetriesPerCall and the resilient.retry_budget.share metric show
// which holds per host. Its zero value means the defaults below.
type RetryBudget struct {
	// Ratio is the share of calls that retries may add while the host
	// shows that load hurts it. 0 means 0.1: a server whose queue turns
	// away a fifth of the calls gains nothing from retries, which only
	// take the place of first attempts; 10% keeps what it receives within
	// 1.1 requests per call.
	Ratio float64
	// MinRetries is the number of retries allowed per Window then, whatever
	// the traffic; it is not added to Ratio's share. 0 means 3.
	MinRetries int
	// Window is the rolling window over which calls, retries and recent
	// latency are counted. 0 means 1s.
	Window time.Duration
	// Latency is how many times its baseline the host's recent latency
	// must reach to hold retries back. 0 means 2.
	Latency float64
	// Baseline is the time constant of the average that makes a host's
	// baseline latency; latency that holds retries back moves it ten times
	// slower, so an overload of minutes is not learnt as normal, but a host
	// that stays slow for several times 10 × Baseline is. 0 means 1m.
	Baseline time.Duration
	// Hold is how long an attempt timeout or a 429 holds retries back.
	// 0 means 2s.
	Hold time.Duration
	// Disabled turns the budget off: every retry the policy allows is made.
	Disabled bool
}

// DefaultRetry is the retry policy of a client built without WithRetry.
var DefaultRetry = Retry{
	Max:            3,
	MinWait:        100 * time.Millisecond,
	MaxWait:        5 * time.Second,
	AttemptTimeout: 10 * time.Second,
	Budget: RetryBudget{Ratio: 0.1, MinRetries: 3, Window: time.Second,
		Latency: 2, Baseline: time.Minute, Hold: 2 * time.Second},
}

// Breaker is the per-host admission policy: a circuit breaker that opens
// only when a host is down, not merely degraded, refuses calls in
// microseconds while it is, and lets traffic back within a Cooldown of the
// host healing. Its zero value means DefaultBreaker; each zero field takes
// the default written beside it.
//
// The aim is never to be worse than a plain client: while a host answers
// some calls, refusing them loses those answers. So the breaker opens on a
// run of failures that is improbable at the success rate the host showed
// before it (25 failures in a row for a host that was healthy, 66 for one
// that answered 10%), not at a failure ratio such as .NET's 10% or
// Polly's 50%. Open, it probes: one call after a hold of a quarter of the
// outage's age, from ProbeInterval up to Cooldown, or as long as the
// server's Retry-After asked, up to Retry.MaxWait. A successful probe
// closes it; after an open of four Cooldowns (a second) or more, the share
// of calls admitted then grows from half to all over a quarter of the
// open, at most RampUp. While the breaker of a host that was already
// failing some calls sends its quick probes, a call it refuses waits for
// them (10 ms apart) if it may be retried, for as long as its retries'
// backoffs could take (700 ms with DefaultRetry).
// The scenario matrix in bench/RESULTS.md measures these defaults against
// a plain client; breaker.go explains the choice.
type Breaker struct {
	// FailureRatio also opens the breaker when failures / samples in
	// Window reaches it, once there are MinRequests samples. 0 means 1:
	// only a window of nothing but failures, which the run of failures
	// normally detects first. A ratio such as 0.5 refuses calls that a
	// plain client would have had answered.
	FailureRatio float64
	// MinRequests is the least number of samples in Window before
	// FailureRatio is considered. 0 means 100.
	MinRequests uint32
	// ConsecutiveFailures is the shortest run of retryable failures that
	// opens the breaker, the run for a host that answered (nearly) all
	// its recent calls: a total outage is detected in that many attempts.
	// For a host with a lower recent success rate s, the run is
	// ln(1/1000)/ln(1−s), up to four times ConsecutiveFailures, so that a
	// host that still answers some calls is not cut off by chance.
	// 0 means 25.
	ConsecutiveFailures uint32
	// Window is the rolling sampling window of FailureRatio, counted in
	// buckets of a tenth of it. 0 means 10s.
	Window time.Duration
	// Cooldown is the longest an open breaker holds between two probes,
	// so a host that heals is seen within it. 0 means 250ms.
	Cooldown time.Duration
	// ProbeInterval is the shortest hold between probes, at the start of
	// an outage; the hold is a quarter of the outage's age, between
	// ProbeInterval and Cooldown. 0 means 10ms.
	ProbeInterval time.Duration
	// Probes is how many calls a probing breaker lets through at once;
	// that many successes in a row close it. 0 means 1.
	Probes uint32
	// RampUp is the longest ramp-up after the breaker closes: after an
	// open of at least four Cooldowns, the share of calls admitted grows
	// from half to all over a quarter of the time the breaker was open,
	// at most RampUp. A shorter open (a blip, a flapping host) has no
	// ramp-up: its calls would have been refused while the host answers.
	// 0 means 250ms; -1 disables ramp-up.
	RampUp time.Duration
	// MaxHosts bounds the number of per-host states kept; when full, the
	// least recently used one is evicted. 0 means 1024.
	MaxHosts int
	// IdleTTL evicts the state of a host not called for this long.
	// 0 means 10m.
	IdleTTL time.Duration
	// Disabled turns admission off: every attempt is sent.
	Disabled bool
}

// DefaultBreaker is the breaker policy of a client built without WithBreaker.
var DefaultBreaker = Breaker{
	FailureRatio:        1,
	MinRequests:         100,
	ConsecutiveFailures: 25,
	Window:              10 * time.Second,
	Cooldown:            250 * time.Millisecond,
	ProbeInterval:       10 * time.Millisecond,
	Probes:              1,
	RampUp:              250 * time.Millisecond,
	MaxHosts:            1024,
	IdleTTL:             10 * time.Minute,
}

// DefaultErrorBodyLimit is how much of an error response's body a
// *StatusError keeps, unless WithErrorBodyLimit says otherwise.
const DefaultErrorBodyLimit = 64 << 10

type config struct {
	retry       Retry
	breaker     Breaker
	timeout     time.Duration
	bodyLimit   int64
	replayMax   int64 // WithReplayLimit
	passThrough bool
	tp          trace.TracerProvider
	mp          metric.MeterProvider
	logger      *slog.Logger
	secrets     []string
	store       BreakerStore
	hedge       *Hedging        // nil: no hedging (hedge.go)
	rand        func() float64  // in [0, 1); tests replace it
	clock       clock           // tests replace it
	transport   *http.Transport // WithTransport's; nil: http.DefaultTransport
	resolver    *net.Resolver   // tests replace it (withResolver); nil: net's default
	err         error           // first invalid option: New panics with it, Validate returns it

	classify     Classifier                // nil: Classify
	prepareRetry func(*http.Request) error // WithPrepareRetry's; nil: none
	onRetry      func(RetryEvent)          // nil: none
	onBreaker    func(BreakerChange)       // nil: none
}

func newConfig(opts []Option) *config {
	c := &config{
		retry:     DefaultRetry,
		breaker:   DefaultBreaker,
		bodyLimit: DefaultErrorBodyLimit,
		replayMax: DefaultReplayLimit,
		rand:      rand.Float64,
		clock:     realClock{},
	}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	return c
}

func (c *config) invalid(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
	}
}

// WithRetry sets the retry policy; zero fields take DefaultRetry's values.
func WithRetry(r Retry) Option {
	return optionFunc(func(c *config) {
		r := r // an Option applies the same each time (Validate, then New)
		d := DefaultRetry
		switch {
		case r.Max < -1:
			c.invalid("Retry.Max is %d; use -1 to disable retries or 0 for the default", r.Max)
		case r.MinWait < 0 || r.MaxWait < 0 || r.MaxServerWait < 0:
			c.invalid("Retry.MinWait (%s), MaxWait (%s) and MaxServerWait (%s) must not be negative", r.MinWait, r.MaxWait, r.MaxServerWait)
		case r.AttemptTimeout < -1:
			c.invalid("Retry.AttemptTimeout is %s; use -1 to disable it", r.AttemptTimeout)
		case r.Budget.Ratio < 0 || r.Budget.MinRetries < 0 || r.Budget.Window < 0 ||
			r.Budget.Latency < 0 || r.Budget.Baseline < 0 || r.Budget.Hold < 0:
			c.invalid("Retry.Budget fields must not be negative; use Disabled to turn the budget off")
		}
		orDefault(&r.Max, d.Max)
		orDefault(&r.MinWait, d.MinWait)
		orDefault(&r.MaxWait, d.MaxWait)
		if r.MinWait > r.MaxWait {
			c.invalid("Retry.MinWait (%s) is above MaxWait (%s)", r.MinWait, r.MaxWait)
		}
		orDefault(&r.AttemptTimeout, d.AttemptTimeout)
		orDefault(&r.Budget.Ratio, d.Budget.Ratio)
		orDefault(&r.Budget.MinRetries, d.Budget.MinRetries)
		orDefault(&r.Budget.Window, d.Budget.Window)
		orDefault(&r.Budget.Latency, d.Budget.Latency)
		orDefault(&r.Budget.Baseline, d.Budget.Baseline)
		orDefault(&r.Budget.Hold, d.Budget.Hold)
		c.retry = r
	})
}

// WithBreaker sets the circuit breaker policy; zero fields take
// DefaultBreaker's values.
func WithBreaker(b Breaker) Option {
	return optionFunc(func(c *config) {
		b := b // an Option applies the same each time (Validate, then New)
		d := DefaultBreaker
		switch {
		case b.FailureRatio < 0 || b.FailureRatio > 1:
			c.invalid("Breaker.FailureRatio is %v; it must be in (0, 1]", b.FailureRatio)
		case b.Window < 0 || b.Cooldown < 0 || b.ProbeInterval < 0 || b.IdleTTL < 0 || b.MaxHosts < 0:
			c.invalid("Breaker durations and MaxHosts must not be negative; use Disabled to turn breakers off")
		case b.RampUp < -1:
			c.invalid("Breaker.RampUp is %s; use -1 to disable ramp-up", b.RampUp)
		}
		orDefault(&b.FailureRatio, d.FailureRatio)
		orDefault(&b.MinRequests, d.MinRequests)
		orDefault(&b.ConsecutiveFailures, d.ConsecutiveFailures)
		orDefault(&b.Window, d.Window)
		orDefault(&b.Cooldown, d.Cooldown)
		orDefault(&b.ProbeInterval, d.ProbeInterval)
		orDefault(&b.Probes, d.Probes)
		orDefault(&b.RampUp, d.RampUp)
		if b.RampUp < 0 {
			b.RampUp = 0
		}
		orDefault(&b.MaxHosts, d.MaxHosts)
		orDefault(&b.IdleTTL, d.IdleTTL)
		c.breaker = b
	})
}

// WithTimeout bounds each call, retries and waits included, and reading
// the response body, with a deadline on the call's context inside the
// transport. When it passes, the call ends with its last outcome: a 503
// followed by a retry that hung comes back as the 503's *StatusError, with
// Stop matching ErrDeadline and context.DeadlineExceeded, rather than as net/http's
// text-only "Client.Timeout exceeded". It applies to New and NewTransport
// alike; the *http.Client that New returns has no Timeout of its own.
// Zero, the default, means no limit beyond the request's context.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.invalid("timeout is %s; it must not be negative", d)
			return
		}
		c.timeout = d
	})
}

// WithErrorBodyLimit sets how many bytes of an error response's body a
// *StatusError keeps (default DefaultErrorBodyLimit, 64 KiB).
func WithErrorBodyLimit(n int64) Option {
	return optionFunc(func(c *config) {
		if n < 0 {
			c.invalid("error body limit is %d; it must not be negative", n)
			return
		}
		c.bodyLimit = n
	})
}

// WithPassThrough5xx makes final 5xx and 429 responses come back as plain
// responses, body unread, instead of a *StatusError. They are still retried.
func WithPassThrough5xx() Option {
	return optionFunc(func(c *config) { c.passThrough = true })
}

// WithRedactedParams adds query parameter names whose values are redacted
// from errors, logs and spans, beyond the built-in list (token, key, secret,
// sig, signature, password, access_token, api_key, and similar).
func WithRedactedParams(names ...string) Option {
	return optionFunc(func(c *config) { c.secrets = append(c.secrets, names...) })
}

// WithTracerProvider sets the tracer provider for the request and attempt
// spans. The default is the otel global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	})
}

// WithMeterProvider sets the meter provider for the client's metrics. The
// default is the otel global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	})
}

// WithLogger sets the logger; the default is no logging. It logs at three
// levels:
//   - Debug: each retry, before its wait ("resilient: retrying"), and the
//     breaker's flips between open and half-open around each probe.
//   - Info: a call that the breaker refused before any attempt
//     ("resilient: request failed"); these come in floods while a host is
//     down, and its opening was logged at Warn.
//   - Warn: a breaker opening from closed, or closing ("resilient: circuit
//     breaker open", "... closed"); a breaker opened by another instance
//     (WithSharedBreakers); and every other call that returns an error
//     ("resilient: request failed"), but for one rejected before it
//     starts (an invalid request, a closed Transport, invalid client
//     options), which is not logged.
//
// The package doc lists each line's attributes.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithSharedBreakers shares breaker transitions with other instances through
// store (for example redisstore.New). The local breaker still decides every
// call; a store that is slow or down never slows or refuses a request.
func WithSharedBreakers(store BreakerStore) Option {
	return optionFunc(func(c *config) {
		if store != nil {
			c.store = store
		}
	})
}

// withRand replaces the jitter source; for tests.
func withRand(f func() float64) Option {
	return optionFunc(func(c *config) { c.rand = f })
}

// orDefault sets *v to d when *v is its zero value.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}
