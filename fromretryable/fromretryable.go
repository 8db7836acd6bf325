// Package fromretryable switches a program from go-retryablehttp to
// resilient in one line. New takes the *retryablehttp.Client the program
// already configures and returns a resilient *http.Client that keeps its
// configuration (RetryMax, waits, CheckRetry, Backoff, logger, hooks,
// inner client) and adds what package resilient adds: a circuit breaker
// and a retry budget per host, typed errors and tracing.
//
//	client := fromretryable.New(rc) // was: client := rc.StandardClient()
//	defer resilient.Close(client)
//
// It is built on package resilient's public API alone: the hooks it uses
// (resilient.Retry's Backoff and MaxServerWait, a Classifier that ends a
// call with its own error, resilient.AttemptFromContext,
// resilient.WithPrepareRetry) serve every user of resilient. A program
// that uses resilient without this package does not build
// go-retryablehttp. docs/migrating.md says what behaves differently, and
// why. The package is not named retryablehttp, so that one file imports
// both.
package fromretryable

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/resilient-http/resilient"
)

// DefaultMaxServerWait is the longest wait a server may ask for
// (Retry-After, RateLimit-Reset) through a client that New makes, unless
// the go-retryablehttp client's RetryWaitMax is longer: go-retryablehttp
// waits for any ask, an hour for "Retry-After: 3600", where this ends the
// call at once with the server's ask in the error. A minute covers the
// rate-limit windows of the APIs go-retryablehttp's users call most
// (GitLab's, GitHub's secondary limits).
const DefaultMaxServerWait = time.Minute

// New returns an *http.Client that keeps the configuration of rc, a
// go-retryablehttp client, as resilient options, with opts applied after
// them. It reads rc once: later changes to rc do not reach the client. A
// nil rc gives resilient.New(opts...). resilient.Close(client) and
// resilient.Hosts(client) work as for a client made by resilient.New.
//
// What becomes of rc's fields:
//
//   - RetryMax, RetryWaitMin, RetryWaitMax, Backoff and HTTPClient.Timeout
//     make the retry policy; Retry(rc) says how. A wait the server asks
//     for is never shortened, and waited for up to the longer of
//     RetryWaitMax and DefaultMaxServerWait, and only while it ends
//     before the call's deadline: a longer ask ends the call at once, and
//     the *resilient.StatusError carries it (RetryAfter) and
//     resilient.ErrRetryAfterTooLong.
//   - CheckRetry decides, after every attempt, which outcomes are worth
//     another, in place of resilient.Classify: it is the client's
//     Classifier (resilient.WithClassifier). It receives the attempt's
//     context, and an error inside a *url.Error as from an *http.Client.
//     Whether a retry is made stays resilient's: only a request that is
//     safe to send twice is retried (a POST or PATCH needs an
//     Idempotency-Key header, or Policy.Idempotent through
//     resilient.ContextWithPolicy), within the retry budget, while the
//     breaker admits, and when the wait fits before the context's
//     deadline. A CheckRetry that returns false and an error ends the
//     call with that error: a *resilient.StatusError for a response,
//     whatever its status, or a *resilient.TransportError, whose Stop
//     holds it, so errors.Is finds it. An error returned with true is
//     dropped: the retry is made. As for any Classifier, the breaker
//     counts what CheckRetry says where it disagrees with Classify: an
//     outcome it retries counts against the host, one it does not retry
//     does not.
//   - ResponseLogHook runs on every attempt's response, after CheckRetry,
//     as in go-retryablehttp, so CheckRetry reads the body first.
//     RequestLogHook runs before every attempt sent, the first numbered 0,
//     on a copy of the attempt's request, which it may change for that
//     attempt.
//   - PrepareRetry runs before every retry (resilient.WithPrepareRetry),
//     on the retry's own copy of the request; its changes are sent on that
//     retry and every later one, as in go-retryablehttp. Its error ends
//     the call with a *resilient.TransportError that wraps it.
//   - Logger, a retryablehttp.Logger or LeveledLogger, receives
//     resilient's log lines (see resilient.WithLogger) at their levels, a
//     Logger with go-retryablehttp's "[DEBUG]"-style prefixes. Another
//     type makes New panic with an error matching
//     resilient.ErrInvalidOption, as resilient.New does for an invalid
//     option, where go-retryablehttp panics at its first log line.
//   - HTTPClient's Transport is the base transport (nil: a clone of
//     http.DefaultTransport, as resilient.New's). An *http.Transport
//     (go-retryablehttp's default, from go-cleanhttp) is cloned and owned,
//     as resilient.WithTransport does, unless a RequestLogHook or a Jar
//     needs a wrapper around it; the clone's idle connections are its own,
//     so rc.HTTPClient.CloseIdleConnections does not reach them:
//     resilient.Close(client) does.
//     Its Jar receives the cookies of every attempt's response and gives
//     its cookies to every attempt, as go-retryablehttp's inner client
//     does, so a cookie set by a response that is retried (a load
//     balancer's stickiness cookie on a 503) goes with the retry. Its
//     CheckRedirect is the returned client's, which follows redirects: a
//     CheckRedirect that returns http.ErrUseLastResponse gives the 3xx
//     back.
//   - ErrorHandler is not called: a failed call returns resilient's typed
//     errors. retryablehttp.PassthroughErrorHandler becomes
//     resilient.WithPassThrough5xx.
//
// opts override what was taken from rc: resilient.WithRetry replaces the
// whole retry policy, rc's Backoff included (start from Retry(rc) to keep
// it), and resilient.WithClassifier replaces CheckRetry and
// ResponseLogHook.
func New(rc *retryablehttp.Client, opts ...resilient.Option) *http.Client {
	if rc == nil {
		return resilient.New(opts...)
	}
	var logger retryablehttp.Logger // what the hooks receive, as go-retryablehttp gives it
	all := []resilient.Option{resilient.WithRetry(Retry(rc))}
	switch l := rc.Logger.(type) {
	case nil:
	case retryablehttp.LeveledLogger: // first, as go-retryablehttp checks it
		all = append(all, resilient.WithLogger(slog.New(&retryableLog{leveled: l})))
		logger = hookLogger{l}
	case retryablehttp.Logger:
		all = append(all, resilient.WithLogger(slog.New(&retryableLog{printf: l})))
		logger = l
	default:
		panic(fmt.Errorf("%w: retryablehttp.Client.Logger is a %T; it must be a retryablehttp.Logger or LeveledLogger",
			resilient.ErrInvalidOption, rc.Logger))
	}
	if rc.CheckRetry != nil || rc.ResponseLogHook != nil {
		all = append(all, resilient.WithClassifier(checkRetry(rc.CheckRetry, rc.ResponseLogHook, logger)))
	}
	if rc.PrepareRetry != nil {
		all = append(all, resilient.WithPrepareRetry(rc.PrepareRetry))
	}
	if rc.ErrorHandler != nil && sameFunc(rc.ErrorHandler, retryablehttp.PassthroughErrorHandler) {
		all = append(all, resilient.WithPassThrough5xx())
	}
	var base http.RoundTripper
	client := &http.Client{}
	var jar http.CookieJar
	if hc := rc.HTTPClient; hc != nil {
		base, jar = hc.Transport, hc.Jar
		client.CheckRedirect = hc.CheckRedirect
	}
	if rc.RequestLogHook != nil || jar != nil {
		if base == nil { // what resilient.NewTransport would make of nil
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.MaxIdleConnsPerHost = 100
			base = tr
		}
		base = &eachAttempt{next: base, request: rc.RequestLogHook, logger: logger, jar: jar}
	} else if tr, ok := base.(*http.Transport); ok {
		// resilient builds on a clone of it and owns the clone, so that a
		// failed attempt's connection is retired exactly (HTTP/2
		// included), as for resilient.New.
		all, base = append(all, resilient.WithTransport(tr)), nil
	}
	client.Transport = resilient.NewTransport(base, append(all, opts...)...)
	return client
}

// Retry returns the retry policy that New takes from rc, for a
// resilient.WithRetry that changes part of it:
//
//	r := fromretryable.Retry(rc)
//	r.Budget = resilient.RetryBudget{Disabled: true}
//	client := fromretryable.New(rc, resilient.WithRetry(r))
//
// Max is RetryMax, but -1 for a RetryMax of 0 or less, which sends once
// (resilient reads a Max of 0 as its default, 3). MinWait and MaxWait are
// RetryWaitMin and RetryWaitMax, bounds of resilient's jittered backoff
// when Backoff is nil; zero takes resilient.DefaultRetry's values, and a
// RetryWaitMin above RetryWaitMax raises MaxWait to it, as go-retryablehttp
// tolerates it. MaxServerWait is the longer of RetryWaitMax and
// DefaultMaxServerWait, so that a RetryWaitMax that bounds the jitter does
// not end the retries of a 429 that asks for a second. Backoff, when rc
// has one, receives RetryWaitMin and RetryWaitMax, the retry's number
// (0 for the first) and the failed response (nil after a network error).
// AttemptTimeout is HTTPClient.Timeout (zero takes resilient.DefaultRetry's),
// which bounds each attempt until its response headers, not the reading
// of the body (resilient.WithTimeout bounds the whole call). A nil rc gives
// the zero Retry, resilient.DefaultRetry.
func Retry(rc *retryablehttp.Client) resilient.Retry {
	if rc == nil {
		return resilient.Retry{}
	}
	r := resilient.Retry{Max: rc.RetryMax, MinWait: max(0, rc.RetryWaitMin), MaxWait: max(0, rc.RetryWaitMax)}
	if r.Max <= 0 {
		r.Max = -1
	}
	if r.MinWait > cmp.Or(r.MaxWait, resilient.DefaultRetry.MaxWait) {
		r.MaxWait = r.MinWait
	}
	r.MaxServerWait = max(rc.RetryWaitMax, DefaultMaxServerWait)
	if hc := rc.HTTPClient; hc != nil {
		r.AttemptTimeout = max(0, hc.Timeout)
	}
	if b := rc.Backoff; b != nil {
		lo, hi := rc.RetryWaitMin, rc.RetryWaitMax
		r.Backoff = func(n int, resp *http.Response, _ float64) time.Duration { return b(lo, hi, n, resp) }
	}
	return r
}

// checkRetry returns the Classifier that asks CheckRetry about each
// attempt's outcome, then runs ResponseLogHook on its response, in the
// order go-retryablehttp runs them: CheckRetry reads the body first. check
// and response may each be nil.
func checkRetry(check retryablehttp.CheckRetry, response retryablehttp.ResponseLogHook, logger retryablehttp.Logger) resilient.Classifier {
	return func(req *http.Request, resp *http.Response, err error) (resilient.Outcome, error) {
		o := resilient.Classify(resp, err)
		var stop error
		if check != nil {
			uerr := err
			if err != nil {
				uerr = &url.Error{Op: urlOp(req.Method), URL: req.URL.Redacted(), Err: err}
			}
			retry, checkErr := check(req.Context(), resp, uerr)
			switch {
			case retry:
				o = resilient.Retryable
			case o == resilient.Retryable:
				o = resilient.Permanent
			}
			if !retry && checkErr != nil {
				stop = &checkRetryError{checkErr}
			}
		}
		if err == nil && response != nil {
			response(logger, resp)
		}
		return o, stop
	}
}

// urlOp is the Op of the *url.Error that net/http's Client would return
// for method: "Get", "Post".
func urlOp(method string) string {
	if method == "" {
		return "Get"
	}
	return method[:1] + strings.ToLower(method[1:])
}

// checkRetryError is why a call stopped when CheckRetry returned false and
// an error.
type checkRetryError struct{ err error }

func (e *checkRetryError) Error() string { return "CheckRetry: " + e.err.Error() }
func (e *checkRetryError) Unwrap() error { return e.err }

// sameFunc reports whether f and g are the same top-level function.
func sameFunc(f, g retryablehttp.ErrorHandler) bool {
	return reflect.ValueOf(f).Pointer() == reflect.ValueOf(g).Pointer()
}
