package scenario

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/resilient-http/resilient/internal/testpeers"
)

// shortRun is the short matrix the target tests share: every scenario, at
// ShortTiming (200 calls/s, phases of 2–6 s), plain, resilient and
// go-retryablehttp, two scenarios at a time, run once for the package
// (about 60 s), with seed 1 or $RESILIENT_SCENARIO_SEED. Scenario 13 needs
// redis-server (scripts/install-peers.sh installs it); without it, it is
// left out, unless peers are required (RESILIENT_REQUIRE_PEERS or CI), when
// the run fails. When a scenario's calls started later than
// DefaultSchedule allows, every test that uses the run fails with
// ErrSchedule, which names that scenario, and assertTargets leaves out its
// misses: it measured the machine, not the clients.
//
// The target tests skip under the race detector, which makes the load
// generator start calls hundreds of milliseconds late (issue 27);
// scripts/test.sh runs this package a second time without -race.
var shortRun struct {
	once sync.Once
	res  *Result
	err  error
}

func shortMatrix(t *testing.T) *Result {
	t.Helper()
	if raceEnabled {
		t.Skip("the short matrix judges outcomes in time, and under -race its load generator starts calls " +
			"hundreds of ms late: run it without -race (scripts/test.sh does)")
	}
	shortRun.once.Do(func() {
		cs, err := SelectClients([]string{"plain", "resilient", "retryablehttp"})
		if err != nil {
			shortRun.err = err
			return
		}
		seed := uint64(1)
		if v := os.Getenv("RESILIENT_SCENARIO_SEED"); v != "" {
			if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
				shortRun.err = fmt.Errorf("RESILIENT_SCENARIO_SEED: %v", err)
				return
			}
		}
		o := Options{Timing: ShortTiming, Seed: seed, Clients: cs, Parallel: 2}
		rd, err := testpeers.StartRedis()
		switch {
		case err == nil:
			defer rd.Stop()
			o.Redis = rd.Addr
		case errors.Is(err, testpeers.ErrNotInstalled) && !testpeers.Required():
			t.Logf("%v: scenario 13 left out", err)
			for _, sc := range Matrix(ShortTiming) {
				if !sc.Shared {
					o.Scenarios = append(o.Scenarios, sc.ID)
				}
			}
		default:
			shortRun.err = err
			return
		}
		shortRun.res, shortRun.err = Run(context.Background(), o)
		if shortRun.err != nil {
			return
		}
		t.Logf("seed %d", shortRun.res.Seed) // once, in the first test to use the run
		for _, sc := range shortRun.res.Scenarios {
			t.Logf("scenario %d: calls started behind schedule by %v at p99, %v at most", sc.ID, sc.LagP99, sc.LagMax)
		}
	})
	if shortRun.err != nil {
		t.Fatal(shortRun.err)
	}
	if err := shortRun.res.CheckSchedule(DefaultSchedule); err != nil {
		t.Error(err)
	}
	return shortRun.res
}

// assertTargets fails t for every failed check of targets, with
// TestLimits; a target that was never checked fails too. A check in a
// scenario that did not hold its schedule is no measurement: shortMatrix
// has failed t for that, and its miss is not reported.
func assertTargets(t *testing.T, targets ...Target) {
	t.Helper()
	res := shortMatrix(t)
	late := map[int]bool{}
	for _, sc := range res.Scenarios {
		late[sc.ID] = !DefaultSchedule.Held(sc)
	}
	vs := Check(res, TestLimits)
	for _, target := range targets {
		n := 0
		for _, v := range vs {
			if v.Target != target {
				continue
			}
			n++
			if !v.Pass && !late[v.Scenario] {
				t.Errorf("%s: %s: got %s, want %s", target, v.Where, v.Got, v.Limit)
			}
		}
		if n == 0 {
			t.Errorf("%s: never checked", target)
		}
	}
}

// TestSuccessNotBelowPlain: in every scenario and phase, resilient's
// success is within 3 pp of plain's or above (the issue: 1 pp).
func TestSuccessNotBelowPlain(t *testing.T) { assertTargets(t, TargetSuccess) }

// TestNoRefusalWhilePlainSucceeds: resilient refuses no call locally in a
// phase where more than half of plain's calls succeed.
func TestNoRefusalWhilePlainSucceeds(t *testing.T) { assertTargets(t, TargetNoRefusal) }

// TestOutageSparesServer: during the total outage, resilient sends at most
// 8% of plain's requests (the issue: 5%).
func TestOutageSparesServer(t *testing.T) { assertTargets(t, TargetOutageLoad) }

// TestRecoveryAfterHealing: after every fault heals, resilient's first
// success comes within 500 ms (the issue: 250 ms), full traffic within
// 1 s, and at most 40 calls (the issue: 25) are lost to its own state at
// 100 calls/s.
func TestRecoveryAfterHealing(t *testing.T) {
	assertTargets(t, TargetFirstSuccess, TargetFullTraffic, TargetOwnFailures)
}

// TestRetriesWhereHarmless: where retries cost the server nothing other
// calls need (random 503s, Retry-After, resets, flapping, an overload that
// sheds for free), resilient's success is within 25 pp of
// go-retryablehttp's (the issue: 3 pp, over the full matrix's 10 s
// phases; see TestLimits), and the p99 of the random-503 and reset phases
// stays within 1 s (the issue: 700 ms, the sum of the default backoffs).
func TestRetriesWhereHarmless(t *testing.T) { assertTargets(t, TargetPeerSuccess, TargetP99) }

// TestRetryStorm: after the trigger of every retry storm (one client or a
// fleet of 20, alone or sharing through Redis, with the defaults or a
// 250 ms attempt timeout), ≥ 95% of resilient's calls succeed within
// 2.5 s (the issue: 2 s), at ≤ 1.3 server requests per call over the
// scenario; and the model holds: with the short attempt timeout
// go-retryablehttp stays below 50% after the trigger while plain recovers
// within 2.5 s.
func TestRetryStorm(t *testing.T) {
	assertTargets(t, TargetRecovery, TargetStormPerCall, TargetStormModel)
}

// TestCostlyOverload: when rejections cost the server capacity,
// resilient's goodput is within 1 pp of plain's (the issue: not below it)
// and not below go-retryablehttp's.
func TestCostlyOverload(t *testing.T) { assertTargets(t, TargetCostly) }
