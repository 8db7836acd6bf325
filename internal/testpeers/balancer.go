package testpeers

// This file holds Balancer, an L4 (TCP) load balancer for tests: it picks
// a backend per connection, round robin, as kube-proxy, an AWS NLB or IPVS
// do, so that a keep-alive connection stays pinned to one backend. It
// carries bytes only; TLS passes through to the backend.

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Balancer is a round-robin TCP balancer on a free 127.0.0.1 port. It is
// safe for concurrent use. Close stops it and closes every connection it
// carries.
type Balancer struct {
	ln       net.Listener
	backends []string
	next     atomic.Uint64
	conns    []atomic.Int64 // connections handed to each backend

	mu     sync.Mutex
	open   map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewBalancer starts a balancer over the backends' host:port addresses.
// The first connection goes to backends[0], the next to backends[1], and
// so on around.
func NewBalancer(backends ...string) (*Balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Balancer{ln: ln, backends: backends, conns: make([]atomic.Int64, len(backends)), open: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.serve()
	return b, nil
}

// Addr returns the balancer's host:port.
func (b *Balancer) Addr() string { return b.ln.Addr().String() }

// Conns returns how many connections each backend was handed, in the
// order of NewBalancer's arguments.
func (b *Balancer) Conns() []int64 {
	out := make([]int64, len(b.conns))
	for i := range b.conns {
		out[i] = b.conns[i].Load()
	}
	return out
}

// Close stops accepting, closes every connection carried and waits for
// the balancer's goroutines to end.
func (b *Balancer) Close() error {
	err := b.ln.Close()
	b.mu.Lock()
	b.closed = true
	for c := range b.open {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
	return err
}

func (b *Balancer) serve() {
	defer b.wg.Done()
	for {
		front, err := b.ln.Accept()
		if err != nil {
			return
		}
		i := int((b.next.Add(1) - 1) % uint64(len(b.backends)))
		b.conns[i].Add(1)
		b.wg.Add(1)
		go b.pipe(front, b.backends[i])
	}
}

// pipe carries one connection to its backend until either side closes.
func (b *Balancer) pipe(front net.Conn, backend string) {
	defer b.wg.Done()
	back, err := net.Dial("tcp", backend)
	if err != nil {
		front.Close()
		return
	}
	if !b.track(front, back) {
		return
	}
	done := make(chan struct{}, 2)
	copyHalf := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// Pass a half close on, so that the other side sees EOF.
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go copyHalf(back, front)
	go copyHalf(front, back)
	<-done
	<-done
	b.untrack(front, back)
}

func (b *Balancer) track(cs ...net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		b.open[c] = struct{}{}
	}
	return true
}

func (b *Balancer) untrack(cs ...net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(b.open, c)
	}
}
