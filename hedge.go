package resilient

// This file holds hedged requests: the Hedging policy and WithHedging, and
// the hedged group that takes the place of one attempt of a call that is
// hedged. The group sends the attempt, waits the hedge delay (fixed, or the
// host's recent latency at a quantile, internal/latency), and, while it is
// still waiting, sends a copy to the same host if the host's retry budget
// and admission allow; the first outcome that is not a retryable failure
// wins, the others are canceled and their bodies closed. The call's state
// is written by the group's owner, the goroutine that runs the call, and
// only once the race is settled; the attempts run on goroutines of their
// own and write only their own run.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/internal/body"
	"github.com/resilient-http/resilient/internal/budget"
	"github.com/resilient-http/resilient/internal/latency"
)

// Hedging is the hedged-request policy: a call whose attempt has not
// answered within Delay gets a second attempt (a hedge) to the same host,
// and takes whichever answers first. It cuts the tail of the latency
// ("The Tail at Scale", Dean and Barroso) for a few percent more requests.
//
// Only calls that may be sent twice are hedged: idempotent ones
// (IsIdempotent: the method, or an Idempotency-Key header) whose body, if
// any, can be sent again (GetBody). Hedges and retries draw on one budget,
// the host's retry budget (Retry.Budget): when it is spent, no hedge goes,
// so hedging adds at most Budget.Ratio to the load on a host, retries
// included, or Budget.MinRetries per Window when that is more (with the
// budget disabled, or retries off, only MaxAttempts limits hedges). No hedge goes to a host whose admission refuses it (an
// open, probing or ramping breaker). The winner is the first response that
// is not a retryable failure: a hedge's fast 503 does not beat a slower
// 200. The losers are canceled and their bodies closed; on HTTP/1.1 that
// costs each canceled loser its connection (bench/HEDGING.md measures
// it), which is cheaper than holding it for as long as the slow answer
// takes. When every attempt in flight failed, the call goes on as after
// one failed attempt: a hedge uses none of Retry.Max, and the retry is
// hedged in its turn.
//
// Its zero value means DefaultHedging: an adaptive delay at the host's
// 95th percentile, at most 2 attempts in flight.
type Hedging struct {
	// Delay is how long an attempt may run before a hedge is sent. 0 means
	// adaptive: the host's recent latency at Quantile, never below
	// MinDelay, once MinSamples calls to it were timed; until then no
	// hedge goes.
	Delay time.Duration
	// Quantile of the host's recent latencies that makes the adaptive
	// delay, in (0, 1): a share 1 − Quantile of the calls get a hedge, as
	// in Finagle's BackupRequestFilter. 0 means 0.95.
	Quantile float64
	// MinDelay is the floor of the adaptive delay. 0 means 1ms.
	MinDelay time.Duration
	// MinSamples is how many calls to a host are timed before its
	// adaptive delay is used. 0 means 100.
	MinSamples int
	// MaxAttempts bounds the attempts of one call in flight at once, the
	// first included: each further hedge goes after a further Delay.
	// 0 means 2; 1 turns hedging off.
	MaxAttempts int
}

// DefaultHedging is the policy of WithHedging(Hedging{}). A client built
// without WithHedging does not hedge.
var DefaultHedging = Hedging{
	Quantile:    0.95,
	MinDelay:    time.Millisecond,
	MinSamples:  100,
	MaxAttempts: 2,
}

// WithHedging turns hedged requests on, with h's policy; zero fields take
// DefaultHedging's values. See Hedging for which calls are hedged and what
// limits them.
func WithHedging(h Hedging) Option {
	return optionFunc(func(c *config) {
		p, err := h.normalize()
		if err != nil {
			c.invalid("%s", err)
			return
		}
		c.hedge = p
	})
}

// normalize checks h and fills its zero fields from DefaultHedging. It
// returns nil for a policy that turns hedging off (MaxAttempts 1).
func (h Hedging) normalize() (*Hedging, error) {
	switch {
	case h.Delay < 0 || h.MinDelay < 0 || h.MinSamples < 0 || h.MaxAttempts < 0:
		return nil, errors.New("Hedging fields must not be negative; leave out WithHedging to turn hedging off")
	case h.Quantile < 0 || h.Quantile >= 1:
		return nil, fmt.Errorf("Hedging.Quantile is %v; it must be in (0, 1), 0 for the default", h.Quantile)
	}
	d := DefaultHedging
	orDefault(&h.Quantile, d.Quantile)
	orDefault(&h.MinDelay, d.MinDelay)
	orDefault(&h.MinSamples, d.MinSamples)
	orDefault(&h.MaxAttempts, d.MaxAttempts)
	if h.MaxAttempts < 2 {
		return nil, nil
	}
	return &h, nil
}

// latencyDecay is how many samples a host's latency estimate takes before
// halving its counts: the adaptive delay rests on its last 1000 to 2000
// calls, the newest weighing most.
const latencyDecay = 1000

// hedgeFor returns the hedging policy of c, read once when the call
// starts: the client's, for a call that may be sent twice; nil when c is
// not hedged. A per-request policy would be consulted here.
func (t *Transport) hedgeFor(c *call) *Hedging {
	p := t.cfg.hedge
	if c.policy != nil && c.policy.hedgeSet {
		p = c.policy.hedge
	}
	if p == nil || !c.idempotent || !c.replayable {
		return nil
	}
	return p
}

// delay returns the hedge delay for a call to a host with estimate est,
// and false when no hedge can go yet (too few samples).
func (p *Hedging) delay(est *latency.Estimator) (time.Duration, bool) {
	if p.Delay > 0 {
		return p.Delay, true
	}
	q, n := est.Quantile(p.Quantile)
	if n < uint64(p.MinSamples) {
		return 0, false
	}
	return max(q, p.MinDelay), true
}

// hostLatency holds a host's latency estimate, made on first use.
type hostLatency struct {
	p atomic.Pointer[latency.Estimator]
}

// latencyEstimate returns h's latency estimate, made on first use.
func (h *host) latencyEstimate() *latency.Estimator {
	if e := h.latency.p.Load(); e != nil {
		return e
	}
	h.latency.p.CompareAndSwap(nil, latency.New(latencyDecay))
	return h.latency.p.Load()
}

// errHedgeLost is the cause with which a group cancels the attempts that
// lost the race.
var errHedgeLost = errors.New("resilient: hedged attempt lost the race")

// hedgeRunCtx is the context of an attempt of a hedged group: it carries the
// attempt's number, which decorate reads for the attempt's span in place
// of the call's count, which the owner is changing meanwhile.
type hedgeRunCtx struct {
	context.Context
	n     int
	hedge bool
}

type attemptKey struct{}

// Value answers attemptKey with the attempt.
func (a *hedgeRunCtx) Value(key any) any {
	if _, ok := key.(attemptKey); ok {
		return a
	}
	return a.Context.Value(key)
}

// attemptOf returns the number of the attempt that ctx belongs to, and
// whether it is a hedge: from its hedgeRunCtx in a hedged group, else the
// call's count.
func attemptOf(ctx context.Context, c *call) (n int, hedge bool) {
	if c.hedge != nil {
		if a, ok := ctx.Value(attemptKey{}).(*hedgeRunCtx); ok {
			return a.n, a.hedge
		}
	}
	return c.attempts, false
}

// run is one attempt of a hedged group. Its goroutine writes resp and err
// before handing it to the owner.
type run struct {
	n      int
	hedge  bool
	ctx    context.Context
	cancel context.CancelCauseFunc
	res    result       // its outcome (sendAdmitted)
	conns  *attemptConn // what it learnt of its connection; nil unless its host was watching (conns.go)
}

// lost reports whether the group canceled r because another attempt won.
func (r *run) lost() bool { return context.Cause(r.ctx) == errHedgeLost }

// discard closes a losing attempt's response, after reading a bounded
// amount of it so that its connection returns to the pool, and cancels
// its context.
func (r *run) discard() {
	if resp := r.res.resp; resp != nil {
		body.Keep(resp.Body, resp.ContentLength, 0, drainLimit, bodyReadTimeout)
	}
	r.cancel(errHedgeLost)
}

// group is the race of a hedged attempt. An attempt that finishes before
// the race is settled hands its run to the owner through results, which
// has room for every attempt, so no send blocks; one that finishes after
// discards itself.
type group struct {
	results chan *run
	mu      sync.Mutex
	settled bool
}

// finished hands r to the owner, or discards it when the race is over.
func (g *group) finished(r *run) {
	g.mu.Lock()
	settled := g.settled
	if !settled {
		g.results <- r
	}
	g.mu.Unlock()
	if settled {
		r.discard()
	}
}

// settle ends the race: every attempt still running will discard itself,
// and those that finished unseen are discarded here.
func (g *group) settle() {
	g.mu.Lock()
	g.settled = true
	g.mu.Unlock()
	for {
		select {
		case r := <-g.results:
			go r.discard() // not on the winner's path
		default:
			return
		}
	}
}

// hedged takes the place of sendOne for a hedged call that attempt
// admitted, done being the admission's report: it sends r, and hedges
// after the delay while no answer has come, as Hedging describes. It
// records in c the winner's outcome, as sendOne does for a single
// attempt; a call whose attempts all failed gets the last failure, for
// the loop to retry or report.
func (c *call) hedged(r *http.Request, done func(error)) {
	t, h, p := c.t, c.host, c.hedge
	clk := t.cfg.clock
	var est *latency.Estimator
	if p.Delay <= 0 {
		est = h.latencyEstimate()
	}
	start := clk.Now()
	delay, ok := p.delay(est)
	if !ok {
		// No hedge can go yet: one attempt, timed for the estimate.
		c.sendOne(r, done)
		if c.last.class != Retryable {
			est.Observe(clk.Now().Sub(start))
		}
		return
	}

	c.url() // a cache that attempts running at once would each fill
	g := &group{results: make(chan *run, p.MaxAttempts)}
	runs := make([]*run, 0, p.MaxAttempts)
	launch := func(r *http.Request, done func(error), hedge bool) {
		c.attempts++
		ctx, cancel := context.WithCancelCause(r.Context())
		rn := &run{n: c.attempts, hedge: hedge, ctx: ctx, cancel: cancel}
		runs = append(runs, rn)
		var actx context.Context = &hedgeRunCtx{Context: ctx, n: rn.n, hedge: hedge}
		if h.watching() {
			actx, rn.conns = watchConn(actx) // conns.go
		}
		// A deep copy: a losing attempt may still run after RoundTrip
		// returned, when the caller may change its request again.
		ar := r.Clone(actx)
		go func() {
			rn.res = c.sendAdmitted(ar, done, rn)
			g.finished(rn)
		}()
	}
	launch(r, done, false)
	primary := runs[0]
	timer, stop := clk.Timer(delay)
	var win, failed *run
	sampled := est == nil
	for inflight := 1; inflight > 0 && win == nil; {
		select {
		case rn := <-g.results:
			inflight--
			retryable := rn.res.class == Retryable
			if rn == primary {
				if !retryable && !sampled {
					est.Observe(clk.Now().Sub(start))
				}
				sampled = true // a failure says nothing of the latency
			}
			if !retryable {
				win = rn
				break
			}
			if failed != nil {
				go failed.discard() // not on the winner's path
			}
			failed = rn
		case <-timer:
			timer = nil
			if len(runs) >= p.MaxAttempts || c.ctx.Err() != nil {
				break
			}
			hr, hdone, ok := c.hedgeRequest(r)
			if !ok {
				break // refused: no further hedge for this attempt
			}
			launch(hr, hdone, true)
			c.hedges++
			inflight++
			t.tel.hedgeSent(c, c.attempts, delay)
			if len(runs) < p.MaxAttempts {
				timer, stop = clk.Timer(delay)
			}
		}
	}
	stop()
	if !sampled {
		// The first attempt lost the race: it took at least this long,
		// which is what the quantile needs to know.
		est.Observe(clk.Now().Sub(start))
	}
	g.settle()
	res := win
	if res == nil {
		res = failed
	}
	for _, rn := range runs {
		if rn != res && rn != failed {
			rn.cancel(errHedgeLost)
		}
	}
	if failed != nil && failed != res {
		go failed.discard() // not on the winner's path
	}
	if resp := res.res.resp; resp != nil {
		// The winner's context lives until its body is closed.
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: func() { res.cancel(nil) }}
	} else {
		res.cancel(nil)
	}
	if res.hedge && win != nil {
		t.tel.hedgeWon(c, res.n)
	}
	c.last = res.res
}

// hedgeRequest prepares a hedge of r: it must fit in the host's retry
// budget and be admitted, and gets a body of its own from GetBody. It
// reports false, and counts why, when no hedge may go.
func (c *call) hedgeRequest(r *http.Request) (*http.Request, func(error), bool) {
	t, h := c.t, c.host
	done, refusal := c.admit()
	if refusal != nil {
		t.tel.hedgeRefused(c, hedgeRefusedBreaker)
		return nil, nil, false
	}
	if h.budget != nil && !h.budget.TryRetry(t.cfg.clock.Now().UnixNano(), budget.Hedge) { // budget
		if done != nil {
			done(errExcluded)
		}
		t.tel.hedgeRefused(c, hedgeRefusedBudget)
		return nil, nil, false
	}
	hr := r
	if b := c.req.Body; b != nil && b != http.NoBody {
		rb, err := c.req.GetBody()
		if err != nil {
			// A hedge is optional: the attempt in flight goes on alone.
			if done != nil {
				done(errExcluded)
			}
			return nil, nil, false
		}
		cp := *r
		cp.Body = rb
		hr = &cp
	}
	return hr, done, true
}
