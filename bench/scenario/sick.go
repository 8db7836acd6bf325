package scenario

// This file holds the sick-backend scenario (issue 28): four backends
// behind an L4 balancer that picks a backend per connection, one of them
// answering every request 503, and the clients driving it in closed
// loops. Its targets are in sickcheck.go, its report in sickreport.go.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/internal/testpeers"
)

// SickBackends is how many backends stand behind the balancer; one of
// them is sick.
const SickBackends = 4

// SickVariant is one run of the sick-backend scenario: every client at
// once, each with its own balancer and backends.
type SickVariant struct {
	// Name labels the variant: "HTTP/1, 1 goroutine, sick first"…
	Name string
	// HTTP2 serves TLS with HTTP/2 (httptest's EnableHTTP2); otherwise
	// plain HTTP/1.1.
	HTTP2 bool
	// Goroutines call concurrently, each Calls calls in a closed loop: a
	// call starts when the one before it ended, and Interval after the
	// one before it started (a pace; 0: none), and Think after it ended.
	// The first call goes alone: the other goroutines start when it has
	// ended, so that a client's first connection is the only one while it
	// lasts (and over HTTP/2 the one every call then shares).
	Goroutines, Calls int
	Interval, Think   time.Duration
	// SickFirst puts the sick backend first in the balancer's rotation,
	// so that a client's first connection goes to it; otherwise it is
	// second.
	SickFirst bool
	// Deadline bounds each call; Limit bounds the run: after Limit, a
	// goroutine starts no more calls (a client slowed by backoffs or
	// refusals makes fewer calls than planned).
	Deadline, Limit time.Duration
}

// Planned returns the calls the variant plans per client.
func (v SickVariant) Planned() int { return v.Goroutines * v.Calls }

// SickTiming sets the sizes of the sick-backend variants.
type SickTiming struct {
	// OneCalls calls at OneRate per second on one goroutine.
	OneCalls int
	OneRate  float64
	// Many goroutines of ManyCalls calls each, with Think after each.
	Many, ManyCalls int
	Think           time.Duration
	// Deadline and Limit: see SickVariant.
	Deadline, Limit time.Duration
}

// DefaultSickTiming is the measurement: one goroutine making 300
// calls at 50/s (6 s), and 8 goroutines × 200 calls with 5 ms of think
// time (about 2 s); no variant runs longer than 10 s (failsafe-go, whose
// open breaker makes each call wait ~0.7 s of backoffs, reaches that).
// Eight variants: about a minute.
var DefaultSickTiming = SickTiming{OneCalls: 300, OneRate: 50, Many: 8, ManyCalls: 200, Think: 5 * time.Millisecond,
	Deadline: 2 * time.Second, Limit: 10 * time.Second}

// ShortSickTiming is the quick look of the tests: 100 calls at 50/s on one
// goroutine (2 s), 8 goroutines × 40 calls; no variant runs longer than
// 3 s (plus the last calls' tail). Eight variants: about 20 s.
var ShortSickTiming = SickTiming{OneCalls: 100, OneRate: 50, Many: 8, ManyCalls: 40, Think: 5 * time.Millisecond,
	Deadline: 2 * time.Second, Limit: 3 * time.Second}

// SickVariants returns the variants of t: HTTP/1 and HTTP/2, one
// goroutine and several, the sick backend first and not.
func SickVariants(t SickTiming) []SickVariant {
	var vs []SickVariant
	for _, h2 := range []bool{false, true} {
		for _, many := range []bool{false, true} {
			for _, first := range []bool{true, false} {
				v := SickVariant{HTTP2: h2, SickFirst: first, Deadline: t.Deadline, Limit: t.Limit,
					Goroutines: 1, Calls: t.OneCalls, Interval: time.Duration(float64(time.Second) / t.OneRate)}
				if many {
					v.Goroutines, v.Calls, v.Interval, v.Think = t.Many, t.ManyCalls, 0, t.Think
				}
				proto, load, where := "HTTP/1", "1 goroutine", "sick first"
				if h2 {
					proto = "HTTP/2"
				}
				if many {
					load = fmt.Sprintf("%d goroutines", v.Goroutines)
				}
				if !first {
					where = "sick second"
				}
				v.Name = proto + ", " + load + ", " + where
				vs = append(vs, v)
			}
		}
	}
	return vs
}

// SickOptions is a run of the sick-backend scenario.
type SickOptions struct {
	// Timing sizes the variants; zero means DefaultSickTiming.
	Timing SickTiming
	// Clients are the clients compared; nil means Clients(). Put plain
	// first.
	Clients []Client
}

// RetryableSickWaits are go-retryablehttp's RetryWaitMin and RetryWaitMax
// in the sick-backend scenario, cut from its 1–30 s as the issue's
// measurement cut them.
var RetryableSickWaits = [2]time.Duration{10 * time.Millisecond, 100 * time.Millisecond}

// breakerClients are the clients with a breaker, which report its opens
// through Settings.OnBreakerOpen.
var breakerClients = map[string]bool{"resilient": true, "failsafe": true}

// SickResult is one variant, every client.
type SickResult struct {
	Variant SickVariant
	// Duration is the variant's wall time, until its slowest client ended.
	Duration time.Duration
	// Clients holds one entry per client, in the order of Result.Clients.
	Clients []SickClient
}

// SickClient is what one client did in one variant.
type SickClient struct {
	Client string
	// Calls were started (Planned unless Limit cut the run short); OK of
	// them got a 2xx and read its body; Refused got the client's own
	// breaker-open error.
	Calls, OK, Refused int
	// ServerRequests reached the backends, SickRequests of them the sick
	// one (each answered 503: a failed attempt).
	ServerRequests, SickRequests int
	// Conns is how many connections the balancer accepted, ConnsSick how
	// many of them it handed to the sick backend.
	Conns, ConnsSick int
	// BreakerOpens counts the client's breaker opening (Settings.
	// OnBreakerOpen); -1 for a client without a breaker.
	BreakerOpens int
	// P50 and P99 are quantiles of the calls' latency.
	P50, P99 time.Duration
}

// Success returns OK / Calls.
func (c SickClient) Success() float64 { return ratio(c.OK, c.Calls) }

// PerCall returns ServerRequests / Calls.
func (c SickClient) PerCall() float64 { return ratio(c.ServerRequests, c.Calls) }

// Client returns the entry of the client called name.
func (r SickResult) Client(name string) (SickClient, bool) {
	for _, c := range r.Clients {
		if c.Client == name {
			return c, true
		}
	}
	return SickClient{}, false
}

// RunSick runs every variant of o, one after another, every client of a
// variant at once with its own balancer and backends.
func RunSick(ctx context.Context, o SickOptions) ([]SickResult, error) {
	if o.Timing == (SickTiming{}) {
		o.Timing = DefaultSickTiming
	}
	if o.Clients == nil {
		o.Clients = Clients()
	}
	var out []SickResult
	for _, v := range SickVariants(o.Timing) {
		if v.HTTP2 {
			if err := trustTestCert(); err != nil {
				return nil, err
			}
		}
		r, err := runSick(ctx, v, o.Clients)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, ctx.Err()
}

// sickSite is one client's balancer and backends.
type sickSite struct {
	servers  []*httptest.Server
	requests []atomic.Int64 // per backend
	sick     int            // index of the sick backend
	bal      *testpeers.Balancer
	url      string
}

func newSickSite(v SickVariant) (*sickSite, error) {
	s := &sickSite{requests: make([]atomic.Int64, SickBackends)}
	if !v.SickFirst {
		s.sick = 1
	}
	addrs := make([]string, SickBackends)
	for i := range SickBackends {
		hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.requests[i].Add(1)
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/plain")
			if i == s.sick {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, "sick")
				return
			}
			io.WriteString(w, "ok")
		}))
		if v.HTTP2 {
			hs.EnableHTTP2 = true
			hs.StartTLS()
		} else {
			hs.Start()
		}
		s.servers = append(s.servers, hs)
		addrs[i] = hs.Listener.Addr().String()
	}
	bal, err := testpeers.NewBalancer(addrs...)
	if err != nil {
		s.close()
		return nil, err
	}
	s.bal = bal
	scheme := "http"
	if v.HTTP2 {
		scheme = "https"
	}
	s.url = scheme + "://" + bal.Addr() + "/"
	return s, nil
}

func (s *sickSite) close() {
	if s.bal != nil {
		s.bal.Close()
	}
	for _, hs := range s.servers {
		hs.CloseClientConnections()
		hs.Close()
	}
}

// runSick runs one variant: every client at once, each against its own
// site.
func runSick(ctx context.Context, v SickVariant, clients []Client) (SickResult, error) {
	sites := make([]*sickSite, len(clients))
	defer func() {
		for _, s := range sites {
			if s != nil {
				s.close()
			}
		}
	}()
	for k := range clients {
		s, err := newSickSite(v)
		if err != nil {
			return SickResult{}, err
		}
		sites[k] = s
	}
	res := SickResult{Variant: v, Clients: make([]SickClient, len(clients))}
	opens := make([]atomic.Int64, len(clients))
	callers := make([]Caller, len(clients))
	for k, c := range clients {
		callers[k] = c.New(Settings{OnBreakerOpen: func() { opens[k].Add(1) }})
		if rc, ok := callers[k].(*retryableCaller); ok {
			rc.rc.RetryWaitMin, rc.rc.RetryWaitMax = RetryableSickWaits[0], RetryableSickWaits[1]
		}
	}
	type call struct {
		lat                  time.Duration
		ok, refused, started bool
	}
	calls := make([][]call, len(clients))
	start := time.Now()
	var wg sync.WaitGroup
	for k := range clients {
		calls[k] = make([]call, v.Planned())
		// The first call goes alone, so that the first connection is one
		// (over HTTP/2, the one every call shares): the others wait for it.
		first := make(chan struct{})
		for g := range v.Goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if g == 0 {
					defer closeOnce(first)
				} else {
					<-first
				}
				for i := range v.Calls {
					if i > 0 {
						pause(ctx, v.Think)
					}
					if v.Interval > 0 {
						pause(ctx, time.Until(start.Add(time.Duration(i)*v.Interval)))
					}
					if ctx.Err() != nil || time.Since(start) >= v.Limit {
						return
					}
					index := g*v.Calls + i
					cctx, cancel := context.WithTimeout(ctx, v.Deadline)
					t0 := time.Now()
					out := callers[k].Call(cctx, sites[k].url, index)
					cancel()
					calls[k][index] = call{lat: time.Since(t0), ok: out.OK, refused: out.Refused, started: true}
					if g == 0 && i == 0 {
						close(first)
					}
				}
			}()
		}
	}
	wg.Wait()
	res.Duration = time.Since(start)
	for _, c := range callers {
		c.Close()
	}
	if err := ctx.Err(); err != nil {
		return SickResult{}, err
	}
	// resilient delivers breaker changes on its callback goroutine: let
	// the last ones land.
	time.Sleep(50 * time.Millisecond)
	for k, c := range clients {
		s := sites[k]
		sc := SickClient{Client: c.Name, BreakerOpens: -1}
		if breakerClients[c.Name] {
			sc.BreakerOpens = int(opens[k].Load())
		}
		var lat []time.Duration
		for _, cl := range calls[k] {
			if !cl.started {
				continue
			}
			sc.Calls++
			lat = append(lat, cl.lat)
			if cl.ok {
				sc.OK++
			}
			if cl.refused {
				sc.Refused++
			}
		}
		sc.P50, sc.P99 = quantile(lat, 0.5), quantile(lat, 0.99)
		for i := range s.requests {
			n := int(s.requests[i].Load())
			sc.ServerRequests += n
			if i == s.sick {
				sc.SickRequests = n
			}
		}
		for i, n := range s.bal.Conns() {
			sc.Conns += int(n)
			if i == s.sick {
				sc.ConnsSick = int(n)
			}
		}
		if sc.Calls == 0 {
			return SickResult{}, errors.New("scenario: sick backend: " + c.Name + " made no call in " + v.Name)
		}
		res.Clients[k] = sc
	}
	return res, nil
}

// closeOnce closes c unless it is closed.
func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// pause waits d, or until ctx is done.
func pause(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
