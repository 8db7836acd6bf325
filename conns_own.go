package resilient

//lint:file-ignore SA1019 x/net deprecates its HTTP/2 transport and ConnPool in favour of http.Transport.NewClientConn, which leaves pooling to the caller; its ConnPool is still the one public way to learn and retire a connection of a Transport's HTTP/2 pool (see own). Reading Transport.Dial and DialTLS tells whether a caller set them.

// This file holds the transport that the library builds and owns (New's,
// or a clone given with WithTransport), and what owning it adds to
// conns.go: the connections come from the library's dialer
// (conns_dial.go), and HTTP/2 goes through golang.org/x/net/http2, whose
// connection pool (h2pool) tells which connection an attempt got, so
// that a failing one can be retired gracefully: new calls open a new
// connection, while the streams already on the old one finish.
//
// x/net has deprecated this form (ConfigureTransports, Transport.ConnPool)
// in favour of http.Transport.NewClientConn (Go 1.26), which gives single
// connections and leaves the pool to the caller; that would mean writing
// an HTTP/1 and HTTP/2 pool. Built with Go 1.27, x/net 0.59 hands HTTP/2
// to net/http's own implementation and has no pool left to wrap (its
// ConnPool is nil): HTTP/2 connections are then not retired, and
// TestConns_http2RetiredGracefully says so.

import (
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"golang.org/x/net/http2"
)

// owned is what the library keeps of a transport it built.
type owned struct {
	h2 *h2pool // nil when HTTP/2 is not served through x/net
}

// own makes tr the library's: its dialer becomes a dialer (conns_dial.go),
// and HTTP/2, where net/http would use it, goes through x/net with an
// h2pool. nd, when not nil, replaces tr's dialer (New's: a net.Dialer
// with http.DefaultTransport's settings); when nil, tr's DialContext is
// wrapped, or, when tr has none, a zero net.Dialer dials, as in net/http.
// Only a net.Dialer of the library's dials a name's addresses one by one,
// resolving them with r when it is not nil. A caller's deprecated Dial is
// left alone, and so are its connections.
func own(tr *http.Transport, nd *net.Dialer, r *net.Resolver, clk clock) *owned {
	o := &owned{}
	h2 := wantsHTTP2(tr) // before the dialer changes: net/http's rule looks at the caller's
	d := &dialer{clock: clk}
	switch {
	case nd == nil && tr.DialContext != nil:
		d.next = tr.DialContext
	case nd == nil && tr.Dial != nil:
		d = nil
	default:
		if nd == nil {
			nd = &net.Dialer{}
		}
		if r != nil {
			nd.Resolver = r
		}
		d.own, d.next = nd, nd.DialContext
	}
	if d != nil {
		tr.DialContext = d.DialContext
	}
	if h2 {
		if t2, err := http2.ConfigureTransports(tr); err == nil && t2.ConnPool != nil {
			o.h2 = &h2pool{ClientConnPool: t2.ConnPool}
			t2.ConnPool = o.h2
		}
	}
	return o
}

// withResolver makes the library's own dialer resolve names with r; for
// tests of a name with several addresses.
func withResolver(r *net.Resolver) Option {
	return optionFunc(func(c *config) { c.resolver = r })
}

// wantsHTTP2 reports whether net/http would speak HTTP/2 over tr by
// itself (Transport.Protocols' rule): then x/net serves it instead. A
// caller who chose the protocols (Protocols, TLSNextProto) keeps net/http's
// choice, as does GODEBUG=http2client=0.
func wantsHTTP2(tr *http.Transport) bool {
	switch {
	case tr.TLSNextProto != nil, tr.Protocols != nil:
		return false
	case !tr.ForceAttemptHTTP2 && (tr.TLSClientConfig != nil || tr.Dial != nil || tr.DialContext != nil ||
		tr.DialTLS != nil || tr.DialTLSContext != nil):
		return false
	}
	return !strings.Contains(os.Getenv("GODEBUG"), "http2client=0")
}

// h2pool is x/net's HTTP/2 connection pool, which dials nothing (net/http
// dials, and hands each new connection to x/net), wrapped to tell each
// attempt which connection it got (attemptConn), and to close idle
// connections, which x/net does only for its own pool type. It is safe
// for concurrent use.
type h2pool struct {
	http2.ClientConnPool
	conns sync.Map // *http2.ClientConn → struct{}: those handed out, until dead
}

// GetClientConn returns a connection for req from x/net's pool, and
// records it in req's attemptConn, if any.
func (p *h2pool) GetClientConn(req *http.Request, addr string) (*http2.ClientConn, error) {
	cc, err := p.ClientConnPool.GetClientConn(req, addr)
	if err != nil {
		return nil, err
	}
	if _, ok := p.conns.Load(cc); !ok {
		p.conns.Store(cc, struct{}{})
	}
	if w := attemptConnFrom(req.Context()); w != nil {
		w.cc = cc
	}
	return cc, nil
}

// MarkDead forgets cc, which closed.
func (p *h2pool) MarkDead(cc *http2.ClientConn) {
	p.conns.Delete(cc)
	p.ClientConnPool.MarkDead(cc)
}

// closeIdle closes the idle connections, as x/net's pool does for
// Transport.CloseIdleConnections.
func (p *h2pool) closeIdle() {
	p.conns.Range(func(k, _ any) bool {
		cc := k.(*http2.ClientConn)
		if st := cc.State(); st.Closed {
			p.conns.Delete(cc)
		} else if idleH2(st) {
			cc.SetDoNotReuse() // a request that got it meanwhile finishes first
			closeIfIdleH2(cc)
		}
		return true
	})
}

// retireH2 retires cc gracefully: no new request goes on it (x/net opens
// another connection for the next), the streams on it finish, and it
// closes after the last.
func retireH2(cc *http2.ClientConn) {
	cc.SetDoNotReuse()
	closeIfIdleH2(cc)
}

// closeIfIdleH2 closes cc, which takes no new request, when no stream is
// on it: there is nothing to interrupt, and none can come. x/net closes
// such a connection when its last stream ends; this covers the one whose
// last stream ended before.
func closeIfIdleH2(cc *http2.ClientConn) {
	if idleH2(cc.State()) {
		cc.Close()
	}
}

// idleH2 reports whether a connection in state st carries no stream and
// has none reserved or waiting.
func idleH2(st http2.ClientConnState) bool {
	return !st.Closed && st.StreamsActive == 0 && st.StreamsReserved == 0 && st.StreamsPending == 0
}
