package bench

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Outage describes the outage scenario: a server that is healthy for Warm,
// fails every request with 500 for Down, then is healthy again for Healed,
// while Callers goroutines per peer each make one GET at a time, pausing
// Think between calls. Every peer gets its own server and its own callers,
// all on the same clock, so that the peers run side by side.
type Outage struct {
	Callers int
	Think   time.Duration
	Warm    time.Duration
	Down    time.Duration
	Healed  time.Duration
}

// DefaultOutage is the scenario of bench/run.sh: 8 callers, 10 ms pauses,
// 1 s healthy, 6 s down (longer than resilient's default 5 s breaker
// cooldown, so that the half-open probes meet the outage too), 8 s healed.
var DefaultOutage = Outage{Callers: 8, Think: 10 * time.Millisecond, Warm: time.Second, Down: 6 * time.Second, Healed: 8 * time.Second}

// OutagePeers names the peers of the outage run. resilient-otel and
// otelhttp are left out: tracing does not change what resilient and bare
// net/http send.
var OutagePeers = []string{"bare", "resilient", "retryablehttp", "retryablehttp-std", "failsafe", "resty"}

// OutageResult is what one peer did during the outage.
type OutageResult struct {
	Peer string
	// CallsDown is the number of calls started while the server was down.
	CallsDown int
	// FailedDown is the number of those that failed (canceled ones at the
	// end of the run excluded).
	FailedDown int
	// ServerDown is the number of requests the server received, and failed,
	// while it was down.
	ServerDown int64
	// PerCall is ServerDown / CallsDown: server requests per call.
	PerCall float64
	// ServerRate is ServerDown per second of outage.
	ServerRate float64
	// FailP50 and FailP99 are latency quantiles of the calls started while
	// the server was down that failed: how fast a caller learns.
	FailP50, FailP99 time.Duration
	// CallP50 is the median latency of all the calls started while the
	// server was down that ended before the run did, failed or not.
	CallP50 time.Duration
	// FirstSuccess is the time from healing to the first successful call;
	// -1 if there was none.
	FirstSuccess time.Duration
	// Recovered is the time from healing to the first successful call after
	// which no call failed; -1 if calls still failed at the end of the run.
	Recovered time.Duration
	// CallsHealed and FailedHealed count the calls started after healing,
	// and those that failed.
	CallsHealed, FailedHealed int
}

// callRecord is one call of the outage run.
type callRecord struct {
	start, end time.Time
	ok         bool
	canceled   bool
}

// outageServer fails every request while down is set, counting them.
type outageServer struct {
	down      *atomic.Bool
	downCount atomic.Int64
}

func (s *outageServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	if s.down.Load() {
		s.downCount.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "down")
		return
	}
	io.WriteString(w, bodyOK)
}

// Run runs the scenario for every peer at its defaults, side by side, and
// returns one result per peer, in the order given. It takes Warm + Down +
// Healed, plus the time calls in flight at the end take to notice that
// their context was canceled.
func (o Outage) Run(ctx context.Context, peers []Peer) []OutageResult {
	var down atomic.Bool
	type run struct {
		srv   *Server
		h     *outageServer
		c     Client
		mu    sync.Mutex
		calls []callRecord
	}
	runs := make([]*run, len(peers))
	for i, p := range peers {
		h := &outageServer{down: &down}
		runs[i] = &run{h: h, srv: NewServer(h), c: p.New(Config{Profile: Defaults})}
	}
	defer func() {
		for _, r := range runs {
			r.c.CloseIdleConnections()
			r.srv.CloseClientConnections()
			r.srv.Close()
		}
	}()

	start := time.Now()
	downAt, healAt := start.Add(o.Warm), start.Add(o.Warm+o.Down)
	ctx, cancel := context.WithDeadline(ctx, healAt.Add(o.Healed))
	defer cancel()

	var wg sync.WaitGroup
	for _, r := range runs {
		call := &Call{Method: http.MethodGet, URL: r.srv.URL + PathOK}
		for range o.Callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					t0 := time.Now()
					out := r.c.Do(ctx, call)
					rec := callRecord{start: t0, end: time.Now(), ok: out.OK(), canceled: ctx.Err() != nil}
					r.mu.Lock()
					r.calls = append(r.calls, rec)
					r.mu.Unlock()
					select {
					case <-ctx.Done():
					case <-time.After(o.Think):
					}
				}
			}()
		}
	}
	// The clock: down at downAt, healed at healAt.
	time.Sleep(time.Until(downAt))
	down.Store(true)
	time.Sleep(time.Until(healAt))
	down.Store(false)
	wg.Wait()

	results := make([]OutageResult, len(peers))
	for i, r := range runs {
		results[i] = summarize(peers[i].Name, r.calls, r.h.downCount.Load(), downAt, healAt, o.Down)
	}
	return results
}

func summarize(peer string, calls []callRecord, serverDown int64, downAt, healAt time.Time, d time.Duration) OutageResult {
	res := OutageResult{Peer: peer, ServerDown: serverDown, ServerRate: float64(serverDown) / d.Seconds(),
		FirstSuccess: -1, Recovered: -1}
	var failLat, callLat []time.Duration
	var lastFail time.Time
	for _, c := range calls {
		switch {
		case c.start.Before(downAt):
		case c.start.Before(healAt):
			res.CallsDown++
			if !c.canceled {
				callLat = append(callLat, c.end.Sub(c.start))
			}
			if !c.ok && !c.canceled {
				res.FailedDown++
				failLat = append(failLat, c.end.Sub(c.start))
			}
		default:
			res.CallsHealed++
			if !c.ok && !c.canceled {
				res.FailedHealed++
			}
		}
		if !c.ok && !c.canceled && c.end.After(healAt) && c.end.After(lastFail) {
			lastFail = c.end
		}
	}
	if res.CallsDown > 0 {
		res.PerCall = float64(serverDown) / float64(res.CallsDown)
	}
	slices.Sort(failLat)
	slices.Sort(callLat)
	res.FailP50, res.FailP99 = quantile(failLat, 0.5), quantile(failLat, 0.99)
	res.CallP50 = quantile(callLat, 0.5)
	after := healAt
	if lastFail.After(after) {
		after = lastFail
	}
	for _, c := range calls {
		if !c.ok || c.canceled {
			continue
		}
		if c.end.After(healAt) && (res.FirstSuccess < 0 || c.end.Sub(healAt) < res.FirstSuccess) {
			res.FirstSuccess = c.end.Sub(healAt)
		}
		if !c.end.Before(after) && (res.Recovered < 0 || c.end.Sub(healAt) < res.Recovered) {
			res.Recovered = c.end.Sub(healAt)
		}
	}
	return res
}

// quantile returns the q-quantile of sorted, or 0 when it is empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}
