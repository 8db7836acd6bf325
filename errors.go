package resilient

// This file holds the errors a request returns: the sentinels, the
// *StatusError, *TransportError and *CircuitOpenError types with their
// messages, and the accessors over an error tree (StatusCode, Attempts,
// TraceID, RequestID, RetryAfter, IsRetryable). The words the messages
// are made of are in errtext.go.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/resilient-http/resilient/internal/body"
)

// Sentinel errors. Test for them with errors.Is; the errors a request
// returns wrap them together with the details.
var (
	// ErrCircuitOpen is matched by the error of a request that the host's
	// circuit breaker refused without touching the network. The error is a
	// *CircuitOpenError, which says when the breaker lets a probe through.
	ErrCircuitOpen = errors.New("resilient: circuit breaker is open")

	// ErrRetryBudgetExhausted is matched when a retry was refused because
	// retries to the host already add their allowed share of the traffic
	// (see RetryBudget). The error still carries the last outcome.
	ErrRetryBudgetExhausted = errors.New("resilient: retry budget exhausted")

	// ErrRetryAfterTooLong is matched when the server asked the client to
	// wait longer than Retry.MaxServerWait (Retry.MaxWait unless it is
	// set), so retrying stopped at once; StatusError.RetryAfter says how
	// long it asked for. A wait within that cap that does not fit before
	// the call's deadline matches ErrDeadline instead: the deadline, not
	// the server, stopped the call.
	ErrRetryAfterTooLong = errors.New("resilient: server asked to wait longer than allowed")

	// ErrDeadline is matched when the call's deadline (WithTimeout, or the
	// deadline of the request's context) cut its retries short: the next
	// wait, a backoff or what the server asked for, would have crossed it,
	// or it passed during an attempt or a wait. The error still carries the
	// last outcome. When the deadline passed during an attempt or a wait,
	// the error also matches context.DeadlineExceeded.
	ErrDeadline = errors.New("resilient: no time left for another attempt before the deadline")

	// ErrNotIdempotent is matched when a retryable failure was not retried
	// because the request is not safe to send twice: its method is not
	// idempotent (POST, PATCH, or any method RFC 9110 does not call
	// idempotent), it carries no Idempotency-Key header (nor
	// Policy.Idempotent), and the failure does not prove that the server
	// never processed it. Send an Idempotency-Key header that the server
	// honours to have such a request retried.
	ErrNotIdempotent = errors.New("resilient: not retried because the request is not idempotent and has no Idempotency-Key header")

	// ErrBodyNotReplayable is matched when a retry was not made because
	// the request body, which has no GetBody and is not an io.Seeker, was
	// longer than the replay limit (WithReplayLimit), so it was sent once.
	// The error still carries the last outcome.
	ErrBodyNotReplayable = errors.New("resilient: request body too long to send again; set Request.GetBody or raise WithReplayLimit")

	// ErrAttemptTimeout is matched when an attempt got no response headers
	// within Retry.AttemptTimeout.
	ErrAttemptTimeout = errors.New("resilient: attempt timed out waiting for response headers")

	// ErrClosed is returned by requests made after Transport.Close.
	ErrClosed = errors.New("resilient: client is closed; create a new one with resilient.New")

	// ErrInvalidRequest is matched by the error for a request that cannot be
	// sent: nil, without a URL or host, or with an unsupported scheme.
	ErrInvalidRequest = errors.New("resilient: invalid request")

	// ErrInvalidOption is matched by the error of Validate for an invalid
	// option value, by the value New and NewTransport panic with for one,
	// and by the error of a call whose Policy (ContextWithPolicy) is
	// invalid.
	ErrInvalidOption = errors.New("resilient: invalid option")
)

// StatusError is the error for a request whose final response was a server
// error (5xx) or an exhausted 429 Too Many Requests. It holds what a person
// needs to find out why: the server's own words, the IDs to look up in logs
// and traces, and what the client tried. Other 4xx responses are not errors
// and come back as plain responses. A response of any status that the
// client's Classifier ended the call on with an error of its own is a
// StatusError too, with that error as Stop.
//
// The response body has been read (up to the client's limit), closed, and
// its connection returned to the pool.
type StatusError struct {
	StatusCode int           // HTTP status code, e.g. 503
	Status     string        // status line text, e.g. "503 Service Unavailable"
	Method     string        // request method
	URL        string        // request URL with credentials and secret query values redacted
	Header     http.Header   // response header without Set-Cookie and other credentials
	Body       []byte        // response body, at most the client's error body limit
	Truncated  bool          // the body was longer than Body
	Problem    *Problem      // RFC 9457 problem details; nil unless the body was valid application/problem+json
	TraceID    string        // W3C trace ID of the request's trace; "" when tracing is off and the caller had no span
	RequestID  string        // request ID from the response headers (X-Request-Id, Cf-Ray, ...), or ""
	Attempts   int           // attempts sent to the server, the first included
	RetryAfter time.Duration // how long the server asked to wait (Retry-After, RateLimit), or 0
	// Elapsed is how long the call took, from RoundTrip to this error:
	// every attempt and every wait, on the Transport's clock.
	Elapsed time.Duration

	// Stop says why retrying stopped before Retry.Max was reached, when
	// something other than the outcome itself stopped it:
	// ErrNotIdempotent, ErrDeadline (which a deadline that passed during
	// an attempt or a wait also matches as context.DeadlineExceeded),
	// ErrRetryAfterTooLong, ErrRetryBudgetExhausted,
	// ErrBodyNotReplayable, a *CircuitOpenError or context.Canceled. It
	// is nil when retries ran out or the status was not retryable.
	// Unwrap returns it. TransportError.Stop means the same.
	Stop error
}

// maxExcerpt bounds the body excerpt in Error.
const maxExcerpt = 200

// Error returns one line, meant to read well alone and inside the *url.Error
// that *http.Client wraps around it: the status, the attempts and how long
// they took, why retrying stopped when it stopped early, what the server
// asked, the trace and request IDs, and the server's words. For example
//
//	resilient: 503 Service Unavailable after 4 attempts in 2.31s (trace 4bf92f3577b34da6a3ce929d0e0e4736, request 7f3a9c): db pool exhausted
//	resilient: 503 Service Unavailable after 1 attempt in 12ms; not retried because a POST without an Idempotency-Key header is not idempotent: db pool exhausted
func (e *StatusError) Error() string { return e.text(true) }

// text is the message; full adds the IDs and the server's words, which a
// span's status description leaves to the span's attributes.
func (e *StatusError) text(full bool) string {
	var b strings.Builder
	b.WriteString(prefix)
	status := body.StatusLine(e.Status, e.StatusCode, maxStatus)
	if status != "" {
		b.WriteString(status)
	} else {
		b.WriteString(strconv.Itoa(e.StatusCode))
	}
	writeAttempts(&b, e.Attempts, e.Elapsed)
	writeStop(&b, e.Stop, e.Method, e.RetryAfter)
	if !full {
		return b.String()
	}
	writeIDs(&b, e.TraceID, e.RequestID)
	if s := e.excerpt(status); s != "" {
		b.WriteString(": ")
		b.WriteString(s)
	}
	return b.String()
}

// excerpt is the server's words in the message: the problem details'
// title and detail, the words a person reads on an HTML page (those after
// status, the status line the message already shows), or the body.
func (e *StatusError) excerpt(status string) string {
	if p := e.Problem; p != nil {
		switch {
		case p.Title != "" && p.Detail != "":
			return body.Excerpt([]byte(p.Title+": "+p.Detail), maxExcerpt)
		case p.Detail != "":
			return body.Excerpt([]byte(p.Detail), maxExcerpt)
		case p.Title != "":
			return body.Excerpt([]byte(p.Title), maxExcerpt)
		}
	}
	if body.IsHTML(e.Header.Get("Content-Type"), e.Body) {
		return body.PageText(e.Body, status, maxExcerpt)
	}
	return body.Excerpt(e.Body, maxExcerpt)
}

// Unwrap returns Stop.
func (e *StatusError) Unwrap() error { return e.Stop }

// TransportError is the error for a request whose final attempt failed
// without a response: the connection was refused or reset, timed out, or the
// response was malformed. Err is that last cause, so errors.Is(err,
// syscall.ECONNREFUSED) and net.Error checks keep working.
type TransportError struct {
	Method   string        // request method
	URL      string        // request URL with credentials and secret query values redacted
	Attempts int           // attempts made, the first included
	TraceID  string        // W3C trace ID of the request's trace, or ""
	Err      error         // the last attempt's error
	Elapsed  time.Duration // how long the call took, as StatusError.Elapsed

	// Stop says why retrying stopped early, as StatusError.Stop does; nil
	// when retries ran out or the failure was not retryable.
	Stop error
}

// Error returns one line: what happened to the last attempt, in words, the
// attempts and how long they took, why retrying stopped when it stopped
// early, the trace ID, and the cause as Go reported it. For example
//
//	resilient: connection refused, after 4 attempts in 305ms (trace 4bf9…): dial tcp 127.0.0.1:1: connect: connection refused
//	resilient: connection closed by the server before any response, after 4 attempts in 12ms: EOF
//	resilient: no response headers within the attempt timeout of 10s, after 4 attempts in 40.5s
func (e *TransportError) Error() string { return e.text(true) }

// text is the message; full adds the trace ID.
func (e *TransportError) text(full bool) string {
	var b strings.Builder
	b.WriteString(prefix)
	words, cause := failureWords(e.Err)
	b.WriteString(words)
	if e.Attempts > 0 {
		b.WriteByte(',')
		writeAttempts(&b, e.Attempts, e.Elapsed)
	}
	if e.Stop != nil && !saysStop(e.Err, e.Stop) {
		writeStop(&b, e.Stop, e.Method, 0)
	}
	if full {
		writeIDs(&b, e.TraceID, "")
	}
	if cause != "" {
		b.WriteString(": ")
		b.WriteString(cause)
	}
	return b.String()
}

// Unwrap returns the last cause and, when set, the reason retrying stopped.
func (e *TransportError) Unwrap() []error {
	if e.Stop != nil {
		return []error{e.Err, e.Stop}
	}
	return []error{e.Err}
}

// Timeout reports whether the last attempt timed out, so that the error
// satisfies the Timeout method of net.Error like the cause it wraps.
func (e *TransportError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout() || errors.Is(e.Err, context.DeadlineExceeded)
}

// CircuitOpenError is the error for a request that the host's admission
// refused without sending it: the host's circuit breaker is open (the host
// is failing), a probe is in flight, or the host is ramping up after an
// outage and this call was not among those admitted. It matches
// ErrCircuitOpen.
type CircuitOpenError struct {
	Host  string       // scheme://host:port the breaker guards
	State BreakerState // BreakerOpen, BreakerHalfOpen (a probe is in flight) or BreakerClosed (ramping up)
	// Reason says why the call was refused, in a few words: "failing",
	// "probing", "server asked to wait" (the server's Retry-After holds the
	// breaker open), "failing for another instance" (shared store) or
	// "ramping up after recovery".
	Reason string
	// Until is when the refusal ends: for an open breaker, when the next
	// probe may go; while ramping up, when every call is admitted again.
	// Zero while a probe is in flight.
	Until time.Time
	// Admitted is, while ramping up, the share of calls admitted when this
	// one was refused (from 0.5 up to, not including, 1); 0 otherwise.
	Admitted float64
	Remote   bool   // the breaker was opened by another instance (shared store)
	TraceID  string // W3C trace ID of the request's trace, or ""
	// Elapsed is how long the call took until it was refused, as
	// StatusError.Elapsed: next to nothing, unless it waited for the
	// breaker's quick probes first. Zero in a Stop.
	Elapsed time.Duration

	at time.Time // when the call was refused, so that Error does not change with time
}

// Error says that the call was refused without being sent, which host is
// refused and why, and when to come back, as seen when the call was
// refused. For example
//
//	resilient: refused without sending: http://10.0.0.7:8080 is failing and its circuit breaker is open; next probe in 250ms
//	resilient: refused without sending: http://10.0.0.7:8080 is recovering from an outage, admitting 50% of calls while traffic ramps up; all admitted in 120ms
func (e *CircuitOpenError) Error() string { return e.text(true) }

// text is the message; full adds the trace ID.
func (e *CircuitOpenError) text(full bool) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString("refused without sending")
	if e.Elapsed >= time.Millisecond {
		b.WriteString(" after ")
		b.WriteString(roundDuration(e.Elapsed))
	}
	b.WriteString(": ")
	switch {
	case e.Reason == reasonRamp:
		fmt.Fprintf(&b, "%s is recovering from an outage, admitting %.0f%% of calls while traffic ramps up", e.Host, 100*e.Admitted)
	case e.State == BreakerHalfOpen:
		fmt.Fprintf(&b, "the circuit breaker for %s is probing whether the host has recovered", e.Host)
	case e.Reason == reasonServer:
		fmt.Fprintf(&b, "%s asked to wait and its circuit breaker holds calls until then", e.Host)
	case e.Reason == reasonRemote:
		fmt.Fprintf(&b, "%s is failing for another instance, which opened the shared circuit breaker", e.Host)
	case e.Reason == reasonOpen || e.Reason == "" && e.State == BreakerOpen:
		fmt.Fprintf(&b, "%s is failing and its circuit breaker is open", e.Host)
	default:
		fmt.Fprintf(&b, "the circuit breaker for %s refused the call, %s", e.Host, cmp.Or(e.Reason, "its state "+e.State.String()))
	}
	at := e.at
	if at.IsZero() {
		at = time.Now()
	}
	switch d := e.Until.Sub(at); {
	case e.Until.IsZero():
		b.WriteString("; retry shortly")
	case e.Admitted > 0:
		b.WriteString("; all admitted in ")
		b.WriteString(roundDuration(d))
	case d > 0:
		b.WriteString("; next probe in ")
		b.WriteString(roundDuration(d))
	default:
		b.WriteString("; next probe now")
	}
	if full {
		writeIDs(&b, e.TraceID, "")
	}
	return b.String()
}

// Is reports whether target is ErrCircuitOpen.
func (e *CircuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }

func writeIDs(b *strings.Builder, traceID, requestID string) {
	switch {
	case traceID != "" && requestID != "":
		b.WriteString(" (trace ")
		b.WriteString(traceID)
		b.WriteString(", request ")
		b.WriteString(requestID)
		b.WriteString(")")
	case traceID != "":
		b.WriteString(" (trace ")
		b.WriteString(traceID)
		b.WriteString(")")
	case requestID != "":
		b.WriteString(" (request ")
		b.WriteString(requestID)
		b.WriteString(")")
	}
}

// StatusCode returns the HTTP status code of a *StatusError in err's tree,
// or 0.
func StatusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

// Attempts returns how many attempts the request in err made, or 0 when err
// holds no resilient error (or the breaker refused the first attempt).
func Attempts(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Attempts
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.Attempts
	}
	return 0
}

// TraceID returns the W3C trace ID carried by a resilient error in err's
// tree, or "".
func TraceID(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return se.TraceID
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.TraceID
	}
	var ce *CircuitOpenError
	if errors.As(err, &ce) {
		return ce.TraceID
	}
	return ""
}

// RequestID returns the request ID that the server sent with the response
// of a *StatusError in err's tree (X-Request-Id, Cf-Ray, ...), or "".
func RequestID(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RequestID
	}
	return ""
}

// RetryAfter returns how long to wait before trying again, as err says:
// the wait the server asked for in a *StatusError (Retry-After or
// RateLimit), or, for a *CircuitOpenError, the time from the refusal to
// Until (the next probe, or the end of ramp-up). It returns 0 when err
// says nothing about it.
func RetryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	var ce *CircuitOpenError
	if errors.As(err, &ce) && !ce.Until.IsZero() && !ce.at.IsZero() {
		return max(0, ce.Until.Sub(ce.at))
	}
	return 0
}

// IsRetryable reports whether trying the same request again later may
// succeed: true for a retryable status, a network failure, an attempt
// timeout, an open circuit or an exhausted retry budget; false for nil, a
// permanent status, a certificate error, an invalid request or a canceled
// context. It judges the failure, not the request: a POST that failed
// with a 503 is retryable here, and was not retried because it may have
// been processed, which errors.Is(err, ErrNotIdempotent) says.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return retryableStatus(se.StatusCode)
	}
	if errors.Is(err, ErrCircuitOpen) || errors.Is(err, ErrRetryBudgetExhausted) {
		return true
	}
	var te *TransportError
	if errors.As(err, &te) {
		err = te.Err
	}
	return classifyErr(err) == Retryable
}
