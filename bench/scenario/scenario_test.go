package scenario

import (
	"context"
	"math"
	"testing"
	"time"
)

// TestDraw: the draw is a pure function of (seed, scenario, call,
// attempt), uniform enough for shares of requests, and changes with each.
func TestDraw(t *testing.T) {
	if Draw(1, 2, 3, 1) != Draw(1, 2, 3, 1) {
		t.Fatal("Draw is not deterministic")
	}
	if Draw(1, 2, 3, 1) == Draw(1, 2, 3, 2) || Draw(1, 2, 3, 1) == Draw(2, 2, 3, 1) || Draw(1, 2, 3, 1) == Draw(1, 2, 4, 1) {
		t.Fatal("Draw ignores an argument")
	}
	const n = 100000
	below := 0
	for i := range n {
		u := Draw(1, 2, i, 1)
		if u < 0 || u >= 1 {
			t.Fatalf("Draw = %v, outside [0, 1)", u)
		}
		if u < 0.3 {
			below++
		}
	}
	if got := float64(below) / n; math.Abs(got-0.3) > 0.01 {
		t.Errorf("share below 0.3 = %.4f, want 0.3 ± 0.01", got)
	}
}

// TestCommonRandomNumbers: two plain clients, which make exactly one
// request per call, see the same fault on every call, so their outcomes
// agree call by call.
func TestCommonRandomNumbers(t *testing.T) {
	plain := Clients()[0]
	twin := plain
	twin.Name = "twin"
	timing := Timing{Rate: 100, Deadline: 2 * time.Second, LeadIn: 200 * time.Millisecond, Fault: 400 * time.Millisecond,
		Healed: 200 * time.Millisecond}
	res, err := Run(context.Background(), Options{Timing: timing, Seed: 7, Clients: []Client{plain, twin}, Scenarios: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Scenarios[0].Phases {
		a, b := p.Clients[0], p.Clients[1]
		if a.Calls == 0 || a.OK != b.OK || a.ServerRequests != b.ServerRequests {
			t.Errorf("%s: plain %d/%d ok, %d requests; twin %d/%d ok, %d requests; want the same",
				p.Name, a.OK, a.Calls, a.ServerRequests, b.OK, b.Calls, b.ServerRequests)
		}
	}
}

// TestFullTraffic: full traffic starts at the first bucket from which on
// every bucket has no refusal, and ≥ 90% of the calls started in it reach
// the server within 50 ms of their start.
func TestFullTraffic(t *testing.T) {
	const rate = 100 // 10 calls per bucket
	p := PhaseResult{Start: time.Second, End: 2 * time.Second, Healed: true}
	cr := clientRun{calls: make([]callRecord, 200), firsts: make([]time.Duration, 200)}
	for i := range cr.calls {
		cr.calls[i].start = scheduled(i, rate)
		cr.firsts[i] = cr.calls[i].start + time.Millisecond
	}
	// Buckets 0–2 refuse a call; in bucket 5, one call's request never
	// came and another's came 51 ms after its start; in bucket 6, one's
	// came 50 ms after, in time.
	cr.calls[100].out.Refused = true
	cr.calls[125].out.Refused = true
	cr.firsts[150] = -1
	cr.firsts[151] += 50 * time.Millisecond
	cr.firsts[160] += 49 * time.Millisecond
	if got, want := fullTraffic(p, cr), 600*time.Millisecond; got != want {
		t.Errorf("fullTraffic = %v, want %v", got, want)
	}
	cr.calls[199].out.Refused = true
	if got := fullTraffic(p, cr); got != -1 {
		t.Errorf("fullTraffic with a refusal in the last bucket = %v, want -1", got)
	}
}

// TestFullTraffic_machineBehind: when the load generator falls behind, or
// the machine stalls requests on their way, for less than 50 ms, full
// traffic stays where the client put it: the late calls count in the
// bucket where they started, as sent. Counted as requests arriving in each
// bucket against calls scheduled in it, buckets 3 and 7 would fall short.
func TestFullTraffic_machineBehind(t *testing.T) {
	const rate = 100
	p := PhaseResult{Start: time.Second, End: 2 * time.Second, Healed: true}
	cr := clientRun{calls: make([]callRecord, 200), firsts: make([]time.Duration, 200)}
	for i := range cr.calls {
		start, stall := scheduled(i, rate), time.Millisecond
		switch {
		case i >= 177 && i < 180: // the last 3 calls of bucket 7 start 30 ms late, in bucket 8
			start += 30 * time.Millisecond
		case i >= 137 && i < 140: // bucket 3's last 3 requests take 40 ms to arrive
			stall = 40 * time.Millisecond
		}
		cr.calls[i].start, cr.firsts[i] = start, start+stall
	}
	if got := fullTraffic(p, cr); got != 0 {
		t.Errorf("fullTraffic = %v, want 0: every call reached the server promptly", got)
	}
}
