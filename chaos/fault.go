package chaos

// This file holds Fault, what the injector does to a request it picked, and
// its validation.

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Fault is what happens to a request that a rule picked. Latency and Jitter
// delay it; then Status answers it, Reset drops the connection, or Hang
// holds it; Status with Reset or Hang sends a response whose body is cut
// short or stalls. A fault that sets none of them passes the request on,
// late. The zero Fault does nothing.
//
// Latency followed by Reset is Toxiproxy's timeout toxic: nothing for a
// while, then the connection drops.
type Fault struct {
	// Latency delays the request this long: the Transport before sending
	// it, the Handler before answering. The wait ends early, with no
	// answer, when the request's context ends. Zero means no delay.
	Latency time.Duration
	// Jitter adds a random delay of up to this much to Latency, drawn
	// from the injector's random stream. Zero means none.
	Jitter time.Duration

	// Status, when not zero, answers the request with this status code
	// (200 to 599) instead of passing it on: the Transport returns the
	// response without sending the request, the Handler writes it without
	// calling the wrapped handler.
	Status int
	// Header is sent with Status, e.g. {"Retry-After": {"1"}}. It is read,
	// never modified. Nil means no header beyond what net/http adds.
	Header http.Header
	// Body is the body sent with Status. Empty means no body.
	Body string

	// Reset drops the connection. The Transport returns the error a real
	// reset gives, a *net.OpError ("read: connection reset by peer") that
	// wraps syscall.ECONNRESET, and does not send the request; a client
	// cannot tell whether the server got it, so a POST is not retried. The
	// Handler hijacks the connection and closes it with SO_LINGER 0, so that
	// the client reads a TCP RST; on HTTP/2, where connections cannot be
	// hijacked, it aborts the stream with http.ErrAbortHandler.
	//
	// With Status, the status, Header and Body are sent first, without a
	// Content-Length, then the connection closes: the caller gets the
	// response, and io.ErrUnexpectedEOF when it reads past Body, as from a
	// server that died mid-response. (The Handler closes with a FIN here,
	// not a RST, which could destroy the response before the client reads
	// it.)
	Reset bool
	// Hang holds the request without an answer until its context ends: the
	// Transport then returns the context's error; the Handler returns
	// without writing, when the client goes away or the server closes the
	// connection. A request whose context never ends hangs forever, as it
	// would against a server that stopped answering.
	//
	// With Status, the status, Header and Body are sent first, without a
	// Content-Length, and the body stalls after Body: the caller gets the
	// response, and its read of the body blocks until the context ends
	// (Transport: or the body is closed). Timeouts that stop at the
	// response headers do not see this one.
	Hang bool
}

// zero reports whether f does nothing.
func (f *Fault) zero() bool {
	return f.Latency == 0 && f.Jitter == 0 && f.Status == 0 && !f.Reset && !f.Hang
}

// validate returns an error saying what is wrong with f, or nil.
func (f *Fault) validate() error {
	if f.Latency < 0 || f.Jitter < 0 {
		return fmt.Errorf("negative Latency %v or Jitter %v; use 0 for none", f.Latency, f.Jitter)
	}
	if f.Reset && f.Hang {
		return errors.New("sets both Reset and Hang; a fault ends a request one way: use one rule for each")
	}
	if f.Status != 0 && (f.Status < 200 || f.Status > 599) {
		return fmt.Errorf("status %d is not a final HTTP status; use 200 to 599", f.Status)
	}
	if f.Status == 0 && (f.Header != nil || f.Body != "") {
		return errors.New("sets Header or Body without Status; they are sent only with an injected status")
	}
	return nil
}

// kind indexes the counters of Stats.
type kind int

const (
	kindLatency kind = iota // delayed, then passed on
	kindStatus
	kindReset
	kindHang
	numKinds
)

// kind returns the counter a fault is counted in: how it ends the request.
// A response cut short counts as a Reset, one that stalls as a Hang.
func (f *Fault) kind() kind {
	switch {
	case f.Reset:
		return kindReset
	case f.Hang:
		return kindHang
	case f.Status != 0:
		return kindStatus
	}
	return kindLatency
}
