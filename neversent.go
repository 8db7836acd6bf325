package resilient

// This file holds unprocessed: the failures, besides a refused dial, that
// prove the server did not process a request, so that neverSent lets even
// a POST without an Idempotency-Key be sent again. They are:
//
//   - an HTTP/2 stream the server reset with REFUSED_STREAM, which says it
//     was closed "prior to any processing" (RFC 9113 §8.7);
//   - an HTTP/2 stream above the LastStreamID of the server's GOAWAY, which
//     the server promises it did not and will not process (RFC 9113 §6.8);
//     net/http aborts exactly those streams with its "received Server's
//     graceful shutdown GOAWAY" error, and leaves the others alone;
//   - an HTTP/2 request that never got a stream ("client conn not usable",
//     "could not be established"): nothing of it was written;
//   - an HTTP/1.1 connection whose end-of-stream the client read while no
//     request was on it ("server closed idle connection"): the server closed
//     it before this request was written, the keep-alive race;
//   - net/http's "cannot rewind body after connection loss": it resends a
//     body without GetBody only when it knows that nothing of the request
//     was written (its nothingWrittenError, or an HTTP/2 request that never
//     got a stream), and says this when that body cannot be read again.
//
// A failure after the request went out is not among them, however much it
// looks alike: an HTTP/2 GOAWAY that closed the connection (its stream may
// be at or below LastStreamID: the server may have processed it), a reset
// with another code, or an EOF or reset on HTTP/1.1 after the request was
// written. net/http returns an HTTP/1.1 request that failed with nothing
// written as the bare cause (it strips its nothingWrittenError), so that
// case cannot be told from one that was written, and is not counted; for a
// body it can rewind, net/http resends it itself on a reused connection.
//
// net/http reports these failures with unexported types and values, so
// they are matched here by their messages, which have not changed since
// HTTP/2 came to Go and are the same in golang.org/x/net/http2. Each is
// matched at the start of one error of the tree, never inside a longer
// text, so that what a server sent (a GOAWAY's debug data, quoted; a
// status line) cannot pass for one.

import "strings"

// The messages of the net/http (and golang.org/x/net/http2) errors that
// prove the request unprocessed, and of the wrapper that quotes one.
const (
	msgServerClosedIdle  = "http: server closed idle connection"
	msgGracefulGoAway    = "http2: Transport received Server's graceful shutdown GOAWAY"
	msgGoAwayAbove       = "http2: Transport received GOAWAY from server ErrCode:"
	msgConnUnusable      = "http2: client conn not usable"
	msgConnNotEstablish  = "http2: client conn could not be established"
	msgCannotRewind      = "net/http: cannot rewind body after connection loss"
	msgCannotRetryPrefix = "http2: Transport: cannot retry err ["
	msgCannotRetrySuffix = "] after Request.Body was written"
	msgStreamError       = "stream error: stream ID "
	refusedStream        = "REFUSED_STREAM"
)

// unprocessed reports whether e, one error of a failure's tree, proves
// that the server did not process the request (see the file comment).
func unprocessed(e error) bool { return unprocessedMsg(e.Error()) }

// unprocessedMsg reports whether msg is the message of an error that
// proves the request unprocessed.
func unprocessedMsg(msg string) bool {
	switch {
	case msg == msgServerClosedIdle, msg == msgGracefulGoAway,
		msg == msgConnUnusable, msg == msgConnNotEstablish, msg == msgCannotRewind:
		return true
	case strings.HasPrefix(msg, msgGoAwayAbove):
		// net/http's abort of stream 1, above LastStreamID, when the
		// GOAWAY carries an error code.
		return true
	case strings.HasPrefix(msg, msgCannotRetryPrefix):
		// net/http could not replay a body without GetBody; the cause
		// it quotes is what counts.
		inner, _, ok := strings.Cut(msg[len(msgCannotRetryPrefix):], msgCannotRetrySuffix)
		return ok && unprocessedMsg(inner)
	case strings.HasPrefix(msg, msgStreamError):
		// A StreamError: "stream error: stream ID 3; REFUSED_STREAM",
		// then "; " and its cause when it has one.
		_, code, _ := strings.Cut(msg[len(msgStreamError):], "; ")
		code, _, _ = strings.Cut(code, ";")
		return code == refusedStream
	}
	return false
}
