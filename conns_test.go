package resilient

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/resilient-http/resilient/internal/testpeers"
)

// backend is an httptest server behind a balancer, or on an address of
// its own, that counts the requests and connections it saw.
type backend struct {
	*httptest.Server
	hits, conns, closed atomic.Int64
}

// newBackend starts a backend on ln (nil: a free 127.0.0.1 port) that
// answers with handle; with h2 it speaks HTTP/2 over TLS.
func newBackend(t testing.TB, ln net.Listener, h2 bool, handle http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{}
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		handle(w, r)
	}))
	if ln != nil {
		b.Listener.Close()
		b.Listener = ln
	}
	b.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			b.conns.Add(1)
		case http.StateClosed:
			b.closed.Add(1)
		}
	}
	if h2 {
		b.EnableHTTP2 = true
		b.StartTLS()
	} else {
		b.Start()
	}
	t.Cleanup(b.Close)
	return b
}

func answer(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// balance starts a testpeers.Balancer over bs, in their order, and
// returns the URL that reaches it.
func balance(t testing.TB, scheme string, bs ...*backend) string {
	t.Helper()
	var addrs []string
	for _, b := range bs {
		addrs = append(addrs, b.Listener.Addr().String())
	}
	lb, err := testpeers.NewBalancer(addrs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.Close() })
	return scheme + "://" + lb.Addr() + "/"
}

// trusting returns a transport that trusts the httptest certificate that
// b serves, and speaks HTTP/2 where b does.
func trusting(b *backend) *http.Transport {
	return &http.Transport{TLSClientConfig: b.Client().Transport.(*http.Transport).TLSClientConfig.Clone(), ForceAttemptHTTP2: true}
}

func getOK(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if got := readAll(t, resp); resp.StatusCode != 200 || got != "ok" {
		t.Fatalf("GET %s: %d %q, want 200 ok", url, resp.StatusCode, got)
	}
}

// TestConns_retryReachesAnotherBackend: behind an L4 balancer whose first
// connection goes to a backend that answers every request 503, a call
// succeeds: its retry leaves the connection that failed for another
// backend. The connection's first failure on a host that had not failed
// lately is not seen (conns.go), so it may carry one retry more; once the
// host has failed, the first 503 on a connection retires it. Over the
// library's own transport and over a caller's, with a body on the 503 and
// without one (net/http pools the connection before returning such a
// response).
func TestConns_retryReachesAnotherBackend(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		base func() http.RoundTripper
	}{
		{"own transport", "sick", func() http.RoundTripper { return nil }},
		{"own transport, 503 without a body", "", func() http.RoundTripper { return nil }},
		{"caller's transport", "sick", func() http.RoundTripper { return http.DefaultTransport.(*http.Transport).Clone() }},
		{"caller's transport, 503 without a body", "", func() http.RoundTripper { return http.DefaultTransport.(*http.Transport).Clone() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			sick := newBackend(t, nil, false, answer(503, tc.body))
			healthy := newBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					<-release
				}
				io.WriteString(w, "ok")
			})
			url := balance(t, "http", sick, healthy) // connections 1, 3, 5... go to sick
			base := tc.base()
			rt := NewTransport(base, WithRetry(fast))
			c := &http.Client{Transport: rt}
			defer func() {
				rt.Close()
				if ci, ok := base.(interface{ CloseIdleConnections() }); ok {
					ci.CloseIdleConnections()
				}
			}()

			getOK(t, c, url)
			if s, h := sick.hits.Load(), healthy.hits.Load(); s > 2 || h != 1 {
				t.Fatalf("first call: the sick backend saw %d requests, the healthy one %d; want at most 2 and 1", s, h)
			}

			// The host has failed: the next connection to the sick
			// backend carries one request only. A slow call holds the
			// healthy connection, so that the next call dials anew.
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				getOK(t, c, url+"slow")
			}()
			for healthy.hits.Load() < 2 {
				time.Sleep(time.Millisecond)
			}
			before := sick.hits.Load()
			getOK(t, c, url)
			close(release)
			wg.Wait()
			if got := sick.hits.Load() - before; got != 1 {
				t.Errorf("the sick backend saw %d requests of the call that met it on a new connection, want 1", got)
			}
			if got, want := sick.conns.Load(), int64(2); got != want {
				t.Errorf("the sick backend saw %d connections, want %d", got, want)
			}
		})
	}
}

// TestConns_breakerStaysClosedOnOneBadConnection: one goroutine, 300
// calls in a row, the first connection to the one sick backend of four:
// the breaker judges the host, which answers 75%, not the connection,
// which answers nothing. A plain client gets 0% here, and resilient got
// 0% with its breaker open before connections were retired.
func TestConns_breakerStaysClosedOnOneBadConnection(t *testing.T) {
	p := newSickPool(t, 0, false)
	var opens atomic.Int64
	c := newClient(t, WithOnBreakerChange(func(ch BreakerChange) {
		if ch.To == BreakerOpen {
			opens.Add(1)
		}
	}))
	r := p.drive(c, 1, 300, 0)
	waitFor(t, "the callbacks", func() bool { return callbacksDelivered(c.Transport.(*Transport)) })
	if rate := float64(r.ok) / float64(r.calls); rate < 0.99 {
		t.Errorf("%d of %d calls succeeded (%.1f%%), want at least 99%%", r.ok, r.calls, 100*rate)
	}
	if per := float64(r.requests) / float64(r.calls); per > 1.4 {
		t.Errorf("%.2f requests per call, want at most 1.4", per)
	}
	if n := opens.Load(); n != 0 {
		t.Errorf("the breaker opened %d times, want never", n)
	}
	hs := Hosts(c)
	if len(hs) != 1 || hs[0].State != BreakerClosed {
		t.Errorf("Hosts() = %+v, want one host, closed", hs)
	}
	t.Logf("%s", r)
}

// TestConns_otherPoolsKept: retiring a failed connection closes that
// connection alone. Another host's idle connection survives, and a host
// whose every attempt fails gets at most one new connection per failed
// attempt.
func TestConns_otherPoolsKept(t *testing.T) {
	down := newBackend(t, nil, false, answer(503, "down"))
	up := newBackend(t, nil, false, answer(200, "ok"))
	c := newClient(t, WithRetry(fast), WithBreaker(Breaker{Disabled: true}))
	getOK(t, c, up.URL)
	for range 5 {
		if _, err := c.Get(down.URL); StatusCode(err) != 503 {
			t.Fatalf("GET down: %v, want a 503 *StatusError", err)
		}
	}
	getOK(t, c, up.URL)
	if n := up.conns.Load(); n != 1 {
		t.Errorf("the healthy host saw %d connections, want 1: its idle connection survives", n)
	}
	if conns, hits := down.conns.Load(), down.hits.Load(); conns > hits {
		t.Errorf("the failing host saw %d connections for %d failed attempts, want at most one per attempt", conns, hits)
	}
}

// TestConns_http2RetiredGracefully: over HTTP/2, where the library builds
// the transport, a connection whose streams fail, or time out, is retired
// gracefully: a stream in flight on it completes with 200, and the next
// call opens a new connection.
func TestConns_http2RetiredGracefully(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fail  http.HandlerFunc
		retry Retry
	}{
		{"503", answer(503, "failing"), Retry{Max: 1, MinWait: time.Millisecond, MaxWait: time.Millisecond}},
		{"silent", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			Retry{Max: 1, MinWait: time.Millisecond, MaxWait: time.Millisecond, AttemptTimeout: 100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slowIn, release := make(chan struct{}), make(chan struct{})
			b := newBackend(t, nil, true, func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/slow":
					// The headers go at once; the body waits.
					w.WriteHeader(200)
					w.(http.Flusher).Flush()
					close(slowIn)
					<-release
					io.WriteString(w, "slow ok")
				case "/fail":
					tc.fail(w, r)
				default:
					io.WriteString(w, "ok")
				}
			})
			closed := &b.closed
			c := newClient(t, WithTransport(trusting(b)), WithRetry(tc.retry))

			slow := make(chan error, 1)
			go func() {
				resp, err := c.Get(b.URL + "/slow")
				if err == nil {
					var body []byte
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != 200 || string(body) != "slow ok" || resp.ProtoMajor != 2) {
						err = errors.New(resp.Status + " " + resp.Proto + " " + string(body))
					}
				}
				slow <- err
			}()
			<-slowIn
			if _, err := c.Get(b.URL + "/fail"); err == nil {
				t.Fatal("GET /fail succeeded")
			}
			getOK(t, c, b.URL+"/")
			if n := b.conns.Load(); n != 2 {
				t.Errorf("the server saw %d connections, want 2: the call after the failures opens a new one", n)
			}
			if n := closed.Load(); n != 0 {
				t.Errorf("%d connections closed while a stream was in flight, want none", n)
			}
			close(release)
			if err := <-slow; err != nil {
				t.Errorf("the stream in flight on the retired connection: %v, want 200 slow ok", err)
			}
			// The retired connection closes after its last stream.
			for deadline := time.Now().Add(5 * time.Second); closed.Load() < 1 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if n := closed.Load(); n != 1 {
				t.Errorf("%d connections closed once the stream finished, want 1: the retired one", n)
			}
			getOK(t, c, b.URL+"/")
			if n := b.conns.Load(); n != 2 {
				t.Errorf("the server saw %d connections, want 2: the new one is kept", n)
			}
		})
	}
}

// TestConns_severalAddressesTriesAnother: a name with two addresses, the
// first of which is a sick backend: Go dials a name's addresses in order,
// so every connection would go there; the library's dialer, once a
// connection to it was retired, dials the other address first.
func TestConns_severalAddressesTriesAnother(t *testing.T) {
	ln1, ln2 := listenPair(t)
	sick := newBackend(t, ln1, false, answer(503, "sick"))
	healthy := newBackend(t, ln2, false, answer(200, "ok"))
	_, port, _ := net.SplitHostPort(ln1.Addr().String())
	r := fakeResolver(t, map[string][]netip.Addr{"svc.test.": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}})
	c := newClient(t, WithRetry(fast), withResolver(r))
	url := "http://svc.test:" + port + "/"
	getOK(t, c, url)
	if n := sick.conns.Load(); n != 1 {
		t.Fatalf("the first connection went to the sick address %d times, want once (Go dials the first address first)", n)
	}
	for range 20 {
		getOK(t, c, url)
	}
	if s, h := sick.hits.Load(), healthy.hits.Load(); s > 2 || h != 21 {
		t.Errorf("the sick address saw %d requests, the healthy one %d; want at most 2 and 21", s, h)
	}
	if n := healthy.conns.Load(); n != 1 {
		t.Errorf("the healthy address saw %d connections, want 1", n)
	}
}

// listenPair listens on one port at 127.0.0.1 and 127.0.0.2.
func listenPair(t *testing.T) (net.Listener, net.Listener) {
	t.Helper()
	for range 20 {
		ln1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln1.Addr().String())
		ln2, err := net.Listen("tcp", "127.0.0.2:"+port)
		if err == nil {
			return ln1, ln2
		}
		ln1.Close()
	}
	t.Skip("no port free on both 127.0.0.1 and 127.0.0.2")
	return nil, nil
}

// fakeResolver returns a resolver whose DNS server, in process, answers A
// queries for the names in hosts, and nothing else.
func fakeResolver(t *testing.T, hosts map[string][]netip.Addr) *net.Resolver {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		client, server := net.Pipe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer server.Close()
			serveDNS(server, hosts)
		}()
		return client, nil
	}}
}

// serveDNS answers DNS queries over c, framed as over TCP, until c closes.
func serveDNS(c net.Conn, hosts map[string][]netip.Addr) {
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(q)
		if err != nil {
			return
		}
		question, err := p.Question()
		if err != nil {
			return
		}
		ips, known := hosts[question.Name.String()]
		rcode := dnsmessage.RCodeSuccess
		if !known {
			rcode = dnsmessage.RCodeNameError
		}
		b := dnsmessage.NewBuilder(make([]byte, 2, 514), dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode})
		b.EnableCompression()
		b.StartQuestions()
		b.Question(question)
		b.StartAnswers()
		if question.Type == dnsmessage.TypeA {
			for _, ip := range ips {
				b.AResource(dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: ip.As4()})
			}
		}
		msg, err := b.Finish()
		if err != nil {
			return
		}
		binary.BigEndian.PutUint16(msg, uint16(len(msg)-2))
		if _, err := c.Write(msg); err != nil {
			return
		}
	}
}

// TestConns_ownTransport: New's transport, and WithTransport's clone,
// dial through the library's dialer and serve HTTP/2 through x/net's pool,
// where net/http would speak HTTP/2 over them: what retiring connections
// exactly and gracefully needs. A caller who chose otherwise keeps it.
func TestConns_ownTransport(t *testing.T) {
	trust := &tls.Config{}
	for _, tc := range []struct {
		name       string
		opts       []Option
		h2, rotate bool
	}{
		{"New", nil, true, true},
		{"WithTransport, ForceAttemptHTTP2", []Option{WithTransport(&http.Transport{TLSClientConfig: trust, ForceAttemptHTTP2: true})}, true, true},
		{"WithTransport, a TLS configuration without ForceAttemptHTTP2", []Option{WithTransport(&http.Transport{TLSClientConfig: trust})}, false, true},
		{"WithTransport, HTTP/2 turned off", []Option{WithTransport(&http.Transport{TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}})}, false, true},
		{"WithTransport, a DialContext of the caller's", []Option{WithTransport(&http.Transport{DialContext: (&net.Dialer{}).DialContext})}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := NewTransport(nil, tc.opts...)
			defer rt.Close()
			if got := rt.owned.h2 != nil; got != tc.h2 {
				t.Errorf("HTTP/2 through x/net's pool: %v, want %v", got, tc.h2)
			}
			tr := rt.base.(*http.Transport)
			nc, err := tr.DialContext(context.Background(), "tcp", newBackend(t, nil, false, answer(200, "ok")).Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			c, ok := nc.(*conn)
			if !ok {
				t.Fatalf("the transport dialed a %T, want the library's *conn", nc)
			}
			if got := c.d.own != nil; got != tc.rotate {
				t.Errorf("dials a name's addresses one by one: %v, want %v", got, tc.rotate)
			}
		})
	}
	func() {
		defer func() {
			if err, _ := recover().(error); !errors.Is(err, ErrInvalidOption) {
				t.Errorf("NewTransport with a base and WithTransport panicked with %v, want ErrInvalidOption", err)
			}
		}()
		NewTransport(http.DefaultTransport, WithTransport(&http.Transport{})).Close()
	}()
}

// TestConns_retiredConnWritesNothing: a retired connection of the
// library's dialer refuses to write, with an error that proves the
// request unsent.
func TestConns_retiredConnWritesNothing(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &conn{Conn: a}
	c.retired.Store(true)
	if n, err := c.Write([]byte("GET / HTTP/1.1\r\n")); n != 0 || !errors.Is(err, errConnRetired) {
		t.Errorf("Write on a retired conn = %d, %v; want 0, errConnRetired", n, err)
	}
	if !neverSent(&net.OpError{Op: "write", Err: errConnRetired}) {
		t.Error("neverSent(errConnRetired) = false, want true")
	}
}
