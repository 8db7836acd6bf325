package resilient

// This file holds what makes a connection part of a host's health. Behind
// an L4 balancer (kube-proxy, an NLB, IPVS) or a name with several
// addresses, a connection is pinned to one backend; net/http hands out the
// connection returned last, so a retry would go out on the connection
// whose attempt just failed, to the same sick backend, and a run of such
// failures would open the whole host's breaker. So the connection of an
// attempt that failed against its host (a failure that verdict counts: a
// 5xx, a reset, a timeout) is retired, alone: never the whole pool, never
// another host's. The retry, the next call and the breaker's probes take
// another idle connection or dial one, and an open breaker never keeps a
// sick connection alive.
//
//   - Which connection an attempt used is learnt through httptrace's
//     GotConn, and, for HTTP/2 on the library's own transport, through
//     x/net's connection pool (conns_own.go). That costs four allocations
//     per attempt, so it is paid only on a host that failed within the
//     last watchFor (host.watching): the first failure after a quiet spell
//     is not seen, and its connection may carry one more attempt, whose
//     failure is.
//   - An HTTP/1 connection is retired once the failed response's body,
//     which the error needs, has been read: it is closed then, instead of
//     going back to the pool (retiringBody). On the library's own
//     transport the connection refuses to write from the moment the
//     failure is seen (conns_dial.go), so no request can go out on it in
//     between: net/http sends one that tries elsewhere, as it does on a
//     connection the server closed. Over a caller's transport nothing
//     stops net/http from handing the connection to another request in
//     the microseconds between the end of the body and the close: that
//     request then fails on a closed connection, which net/http retries
//     itself when the request may be sent again.
//   - An HTTP/2 connection carries other calls' streams: it is retired
//     gracefully (retireH2, conns_own.go), only on the library's own
//     transport.
//   - On the library's own transport, the connection that replaces a
//     retired one tries the name's other addresses first (conns_dial.go).

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// watchFor is how long after a failure its host's attempts learn their
// connections, and how long a retired connection's address is tried last.
const watchFor = 30 * time.Second

// errConnRetired is what a retired connection of the library's own
// transport answers a write with: nothing of the request was written.
var errConnRetired = errors.New("resilient: connection retired after a failed attempt")

// hostConns is what a host keeps of its connections' health: until when
// its attempts learn their connection.
type hostConns struct {
	watchUntil atomic.Int64 // unix nanos; 0: not watching
	// blind is set when the base answered an attempt of a watching host
	// without saying which connection it used: it is not net/http, or
	// drops the request's context. Learning costs allocations there,
	// and would learn nothing.
	blind atomic.Bool
}

// watching reports whether h's attempts learn their connection now: h
// failed within the last watchFor. A host that never failed, or not for
// that long, answers with one atomic load.
func (h *host) watching() bool {
	until := h.conns.watchUntil.Load()
	if until == 0 || h.conns.blind.Load() {
		return false
	}
	if h.t.cfg.clock.Now().UnixNano() < until {
		return true
	}
	h.conns.watchUntil.CompareAndSwap(until, 0)
	return false
}

// attemptConn is what one attempt learns of its connection, through the
// context it carries: the connection (GotConn) and, over HTTP/2 on the
// library's own transport, x/net's client connection (h2pool). It is the
// parent of the attempt's trace context, and answers attemptConnKey with
// itself. The attempt's goroutine writes it while sending, and reads it
// after.
type attemptConn struct {
	context.Context
	trace httptrace.ClientTrace
	conn  net.Conn
	//lint:ignore SA1019 x/net's ClientConn of its HTTP/2 pool: see conns_own.go
	cc *http2.ClientConn
}

type attemptConnKey struct{}

// watchConn returns a context for an attempt under parent that records
// its connection in a new attemptConn.
func watchConn(parent context.Context) (context.Context, *attemptConn) {
	w := &attemptConn{Context: parent}
	w.trace.GotConn = func(info httptrace.GotConnInfo) { w.conn = info.Conn }
	return httptrace.WithClientTrace(w, &w.trace), w
}

// Value answers attemptConnKey with w.
func (w *attemptConn) Value(key any) any {
	if _, ok := key.(attemptConnKey); ok {
		return w
	}
	return w.Context.Value(key)
}

// attemptConnFrom returns the attemptConn that ctx records into, or nil.
func attemptConnFrom(ctx context.Context) *attemptConn {
	w, _ := ctx.Value(attemptConnKey{}).(*attemptConn)
	return w
}

// watch returns r as c's next attempt sends it: on a host that is
// watching, a copy that records its connection into c.conns; otherwise r.
func (c *call) watch(r *http.Request) *http.Request {
	c.conns = nil
	if !c.host.watching() {
		return r
	}
	var ctx context.Context
	ctx, c.conns = watchConn(r.Context())
	return r.WithContext(ctx)
}

// retire retires the connection of an attempt whose outcome, res, counted
// against the host: w is what the attempt learnt of it (nil when its host
// was not watching). From now on the host's attempts learn their
// connections. A response's body stays readable: the error needs it.
func (c *call) retire(w *attemptConn, res *result) {
	h := c.host
	h.conns.watchUntil.Store(c.t.cfg.clock.Now().Add(watchFor).UnixNano())
	if w == nil {
		return
	}
	if w.conn == nil && w.cc == nil {
		if res.resp != nil {
			h.conns.blind.Store(true) // net/http reports the connection of every response
		}
		return
	}
	own := ownConn(w.conn)
	if own != nil {
		own.d.avoid(own, c.t.cfg.clock.Now())
	}
	if w.cc != nil {
		retireH2(w.cc) // conns_own.go
		return
	}
	resp := res.resp
	if resp == nil || resp.ProtoMajor != 1 {
		// A reset or a timeout: net/http has closed an HTTP/1
		// connection already. Over HTTP/2 without x/net's pool the
		// connection cannot be retired without resetting other streams.
		return
	}
	if own != nil {
		own.retired.Store(true)
	}
	if resp.Body == http.NoBody {
		// net/http put the connection back in the pool before handing
		// over a response without a body. Ours refuses to write: the
		// next request on it goes elsewhere, and net/http closes it.
		// A caller's is closed now.
		if own == nil {
			w.conn.Close()
		}
		return
	}
	resp.Body = &retiringBody{ReadCloser: resp.Body, conn: w.conn}
}

// retiringBody is the body of a failed HTTP/1 response whose connection
// is retired: closing the body, once it was read for the error, closes
// the connection, instead of leaving it in the pool.
type retiringBody struct {
	io.ReadCloser
	conn net.Conn
}

func (b *retiringBody) Close() error {
	err := b.ReadCloser.Close()
	b.conn.Close()
	return err
}

// ownConn returns the connection of the library's own dialer under nc,
// which GotConn gave: itself, or under TLS; nil for a connection that a
// caller's transport dialed.
func ownConn(nc net.Conn) *conn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, _ := nc.(*conn)
	return c
}
