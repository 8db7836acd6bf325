package resilient

// This file holds classification: Classify, the question asked after every
// attempt (success, retryable, permanent), the statuses that are retryable
// and those that show a host unhealthy, and IsIdempotent and neverSent,
// which say when a request may be sent again.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
)

// Outcome is the class of one attempt's result.
type Outcome int

// The outcomes Classify returns.
const (
	// Success: a response that is not an error: 1xx, 2xx, 3xx.
	Success Outcome = iota
	// Retryable: a transient failure that a later attempt may not meet:
	// a network failure or timeout, status 408 or 429, or a 5xx other
	// than 501, 505, 506, 508, 510 and 511.
	Retryable
	// Permanent: a failure that the same request will meet again: other
	// 4xx, 501, 505, 506, 508, 510, 511, a status past 599, a certificate
	// error, too many redirects, an invalid request, or the caller's own
	// cancellation.
	Permanent
)

// String returns "success", "retryable" or "permanent".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Classify returns the class of an attempt's result, as the client's retry
// policy sees it. err takes precedence over resp. It is the question the
// client asks after every attempt, exported so that callers can ask it too.
//
// A 5xx is Retryable, and counts against the host's circuit breaker, as
// go-retryablehttp and failsafe-go's failsafehttp retry every 5xx but 501:
// the 5xx a client meets most often come from the proxies, load balancers
// and CDNs in front of a service, and many are not in the IANA registry
// (Cloudflare's 520-524 and 530 for an origin that is down, unreachable
// or slow; 529 for an overloaded site; 598 and 599 from proxies whose
// upstream timed out). Six are Permanent and leave the host healthy,
// since each says that the request itself is wrong, or that the server
// will never carry it out:
//
//   - 501 Not Implemented (RFC 9110 15.6.2): the server does not support
//     the method or function at all;
//   - 505 HTTP Version Not Supported (RFC 9110 15.6.6): it refuses the
//     request's major HTTP version;
//   - 506 Variant Also Negotiates (RFC 2295): its content negotiation is
//     misconfigured, for every request for that resource;
//   - 508 Loop Detected (RFC 5842): the request's bindings form a loop;
//   - 510 Not Extended (RFC 2774, obsoleted): the request lacks an
//     extension the server requires;
//   - 511 Network Authentication Required (RFC 6585): a captive portal
//     wants the client to log in to the network first.
//
// 507 Insufficient Storage (RFC 4918) stays Retryable: RFC 4918 calls it
// temporary. A status past 599 is not HTTP's and is Permanent. Where
// go-retryablehttp and failsafehttp differ: they also retry 505, 506, 508,
// 510, 511 and statuses past 599, and never 408; go-retryablehttp retries
// any method, where this client retries only the requests that are safe
// to send again (see IsIdempotent). A WithClassifier hook overrides all
// of this.
func Classify(resp *http.Response, err error) Outcome {
	if err != nil {
		return classifyErr(err)
	}
	if resp == nil {
		return Permanent
	}
	switch {
	case resp.StatusCode < 400:
		return Success
	case retryableStatus(resp.StatusCode):
		return Retryable
	}
	return Permanent
}

// retryableStatus reports whether code is worth another attempt: the
// statuses of an unhealthy host, plus 408 and 429, which say that this
// request came too slowly or too often, not that the host is failing.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || unhealthyStatus(code)
}

// unhealthyStatus reports whether code shows that the host is failing:
// every 5xx but those that Classify's doc names as permanent. These, with
// network failures and attempt timeouts, are what admission counts against
// a host (see verdict).
func unhealthyStatus(code int) bool {
	if code < 500 || code > 599 {
		return false
	}
	switch code {
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported,
		http.StatusVariantAlsoNegotiates, http.StatusLoopDetected,
		http.StatusNotExtended, http.StatusNetworkAuthenticationRequired:
		return false
	}
	return true
}

// classifyErr classifies an error that came instead of a response. It walks
// the error tree with a type switch rather than errors.As, which would
// allocate a target per type on every failure.
func classifyErr(err error) Outcome {
	if err == nil {
		return Success
	}
	out := Outcome(-1)
	walk(err, func(e error) bool {
		switch e := e.(type) {
		case *CircuitOpenError, *attemptTimeoutError:
			out = Retryable
		case *x509.UnknownAuthorityError, x509.CertificateInvalidError, x509.HostnameError,
			*tls.CertificateVerificationError, tls.RecordHeaderError:
			out = Permanent
		case *net.DNSError:
			if e.IsNotFound {
				out = Permanent
			}
		}
		switch e {
		case context.Canceled, ErrInvalidRequest, ErrInvalidOption, ErrClosed:
			out = Permanent
		case ErrAttemptTimeout, ErrCircuitOpen:
			out = Retryable
		}
		return out >= 0
	})
	if out >= 0 {
		return out
	}
	// net/http reports these with unexported types; their text is stable.
	msg := err.Error()
	if strings.Contains(msg, "stopped after") && strings.Contains(msg, "redirects") ||
		strings.Contains(msg, "unsupported protocol scheme") ||
		strings.Contains(msg, "invalid header field") ||
		strings.Contains(msg, "certificate") && strings.Contains(msg, "x509") {
		return Permanent
	}
	return Retryable
}

// walk calls f on err and every error it wraps, depth first, until f
// returns true.
func walk(err error, f func(error) bool) bool {
	for err != nil {
		if f(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if walk(e, f) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// IsIdempotent reports whether req may be sent more than once without
// changing the outcome: RFC 9110's idempotent methods (GET, HEAD, OPTIONS,
// TRACE, PUT, DELETE), or any request carrying an Idempotency-Key header.
func IsIdempotent(req *http.Request) bool {
	if req == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// neverSent reports whether err proves that the server never processed
// the request: the connection could not be made, or the server refused or
// dropped it unprocessed (see unprocessed), or a retired connection
// refused to write it (conns_dial.go), so even a POST may be retried.
func neverSent(err error) bool {
	return walk(err, func(e error) bool {
		op, ok := e.(*net.OpError)
		return ok && op.Op == "dial" || e == ErrCircuitOpen || e == errConnRetired || unprocessed(e)
	})
}
