package resilient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
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
	// a network failure or timeout, or status 408, 429, 500, 502, 503, 504.
	Retryable
	// Permanent: a failure that the same request will meet again: other
	// 4xx, 501, 505 and other 5xx, a certificate error, too many
	// redirects, an invalid request, or the caller's own cancellation.
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

// retryableStatus reports whether code is worth another attempt.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// classifyErr classifies an error that came instead of a response.
func classifyErr(err error) Outcome {
	if err == nil {
		return Success
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrInvalidRequest) ||
		errors.Is(err, ErrInvalidOption) || errors.Is(err, ErrClosed) {
		return Permanent
	}
	if errors.Is(err, ErrAttemptTimeout) {
		return Retryable
	}
	var (
		unknownAuth *x509.UnknownAuthorityError
		certInvalid x509.CertificateInvalidError
		hostname    x509.HostnameError
		verify      *tls.CertificateVerificationError
		recordHdr   tls.RecordHeaderError
		dnsErr      *net.DNSError
	)
	switch {
	case errors.As(err, &unknownAuth), errors.As(err, &certInvalid),
		errors.As(err, &hostname), errors.As(err, &verify), errors.As(err, &recordHdr):
		return Permanent
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return Permanent
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

// neverSent reports whether err proves that the request never reached the
// server: the connection could not be made, so even a POST may be retried.
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, ErrCircuitOpen)
}
