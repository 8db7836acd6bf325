package resilient

// This file holds the words the errors of errors.go are made of, written
// for a person on call who reads one line: what happened to the last
// attempt (failureWords), the attempts and how long the call took
// (writeAttempts), why retrying stopped when it stopped early
// (stopClause), and the text a failed call's span gets (shortText). Every
// message has one "resilient: " prefix: a cause that has its own loses it.

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prefix begins every message of the package.
const prefix = "resilient: "

// writeAttempts writes " after n attempts in d"; d is left out when it is
// unknown (zero), n when it is.
func writeAttempts(b *strings.Builder, n int, d time.Duration) {
	switch {
	case n == 1:
		b.WriteString(" after 1 attempt")
	case n > 1:
		b.WriteString(" after ")
		b.WriteString(strconv.Itoa(n))
		b.WriteString(" attempts")
	}
	if d > 0 {
		b.WriteString(" in ")
		b.WriteString(roundDuration(d))
	}
}

// roundDuration writes d with the precision a reader needs: microseconds
// below a millisecond, milliseconds below a second, hundredths of a
// second below a minute, seconds above.
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// writeStop writes "; " and why retrying stopped early, when stop says
// so, and "; the server asked to retry after d" when the server asked
// for a wait that the stop's words did not already name.
func writeStop(b *strings.Builder, stop error, method string, retryAfter time.Duration) {
	clause, named := stopClause(stop, method, retryAfter)
	if clause != "" {
		b.WriteString("; ")
		b.WriteString(clause)
	}
	if retryAfter > 0 && !named {
		b.WriteString("; the server asked to retry after ")
		b.WriteString(roundDuration(retryAfter))
	}
}

// stopClause says why retrying stopped, in words, and whether they name
// the wait the server asked for, retryAfter.
func stopClause(stop error, method string, retryAfter time.Duration) (clause string, named bool) {
	if stop == nil {
		return "", false
	}
	var co *CircuitOpenError
	switch {
	case errors.As(stop, &co):
		switch {
		case co.Reason == reasonRamp:
			return "retry refused while the host ramps up after an outage", false
		case co.State == BreakerHalfOpen:
			return "retry refused while the host's circuit breaker probes it", false
		case co.Reason == reasonServer:
			return "retrying stopped, the host's circuit breaker holds as the server asked", false
		case co.Reason == reasonRemote:
			return "retrying stopped, the host's circuit breaker was opened by another instance", false
		}
		return "retrying stopped, the host's circuit breaker opened", false
	case errors.Is(stop, ErrNotIdempotent):
		if method == "" {
			method = "request"
		}
		return "not retried because a " + method + " without an Idempotency-Key header is not idempotent", false
	case stop == errDeadlinePassed, errors.Is(stop, context.DeadlineExceeded):
		return "the call's deadline passed", false
	case errors.Is(stop, ErrDeadline):
		if retryAfter > 0 {
			return "retrying stopped by the call's deadline, too close to wait the " + roundDuration(retryAfter) + " the server asked for", true
		}
		return "retrying stopped by the call's deadline, too close for another attempt", false
	case errors.Is(stop, ErrRetryAfterTooLong):
		if retryAfter > 0 {
			return "retrying stopped because the server asked to wait " + roundDuration(retryAfter) + ", longer than the client's cap (Retry.MaxServerWait, or MaxWait)", true
		}
		return "retrying stopped because the server asked to wait longer than the client's cap (Retry.MaxServerWait, or MaxWait)", false
	case errors.Is(stop, ErrRetryBudgetExhausted):
		return "retrying stopped by the retry budget while the host shows signs of overload", false
	case errors.Is(stop, ErrBodyNotReplayable):
		return "not retried because the request body has no GetBody and is longer than WithReplayLimit", false
	case errors.Is(stop, context.Canceled):
		return "canceled by the caller", false
	}
	return "retrying stopped, " + unprefixed(stop.Error()), false
}

// saysStop reports whether the words for err already say stop, so that
// the message does not repeat it.
func saysStop(err, stop error) bool {
	return errors.Is(err, stop) ||
		errors.Is(stop, context.DeadlineExceeded) && errors.Is(err, context.DeadlineExceeded)
}

// failureWords says what happened to an attempt that got no response, in
// words, and gives the cause as Go reported it ("EOF", an address, a
// certificate's name), for a search of the logs. A cause of the
// package's own is all words, and gives no cause.
func failureWords(err error) (words, cause string) {
	if err == nil {
		return "request failed", ""
	}
	msg := err.Error()
	if strings.HasPrefix(msg, prefix) {
		return unprefixed(msg), ""
	}
	cause = unprefixed(msg)
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var to interface{ Timeout() bool }
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the call's deadline passed before a response", cause
	case errors.Is(err, context.Canceled):
		return "canceled before a response", cause
	case strings.Contains(msg, "server closed idle connection"):
		return "the server closed the connection as the request was sent", cause
	case unprocessedMsg(msg):
		return "the server turned the request away unprocessed", cause
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the server before any response", cause
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", cause
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset before any response", cause
	case errors.As(err, &dns):
		return "the host name could not be resolved", cause
	case errors.As(err, &cert), strings.Contains(msg, "x509: "):
		return "the server's TLS certificate was rejected", cause
	case errors.As(err, &to) && to.Timeout():
		return "timed out before any response", cause
	}
	return "request failed", cause
}

// unprefixed returns s without the package's prefix, wherever a wrapped
// error put it.
func unprefixed(s string) string { return strings.ReplaceAll(s, prefix, "") }

// shortText is err's message for a failed call's span status: without
// the prefix, the IDs (the span has its trace, and the request ID as an
// attribute) and the server's words.
func shortText(err error) string {
	var se *StatusError
	var te *TransportError
	var ce *CircuitOpenError
	var s string
	switch {
	case errors.As(err, &se):
		s = se.text(false)
	case errors.As(err, &te):
		s = te.text(false)
	case errors.As(err, &ce):
		s = ce.text(false)
	default:
		s = err.Error()
	}
	return strings.TrimPrefix(s, prefix)
}

// deadlinePassed is the Stop of a call whose deadline passed during an
// attempt or a wait: it matches ErrDeadline and context.DeadlineExceeded,
// and is a timeout, as the latter is.
type deadlinePassed struct{}

// errDeadlinePassed is the one deadlinePassed.
var errDeadlinePassed error = deadlinePassed{}

func (deadlinePassed) Error() string { return prefix + "the call's deadline passed" }
func (deadlinePassed) Is(target error) bool {
	return target == ErrDeadline || target == context.DeadlineExceeded
}
func (deadlinePassed) Timeout() bool   { return true }
func (deadlinePassed) Temporary() bool { return true }
