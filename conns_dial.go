package resilient

// This file holds the dialer of the library's own transport (New's, or a
// clone given with WithTransport): every connection it makes is a conn,
// which stops writing once retired (conns.go), so that no request goes
// out on a connection whose attempt failed; and when it dials a name
// whose connection was retired, it tries the name's other addresses
// first. Go dials a name's addresses in the order the resolver gives
// them, so every connection would go to the first (golang/go#31698), the
// sick one included.

import (
	"context"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// dialer dials the connections of the library's own transport. It is safe
// for concurrent use.
type dialer struct {
	// next dials: the transport's own DialContext, or own's.
	next func(ctx context.Context, network, addr string) (net.Conn, error)
	// own is the dialer used when the transport had none of the caller's:
	// then a name's addresses can be dialed one by one. nil otherwise.
	own   *net.Dialer
	clock clock

	mu sync.Mutex
	// retired holds, by the address dialed (host:port), the IP
	// addresses of connections retired within the last watchFor, with
	// when each may be tried first again. Entries are dropped once all
	// expire.
	retired map[string][]avoided
}

type avoided struct {
	ip    netip.Addr
	until time.Time
}

// maxAvoid bounds the names whose retired addresses a dialer remembers.
const maxAvoid = 1024

// DialContext dials addr, as http.Transport.DialContext does, and returns
// the connection as a conn.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var nc net.Conn
	var err error
	if bad := d.avoided(addr, d.clock.Now()); len(bad) > 0 && d.own != nil {
		nc, err = d.dialAround(ctx, network, addr, bad)
	} else {
		nc, err = d.next(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	return &conn{Conn: nc, d: d, addr: addr}, nil
}

// dialAround dials addr, a name's, trying first the addresses that are
// not in bad: those of connections retired lately. When none of those
// answers, or there is none, it dials addr as Go does.
func (d *dialer) dialAround(ctx context.Context, network, addr string, bad []netip.Addr) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return d.next(ctx, network, addr)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return d.next(ctx, network, addr) // one address: nothing to choose
	}
	r := d.own.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ipnet := "ip"
	switch network {
	case "tcp4":
		ipnet = "ip4"
	case "tcp6":
		ipnet = "ip6"
	}
	ips, err := r.LookupNetIP(ctx, ipnet, host)
	if err != nil {
		return nil, err
	}
	for _, ip := range ips {
		if slices.Contains(bad, ip.Unmap()) {
			continue
		}
		if nc, err := d.own.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port)); err == nil {
			return nc, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return d.next(ctx, network, addr)
}

// avoided returns the addresses of addr's connections retired lately, as
// of now.
func (d *dialer) avoided(addr string, now time.Time) []netip.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	list := d.retired[addr]
	if len(list) == 0 {
		return nil
	}
	var ips []netip.Addr
	for _, a := range list {
		if now.Before(a.until) {
			ips = append(ips, a.ip)
		}
	}
	if len(ips) == 0 {
		delete(d.retired, addr)
	}
	return ips
}

// avoid records that c was retired at now: the next connections to its
// address try the name's other addresses first, for watchFor.
func (d *dialer) avoid(c *conn, now time.Time) {
	if d.own == nil {
		return // the caller's dialer chooses the address
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return
	}
	ip := ap.Addr().Unmap()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.retired == nil {
		d.retired = make(map[string][]avoided)
	}
	if _, ok := d.retired[c.addr]; !ok && len(d.retired) >= maxAvoid {
		for k, list := range d.retired {
			if !now.Before(list[len(list)-1].until) {
				delete(d.retired, k)
			}
		}
		if len(d.retired) >= maxAvoid {
			return
		}
	}
	list := slices.DeleteFunc(d.retired[c.addr], func(a avoided) bool { return a.ip == ip || !now.Before(a.until) })
	d.retired[c.addr] = append(list, avoided{ip: ip, until: now.Add(watchFor)})
}

// conn is a connection of the library's own dialer. Once retired it
// writes nothing: a request that net/http hands it fails before a byte
// goes out, and net/http sends it again on another connection when it
// can (its nothingWrittenError), or returns errConnRetired, which
// neverSent recognises. Reads go on, so the failed response's body can
// still be read.
type conn struct {
	net.Conn
	d       *dialer
	addr    string // the address dialed, host:port
	retired atomic.Bool
}

func (c *conn) Write(b []byte) (int, error) {
	if c.retired.Load() {
		return 0, errConnRetired
	}
	return c.Conn.Write(b)
}

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) for
// request bodies.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if c.retired.Load() {
		return 0, errConnRetired
	}
	return io.Copy(c.Conn, r)
}
