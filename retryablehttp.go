package resilient

// This file holds FromRetryableHTTP, the switch from go-retryablehttp: it
// turns a configured *retryablehttp.Client into options, and keeps the
// client's hooks in retryHooks, which the retry decision (retry.go), each
// attempt (attempt.go) and the final outcome (finish.go) call at the
// lines marked "retryablehttp hooks". docs/migrating.md is the user's
// side of it.

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// FromRetryableHTTP returns an *http.Client that keeps the configuration
// of rc, a go-retryablehttp client, and adds what New adds: a circuit
// breaker and a retry budget per host, typed errors and tracing. It is the
// switch in one line:
//
//	client := resilient.FromRetryableHTTP(rc) // was: client := rc.StandardClient()
//
// It reads rc once: later changes to rc do not reach the client. opts are
// applied after what was taken from rc and override it; WithRetry
// replaces the whole retry policy, its zero fields taking DefaultRetry's
// values, not rc's. A nil rc gives New(opts...). Close(client) and
// Hosts(client) work as for a client made by New.
//
// What becomes of rc's fields:
//
//   - RetryMax is Retry.Max: retries after the first attempt; 0 or less
//     sends once, as in go-retryablehttp.
//   - RetryWaitMin and RetryWaitMax are Retry.MinWait and Retry.MaxWait
//     (zero takes DefaultRetry's), and are what Backoff receives.
//     MaxWait also caps what the server asks for: a Retry-After or
//     RateLimit-Reset longer than MaxWait stops retrying at once, and the
//     *StatusError carries RetryAfter and ErrRetryAfterTooLong.
//   - CheckRetry decides, after every attempt, which outcomes are worth
//     another, in place of Classify; it receives the call's context, and
//     an error inside a *url.Error as from an *http.Client. Whether a
//     retry is made stays resilient's: only a request that is safe to
//     send twice is retried (a POST or PATCH needs an Idempotency-Key
//     header, or Policy.Idempotent through ContextWithPolicy), within
//     the retry budget, while the breaker admits, and when the wait fits
//     before the context's deadline. A CheckRetry that returns false and
//     an error ends the call with that error: a *StatusError for a
//     response, whatever its status, or a *TransportError, whose Stop
//     holds it, so errors.Is finds it. An error returned with true is
//     dropped: the retry is made. The breaker still counts what Classify
//     (or WithClassifier) says, not what CheckRetry says.
//   - Backoff gives the wait before each retry, in place of resilient's
//     jittered one; it receives the failed response (nil after a network
//     error). A wait the server asked for is never shortened: the wait is
//     the longer of the two.
//   - Logger, a retryablehttp.Logger or LeveledLogger, receives
//     resilient's log lines (see WithLogger) at their levels, a Logger
//     with go-retryablehttp's "[DEBUG]"-style prefixes. Another type
//     makes FromRetryableHTTP panic with an error matching
//     ErrInvalidOption, as New does for an invalid option, where
//     go-retryablehttp panics at its first log line.
//   - HTTPClient's Transport is the base transport (nil: New's); its
//     CheckRedirect and Jar are the returned client's; its Timeout is
//     Retry.AttemptTimeout (zero takes DefaultRetry's), which bounds each
//     attempt until its response headers, not the reading of the body
//     (WithTimeout bounds the whole call).
//   - RequestLogHook and ResponseLogHook run around every attempt sent,
//     the first numbered 0; RequestLogHook receives a copy of the
//     attempt's request, which it may change for that attempt.
//     PrepareRetry runs before every retry on a copy that is then sent;
//     its error ends the call with a *TransportError that wraps it.
//   - ErrorHandler is not called: a failed call returns resilient's typed
//     errors. retryablehttp.PassthroughErrorHandler becomes
//     WithPassThrough5xx.
func FromRetryableHTTP(rc *retryablehttp.Client, opts ...Option) *http.Client {
	if rc == nil {
		return New(opts...)
	}
	var base http.RoundTripper
	client := &http.Client{}
	r := Retry{Max: rc.RetryMax, MinWait: rc.RetryWaitMin, MaxWait: rc.RetryWaitMax}
	if r.Max <= 0 {
		r.Max = -1
	}
	if hc := rc.HTTPClient; hc != nil {
		base = hc.Transport
		client.CheckRedirect, client.Jar = hc.CheckRedirect, hc.Jar
		r.AttemptTimeout = hc.Timeout
	}
	// go-retryablehttp accepts what WithRetry would refuse: negative
	// waits, and a MinWait above MaxWait.
	r.MinWait, r.MaxWait, r.AttemptTimeout = max(0, r.MinWait), max(0, r.MaxWait), max(0, r.AttemptTimeout)
	if r.MinWait > cmp.Or(r.MaxWait, DefaultRetry.MaxWait) {
		r.MaxWait = r.MinWait
	}
	h := &retryHooks{
		check:    rc.CheckRetry,
		backoff:  rc.Backoff,
		min:      rc.RetryWaitMin,
		max:      rc.RetryWaitMax,
		request:  rc.RequestLogHook,
		response: rc.ResponseLogHook,
		prepare:  rc.PrepareRetry,
	}
	all := []Option{WithRetry(r)}
	switch l := rc.Logger.(type) {
	case nil:
	case retryablehttp.LeveledLogger: // first, as go-retryablehttp checks it
		all = append(all, WithLogger(slog.New(&retryableLog{leveled: l})))
		h.logger = hookLogger{l}
	case retryablehttp.Logger:
		all = append(all, WithLogger(slog.New(&retryableLog{printf: l})))
		h.logger = l
	default:
		all = append(all, optionFunc(func(c *config) {
			c.invalid("retryablehttp.Client.Logger is a %T; it must be a retryablehttp.Logger or LeveledLogger", rc.Logger)
		}))
	}
	if h.check != nil || h.backoff != nil || h.request != nil || h.response != nil || h.prepare != nil {
		all = append(all, withRetryHooks(h))
	}
	if rc.ErrorHandler != nil && sameFunc(rc.ErrorHandler, retryablehttp.PassthroughErrorHandler) {
		all = append(all, WithPassThrough5xx())
	}
	client.Transport = NewTransport(base, append(all, opts...)...)
	return client
}

// sameFunc reports whether f and g are the same top-level function.
func sameFunc(f, g retryablehttp.ErrorHandler) bool {
	return reflect.ValueOf(f).Pointer() == reflect.ValueOf(g).Pointer()
}

// retryHooks are the hooks of a go-retryablehttp client, kept by
// FromRetryableHTTP. Its methods are safe on a nil *retryHooks (a client
// without them): each then returns what it was given.
type retryHooks struct {
	check    retryablehttp.CheckRetry      // nil: the outcome's class decides
	backoff  retryablehttp.Backoff         // nil: resilient's Backoff
	min, max time.Duration                 // rc.RetryWaitMin and RetryWaitMax, as Backoff expects them
	request  retryablehttp.RequestLogHook  // nil: none
	response retryablehttp.ResponseLogHook // nil: none
	prepare  retryablehttp.PrepareRetry    // nil: none
	logger   retryablehttp.Logger          // what the log hooks receive; nil without one
}

// withRetryHooks makes the client call h; FromRetryableHTTP's.
func withRetryHooks(h *retryHooks) Option {
	return optionFunc(func(c *config) { c.hooks = h })
}

// outcome returns the class of c's latest outcome for the retry decision:
// o, or what CheckRetry says of it. A CheckRetry that returns false and an
// error stops the call with that error in c.stop.
func (h *retryHooks) outcome(c *call, o Outcome) Outcome {
	if h == nil || h.check == nil {
		return o
	}
	return h.checkRetry(c, o)
}

// checkRetry asks CheckRetry about c's latest outcome, of class o.
func (h *retryHooks) checkRetry(c *call, o Outcome) Outcome {
	if _, ok := c.last.err.(*prepareRetryError); ok {
		return o
	}
	err := c.last.err
	if err != nil {
		err = &url.Error{Op: urlOp(c.method), URL: c.url(), Err: err}
	}
	var retry bool
	var checkErr error
	// classifyWith lends CheckRetry the body as it lends it a Classifier:
	// bounded, and given back whole to the caller and the *StatusError.
	c.t.classifyWith(func(resp *http.Response, _ error) Outcome {
		retry, checkErr = h.check(c, resp, err)
		return o
	}, c.last.resp, c.last.err)
	switch {
	case retry:
		return Retryable
	case checkErr != nil:
		c.stop = &checkRetryError{checkErr}
	}
	return Permanent
}

// urlOp is the Op of the *url.Error that net/http's Client would return
// for method: "Get", "Post".
func urlOp(method string) string {
	return method[:1] + strings.ToLower(method[1:])
}

// wait returns the wait before retry n (0 for the first) after resp: w,
// resilient's, when there is no Backoff; else what Backoff returns, or,
// when the server asked (w is then its ask), the longer of the two.
func (h *retryHooks) wait(w time.Duration, asked bool, n int, resp *http.Response) time.Duration {
	if h == nil || h.backoff == nil {
		return w
	}
	b := max(0, h.backoff(h.min, h.max, n, resp))
	if asked {
		return max(w, b)
	}
	return b
}

// prepareRetry runs PrepareRetry before a retry of c: on a copy of *r,
// which then takes its place, so the caller's request is never changed.
// When it fails, the attempt is not sent: *r's body is closed, the error
// becomes c's latest outcome, and prepareRetry returns false.
func (h *retryHooks) prepareRetry(c *call, r **http.Request) bool {
	if h == nil || h.prepare == nil || c.attempts == 0 {
		return true
	}
	return h.prepareCopy(c, r)
}

// prepareCopy is prepareRetry with a PrepareRetry, before a retry.
func (h *retryHooks) prepareCopy(c *call, r **http.Request) bool {
	cp := (*r).Clone((*r).Context())
	if err := h.prepare(cp); err != nil {
		if cp.Body != nil {
			cp.Body.Close()
		}
		c.refused = nil
		c.last = result{err: &prepareRetryError{err}, class: Permanent}
		return false
	}
	*r = cp
	return true
}

// transport returns next, or, when c's client has log hooks, next wrapped
// in them for the attempt r of c.
func (h *retryHooks) transport(c *call, r *http.Request, next http.RoundTripper) http.RoundTripper {
	if h == nil || h.request == nil && h.response == nil {
		return next
	}
	return h.hooked(c, r, next)
}

// hooked is transport with log hooks.
func (h *retryHooks) hooked(c *call, r *http.Request, next http.RoundTripper) http.RoundTripper {
	n, _ := attemptOf(r.Context(), c)
	return &hookedTransport{h: h, n: n - 1, next: next}
}

// hookedTransport runs RequestLogHook and ResponseLogHook around one
// attempt, numbered n (0 for the first).
type hookedTransport struct {
	h    *retryHooks
	n    int
	next http.RoundTripper
}

func (t *hookedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.h.request != nil {
		r = r.Clone(r.Context()) // the hook may change it; the caller's stays as it was
		t.h.request(t.h.logger, r, t.n)
	}
	resp, err := t.next.RoundTrip(r)
	if err == nil && t.h.response != nil {
		t.h.response(t.h.logger, resp)
	}
	return resp, err
}

// checkRetryError is why a call stopped when CheckRetry returned false and
// an error. finish turns a response into a *StatusError for it, whatever
// the status.
type checkRetryError struct{ err error }

func (e *checkRetryError) Error() string { return "CheckRetry: " + e.err.Error() }
func (e *checkRetryError) Unwrap() error { return e.err }

// stoppedByCheckRetry reports whether err, a call's stop, is a
// CheckRetry's error.
func stoppedByCheckRetry(err error) bool {
	_, ok := err.(*checkRetryError)
	return ok
}

// prepareRetryError is the outcome of a retry that PrepareRetry failed:
// the retry was not sent.
type prepareRetryError struct{ err error }

func (e *prepareRetryError) Error() string {
	return "resilient: retry not sent, PrepareRetry failed: " + e.err.Error()
}
func (e *prepareRetryError) Unwrap() error { return e.err }

// hookLogger is the Logger that the log hooks receive for a
// LeveledLogger, as go-retryablehttp gives them: Printf logs at Info.
type hookLogger struct{ l retryablehttp.LeveledLogger }

func (h hookLogger) Printf(format string, args ...any) { h.l.Info(fmt.Sprintf(format, args...)) }

// retryableLog is an slog.Handler that writes resilient's log lines to a
// go-retryablehttp logger: to a LeveledLogger at the record's level, with
// the attributes as key-value pairs, or to a Logger as one line with
// go-retryablehttp's level prefixes. It is safe for concurrent use if
// the logger is.
type retryableLog struct {
	leveled retryablehttp.LeveledLogger // nil when printf is set
	printf  retryablehttp.Logger
	attrs   []any  // WithAttrs', as key-value pairs
	group   string // WithGroup's prefix for keys: "a.b."
}

func (h *retryableLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *retryableLog) Handle(_ context.Context, r slog.Record) error {
	kv := make([]any, len(h.attrs), len(h.attrs)+2*r.NumAttrs())
	copy(kv, h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		kv = appendAttr(kv, h.group, a)
		return true
	})
	if l := h.leveled; l != nil {
		switch {
		case r.Level >= slog.LevelError:
			l.Error(r.Message, kv...)
		case r.Level >= slog.LevelWarn:
			l.Warn(r.Message, kv...)
		case r.Level >= slog.LevelInfo:
			l.Info(r.Message, kv...)
		default:
			l.Debug(r.Message, kv...)
		}
		return nil
	}
	var b strings.Builder
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("[ERR] ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("[WARN] ")
	case r.Level >= slog.LevelInfo:
		b.WriteString("[INFO] ")
	default:
		b.WriteString("[DEBUG] ")
	}
	b.WriteString(r.Message)
	for i := 0; i+1 < len(kv); i += 2 {
		v := fmt.Sprint(kv[i+1])
		if v == "" || strings.ContainsAny(v, " =\"\n") {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, " %s=%s", kv[i], v)
	}
	h.printf.Printf("%s", b.String())
	return nil
}

func (h *retryableLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]any(nil), h.attrs...)
	for _, a := range as {
		c.attrs = appendAttr(c.attrs, h.group, a)
	}
	return &c
}

func (h *retryableLog) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group += name + "."
	return &c
}

// appendAttr appends a's key, prefixed, and value to kv; a group's
// attributes are appended one by one, under its name.
func appendAttr(kv []any, prefix string, a slog.Attr) []any {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return kv
	}
	if a.Value.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			kv = appendAttr(kv, prefix, g)
		}
		return kv
	}
	return append(kv, prefix+a.Key, a.Value.Any())
}
