package resilient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/internal/testpeers"
)

// sickPool is four backends behind an L4 balancer (testpeers.Balancer),
// one of which answers every request 503: a service 75% healthy, as with
// one sick pod behind kube-proxy or an NLB. It counts the requests and
// connections each backend saw.
type sickPool struct {
	lb       *testpeers.Balancer
	backends []*httptest.Server
	hits     []atomic.Int64
	sick     int
	tls      *tls.Config // trusts the backends' certificate; nil over plain HTTP
	url      string
}

// newSickPool starts the pool; backend sick answers 503, the balancer
// hands it the (sick+1)th connection of every four. With h2 the backends
// speak HTTP/2 over TLS.
func newSickPool(t testing.TB, sick int, h2 bool) *sickPool {
	t.Helper()
	p := &sickPool{hits: make([]atomic.Int64, 4), sick: sick}
	var addrs []string
	for i := range 4 {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.hits[i].Add(1)
			if i == p.sick {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, "sick")
				return
			}
			io.WriteString(w, "ok")
		}))
		if h2 {
			srv.EnableHTTP2 = true
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		p.backends = append(p.backends, srv)
		addrs = append(addrs, srv.Listener.Addr().String())
	}
	lb, err := testpeers.NewBalancer(addrs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.Close() })
	p.lb = lb
	p.url = "http://" + lb.Addr() + "/"
	if h2 {
		p.url = "https://" + lb.Addr() + "/"
		p.tls = p.backends[0].Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	}
	return p
}

// requests returns the requests all backends saw, and the sick one's.
func (p *sickPool) requests() (all, sick int64) {
	for i := range p.hits {
		all += p.hits[i].Load()
	}
	return all, p.hits[p.sick].Load()
}

// conns returns the connections the balancer handed out.
func (p *sickPool) conns() (n int64) {
	for _, c := range p.lb.Conns() {
		n += c
	}
	return n
}

// sickRun is what one client got from a sickPool.
type sickRun struct {
	calls, ok  int
	requests   int64 // requests the backends saw
	sickReqs   int64 // of which the sick backend's
	conns      int64 // connections the balancer handed out
	opens      int64 // times the host's breaker opened; -1 for a plain client
	refused    int   // calls refused with ErrCircuitOpen
	finalState string
}

func (r sickRun) String() string {
	opens := "-"
	if r.opens >= 0 {
		opens = fmt.Sprint(r.opens)
	}
	return fmt.Sprintf("%6.1f%% %5.2f req/call %4d conns %5d to sick  breaker opens %s, refused %d %s",
		100*float64(r.ok)/float64(r.calls), float64(r.requests)/float64(r.calls), r.conns, r.sickReqs, opens, r.refused, r.finalState)
}

// drive sends goroutines × calls GETs to p through c, each goroutine
// pausing think between its calls, and reports what came of it.
func (p *sickPool) drive(c *http.Client, goroutines, calls int, think time.Duration) sickRun {
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	first := make(chan struct{})
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g > 0 {
				<-first // the first call alone opens the first connection
			}
			for i := range calls {
				if g == 0 && i == 1 {
					close(first)
				}
				resp, err := c.Get(p.url)
				switch {
				case err == nil:
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
					}
				case isCircuitOpen(err):
					refused.Add(1)
				}
				time.Sleep(think)
			}
			if g == 0 && calls == 1 {
				close(first)
			}
		}()
	}
	wg.Wait()
	all, sick := p.requests()
	return sickRun{calls: goroutines * calls, ok: int(ok.Load()), refused: int(refused.Load()),
		requests: all, sickReqs: sick, conns: p.conns(), opens: -1}
}

func isCircuitOpen(err error) bool { return errors.Is(err, ErrCircuitOpen) }

// callbacksDelivered reports whether rt has run every callback posted.
func callbacksDelivered(rt *Transport) bool {
	return rt.events == nil || len(rt.events.queue) == 0 && !rt.events.running.Load()
}

// sickClients builds, for one pool, the clients compared: a plain
// *http.Client and resilient's, each on its own transport.
type sickClient struct {
	name string
	make func(t testing.TB, p *sickPool, opens *atomic.Int64) *http.Client
}

var sickClients = []sickClient{
	{"plain", func(t testing.TB, p *sickPool, _ *atomic.Int64) *http.Client {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if p.tls != nil {
			tr.TLSClientConfig = p.tls
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}},
	{"resilient", func(t testing.TB, p *sickPool, opens *atomic.Int64) *http.Client {
		onChange := WithOnBreakerChange(func(ch BreakerChange) {
			if ch.To == BreakerOpen && ch.From == BreakerClosed {
				opens.Add(1)
			}
		})
		var opts []Option
		if p.tls != nil {
			opts = append(opts, WithTransport(&http.Transport{TLSClientConfig: p.tls, ForceAttemptHTTP2: true}))
		}
		c := New(append(opts, onChange)...)
		t.Cleanup(func() { Close(c) })
		return c
	}},
}

// TestSickBackend_sideBySide drives a plain client and resilient's, the
// same traffic each through its own balancer and backends, through one
// sick backend of four: over HTTP/1 and HTTP/2 (resilient's transport
// built by New, with WithTransport for the TLS configuration), from one
// goroutine (300 calls in a row) and from eight (200 calls each, 5 ms
// apart), with the first connection going to the sick backend or not. It
// prints what each client got (go test -v), and asserts loosely what
// issue 28 targets: at least 99% of resilient's calls succeed, its breaker
// never opens, at most 1.4 requests reach the backends per call, it is
// never worse than the plain client, and it opens no more connections
// than the plain client did plus one per failed attempt. The scenario
// matrix in bench/ measures the peers too.
func TestSickBackend_sideBySide(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	type load struct {
		goroutines, calls int
		think             time.Duration
	}
	for _, proto := range []string{"h1", "h2"} {
		for _, sick := range []int{0, 2} {
			for _, l := range []load{{1, 300, 0}, {8, 200, 5 * time.Millisecond}} {
				var got [2]sickRun
				for i, sc := range sickClients {
					p := newSickPool(t, sick, proto == "h2")
					var opens atomic.Int64
					c := sc.make(t, p, &opens)
					r := p.drive(c, l.goroutines, l.calls, l.think)
					if rt, ok := c.Transport.(*Transport); ok {
						for _, h := range rt.Hosts() {
							r.finalState = h.State.String()
						}
						waitFor(t, "the callbacks", func() bool { return callbacksDelivered(rt) })
						r.opens = opens.Load()
					}
					got[i] = r
					t.Logf("%s, first connection to the sick backend: %-5v %d×%-3d %-9s %s", proto, sick == 0, l.goroutines, l.calls, sc.name, r)
				}
				plain, res := got[0], got[1]
				name := fmt.Sprintf("%s sick=%d %d×%d", proto, sick, l.goroutines, l.calls)
				switch {
				case float64(res.ok) < 0.99*float64(res.calls):
					t.Errorf("%s: resilient got %d of %d calls answered, want at least 99%%", name, res.ok, res.calls)
				case res.ok < plain.ok:
					t.Errorf("%s: resilient got %d calls answered, the plain client %d", name, res.ok, plain.ok)
				}
				if res.opens != 0 {
					t.Errorf("%s: resilient's breaker opened %d times, want never", name, res.opens)
				}
				if per := float64(res.requests) / float64(res.calls); per > 1.4 {
					t.Errorf("%s: %.2f requests per call, want at most 1.4", name, per)
				}
				if res.conns > plain.conns+res.sickReqs {
					t.Errorf("%s: resilient opened %d connections, the plain client %d; want at most one more per failed attempt (%d)",
						name, res.conns, plain.conns, res.sickReqs)
				}
			}
		}
	}
}
