package resilient

// This file keeps the request's secrets out of what the client did not
// write: errors from the base transport and servers' status lines, on their
// way to a span, a log line or an error.

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/resilient-http/resilient/internal/body"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// decorate sits between otelhttp and the network. It completes each
// attempt's CLIENT span with what otelhttp cannot know, the resend count
// (set on resends only, as the conventions ask: the first attempt has
// none), and replaces otelhttp's url.full, which keeps the query, with the
// redacted URL. An error whose message quotes a secret of the request is
// replaced by one that does not (see scrubbedError), so that neither the
// span's status nor the caller's error carries it.
type decorate struct{ next http.RoundTripper }

func (d decorate) RoundTrip(r *http.Request) (*http.Response, error) {
	c := callFrom(r.Context())
	if c == nil {
		return d.next.RoundTrip(r)
	}
	if s := trace.SpanFromContext(r.Context()); s.IsRecording() {
		// Each SetAttributes costs two allocations: only what is needed.
		n, hedge := attemptOf(r.Context(), c)
		if n > 1 {
			s.SetAttributes(semconv.HTTPRequestResendCount(n - 1))
		}
		if hedge {
			s.SetAttributes(hedgeAttr)
		}
		// otelhttp drops the user info but keeps the query, the fragment
		// and an opaque URL's user info.
		if u := r.URL; u.Fragment != "" || u.Opaque != "" || c.t.redactor.HasSecret(u.RawQuery) {
			s.SetAttributes(semconv.URLFull(c.url()))
		}
	}
	resp, err := d.next.RoundTrip(r)
	if err != nil {
		err = c.scrubErr(r, err)
	}
	return resp, err
}

// scrubErr returns err, or a *scrubbedError when its message quotes a
// secret of the request. r is the attempt's request: the secrets are read
// from it rather than from the caller's, because a hedged attempt that
// lost may still end after RoundTrip returned, when the caller's request
// is the caller's again.
func (c *call) scrubErr(r *http.Request, err error) error {
	if msg := err.Error(); c.scrubFor(r, msg) != msg {
		return &scrubbedError{err: err, msg: c.scrubFor(r, msg)}
	}
	return err
}

// scrubbedError is an error whose message quoted a secret of the request
// (a base transport may return a *url.Error with the full URL, say): it
// reads as the original with the secrets redacted and unwraps to it, so
// errors.Is and errors.As see what they saw before.
type scrubbedError struct {
	err error
	msg string
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// ErrorType is the error.type of the original, for semconv.ErrorType.
func (e *scrubbedError) ErrorType() string { return semconv.ErrorType(e.err).Value.AsString() }

// Timeout reports whether the original is a timeout, as a net.Error would.
func (e *scrubbedError) Timeout() bool {
	var to interface{ Timeout() bool }
	return errors.As(e.err, &to) && to.Timeout()
}

// maxText bounds, in runes, a text the client did not write (an error
// from the base transport, a server's status line) in a span or log line.
const maxText = 300

// text returns s, which the client did not write, fit for a span or a log
// line: scrubbed of the request's secrets, then made one clean line of at
// most maxText runes (no control characters or invalid UTF-8, which a
// hostile server can put in a status line).
func (c *call) text(s string) string {
	return body.Excerpt([]byte(c.scrub(s)), maxText)
}

// minSecret is the shortest secret value scrub replaces inside a message:
// replacing shorter ones ("1", "en") would garble messages everywhere, and
// they protect little.
const minSecret = 4

// scrub returns msg without the secrets of c's request that an error
// message may quote: the URL (replaced by its redacted form), its user
// info, the values of secret query parameters, and the credentials in the
// Authorization, Proxy-Authorization and Cookie headers. It is for messages
// the client did not write (errors from the base transport, a server's
// status line) and runs on failure paths only.
func (c *call) scrub(msg string) string { return c.scrubFor(c.req, msg) }

// scrubFor returns msg without the secrets of req, a copy of c's request
// (see scrub).
func (c *call) scrubFor(req *http.Request, msg string) string {
	u, h := req.URL, req.Header
	if u == nil || msg == "" {
		return msg
	}
	auth, pauth, cookie := h.Get("Authorization"), h.Get("Proxy-Authorization"), h.Get("Cookie")
	if u.User == nil && u.RawQuery == "" && auth == "" && pauth == "" && cookie == "" {
		return msg
	}
	var secrets []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if len(s) >= minSecret {
			secrets = append(secrets, s)
			if e := url.QueryEscape(s); e != s {
				secrets = append(secrets, e)
			}
		}
	}
	for _, v := range []string{auth, pauth} {
		add(v)
		if _, cred, ok := strings.Cut(v, " "); ok {
			add(cred)
		}
	}
	for part := range strings.SplitSeq(cookie, ";") {
		if _, v, ok := strings.Cut(part, "="); ok {
			add(v)
		}
	}
	if u.User != nil {
		add(u.User.String())
		add(u.User.Username())
		if p, ok := u.User.Password(); ok {
			add(p)
		}
	}
	for _, v := range c.t.redactor.SecretValues(u.RawQuery) {
		add(v)
		if dec, err := url.QueryUnescape(v); err == nil {
			add(dec)
		}
	}
	// Longest first, so that a secret inside another is not half replaced;
	// the whole URL first of all.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(secrets)+4)
	if c.url() != u.String() {
		pairs = append(pairs, u.String(), c.url())
	}
	for _, s := range secrets {
		pairs = append(pairs, s, "REDACTED")
	}
	return strings.NewReplacer(pairs...).Replace(msg)
}
