package scenario

import (
	"math"
	"runtime"
	"slices"
	"sort"
	"time"
)

// bucket is the resolution of FullTraffic.
const bucket = 100 * time.Millisecond

// recoveryBucket and RecoveredShare define ClientPhase.Recovery.
const recoveryBucket = 250 * time.Millisecond

// RecoveredShare is the success of the calls started in a 250 ms bucket
// from which on a healed phase counts as recovered (ClientPhase.Recovery).
const RecoveredShare = 0.95

// fullShare is the share of the calls started in a bucket that must reach
// the server promptly for it to count as full traffic.
const fullShare = 0.9

// promptly is how soon after its call started a first request must reach
// the server to count for full traffic: as late as a first request may
// arrive and still meet the server as scheduled (crnSkew), half the
// bucket. A call that a client holds back longer (waiting for a breaker's
// probe, say) counts as held.
const promptly = crnSkew

// measure turns the raw runs into a Result.
func measure(o Options, runs []*scenarioRun) *Result {
	res := &Result{Timing: o.Timing, Seed: o.Seed, GoVersion: runtime.Version(), Procs: runtime.GOMAXPROCS(0)}
	for _, c := range o.Clients {
		res.Clients = append(res.Clients, ClientInfo{Name: c.Name, About: c.About})
		res.Totals = append(res.Totals, Total{Client: c.Name})
	}
	plain := slices.IndexFunc(o.Clients, func(c Client) bool { return c.Name == "plain" })
	for _, r := range runs {
		sr := ScenarioResult{ID: r.sc.ID, Name: r.sc.Name, Note: r.sc.Note, AttemptTimeout: r.sc.AttemptTimeout,
			Capacity: r.sc.Capacity, Fleet: r.sc.Fleet}
		sr.LagP99, sr.LagMax = lag(r)
		var start time.Duration
		for pi, p := range r.sc.Phases {
			pr := PhaseResult{Name: p.Name, Fault: p.Fault, Start: start, End: start + p.Duration,
				Healed: !p.Fault.Faulty() && pi > 0 && r.sc.Phases[pi-1].Fault.Faulty()}
			last := pi == len(r.sc.Phases)-1
			for k, c := range o.Clients {
				var base []callRecord
				if plain >= 0 {
					base = r.clients[plain].calls
				}
				cp := measurePhase(r, pr, last, r.clients[k], base)
				cp.Client = c.Name
				pr.Clients = append(pr.Clients, cp)
				res.Totals[k].Calls += cp.Calls
				res.Totals[k].ServerRequests += cp.ServerRequests
			}
			sr.Phases = append(sr.Phases, pr)
			start = pr.End
		}
		res.Scenarios = append(res.Scenarios, sr)
	}
	return res
}

// lag returns the 99th percentile and the maximum of how late calls
// started behind their schedule.
func lag(r *scenarioRun) (p99, most time.Duration) {
	var lags []time.Duration
	for _, cr := range r.clients {
		for i, c := range cr.calls {
			lags = append(lags, max(0, c.start-scheduled(i, r.rate)))
		}
	}
	p99 = quantile(lags, 0.99)
	if len(lags) > 0 {
		most = lags[len(lags)-1] // quantile sorted them
	}
	return p99, most
}

// indexAt returns the first call index scheduled at or after t.
func indexAt(t time.Duration, rate float64) int {
	i := max(0, int(t.Seconds()*rate)-1)
	for scheduled(i, rate) < t {
		i++
	}
	return i
}

// measurePhase measures client run cr in phase p. base is plain's calls,
// or nil.
func measurePhase(r *scenarioRun, p PhaseResult, last bool, cr clientRun, base []callRecord) ClientPhase {
	lo, hi := indexAt(p.Start, r.rate), min(indexAt(p.End, r.rate), len(cr.calls))
	var cp ClientPhase
	var lat, refusedLat []time.Duration
	for i := lo; i < hi; i++ {
		c := cr.calls[i]
		cp.Calls++
		lat = append(lat, c.end-c.start)
		if c.out.OK {
			cp.OK++
		}
		if c.out.Refused {
			cp.Refused++
			refusedLat = append(refusedLat, c.end-c.start)
		}
	}
	end := p.End
	if last {
		end = 1<<63 - 1
	}
	cp.ServerRequests = countIn(cr.arrivals, p.Start, end)
	for _, w := range cr.work {
		if w.at >= p.Start && w.at < end {
			cp.Work += w.cost
			if w.gone {
				cp.Wasted += w.cost
			}
		}
	}
	cp.P50, cp.P99 = quantile(lat, 0.5), quantile(lat, 0.99)
	cp.RefusedP99 = quantile(refusedLat, 0.99)
	if !p.Healed {
		return cp
	}
	cp.FirstSuccess = -1
	for _, c := range cr.calls {
		if c.out.OK && c.end >= p.Start && (cp.FirstSuccess < 0 || c.end-p.Start < cp.FirstSuccess) {
			cp.FirstSuccess = c.end - p.Start
		}
	}
	for i := lo; i < hi; i++ {
		c := cr.calls[i]
		if c.out.Refused || !c.out.OK && base != nil && base[i].out.OK {
			cp.OwnFailures++
		}
	}
	cp.FullTraffic = fullTraffic(p, cr)
	cp.Recovery = recovery(r.rate, p, cr)
	return cp
}

// recovery computes ClientPhase.Recovery.
func recovery(rate float64, p PhaseResult, cr clientRun) time.Duration {
	n := int((p.End - p.Start) / recoveryBucket)
	first := n
	for b := n - 1; b >= 0; b-- {
		from := p.Start + time.Duration(b)*recoveryBucket
		lo, hi := indexAt(from, rate), min(indexAt(from+recoveryBucket, rate), len(cr.calls))
		ok := 0
		for i := lo; i < hi; i++ {
			if cr.calls[i].out.OK {
				ok++
			}
		}
		if float64(ok) < RecoveredShare*float64(hi-lo)-1e-9 {
			break
		}
		first = b
	}
	if first == n {
		return -1
	}
	return time.Duration(first) * recoveryBucket
}

// fullTraffic computes ClientPhase.FullTraffic. A bucket's calls are those
// that started in it (not those scheduled to), and a call counts as sent
// when its first request reached the server within promptly of its start.
// So neither a load generator that fell behind for a moment nor a machine
// that stalled a request on its way for a few tens of milliseconds moves a
// call out of its bucket: in issue 27, plain, which sends every call at
// once, reached full traffic up to 1.9 s after healing by the bucket count
// of requests, in runs that held their schedule.
func fullTraffic(p PhaseResult, cr clientRun) time.Duration {
	n := int((p.End - p.Start) / bucket)
	if n == 0 {
		return -1
	}
	started, sent, refused := make([]int, n), make([]int, n), make([]bool, n)
	for i, c := range cr.calls {
		b := int((c.start - p.Start) / bucket)
		if c.start < p.Start || b >= n {
			continue
		}
		started[b]++
		refused[b] = refused[b] || c.out.Refused
		if f := cr.firsts[i]; f >= 0 && f-c.start <= promptly {
			sent[b]++
		}
	}
	firstGood := n // the first bucket of the good run that reaches the end
	for b := n - 1; b >= 0; b-- {
		if refused[b] || sent[b] < ceil(fullShare*float64(started[b])) {
			break
		}
		firstGood = b
	}
	if firstGood == n {
		return -1
	}
	return time.Duration(firstGood) * bucket
}

// countIn counts the sorted times in [from, to).
func countIn(sorted []time.Duration, from, to time.Duration) int {
	lo := sort.Search(len(sorted), func(i int) bool { return sorted[i] >= from })
	hi := sort.Search(len(sorted), func(i int) bool { return sorted[i] >= to })
	return hi - lo
}

// quantile returns the q-quantile (nearest rank) of d, or 0 when it is
// empty. It sorts d.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := ceil(q*float64(len(d))) - 1
	return d[max(0, min(i, len(d)-1))]
}

// ceil rounds x up, forgiving float error (0.9 × 10 is 9, not 10).
func ceil(x float64) int { return int(math.Ceil(x - 1e-9)) }
