package budget

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	sec = int64(time.Second)
	ms  = int64(time.Millisecond)
)

// defaults are RetryBudget's defaults.
var defaults = Config{Ratio: 0.1, Min: 3, Window: time.Second, Latency: 2, Baseline: time.Minute, Hold: 2 * time.Second}

// traffic drives a Budget on a virtual clock: calls at rate per second
// from `from` to `to`, each answered after latency when it succeeds, each
// failing its first `fails` attempts with cause and asking to retry them.
// It returns the retries asked for and those allowed.
func traffic(b *Budget, from, to int64, rate float64, latency int64, fails int, cause Cause) (asked, allowed int) {
	step := int64(float64(sec) / rate)
	i := uint32(0)
	for now := from; now < to; now += step {
		i++
		b.Call(now, i*3)
		if fails == 0 {
			b.Answered(now+latency, latency)
			continue
		}
		for range fails {
			asked++
			if b.TryRetry(now+latency, cause) {
				allowed++
			}
		}
	}
	return asked, allowed
}

// TestBudget_quietClientRetriesAreNeverRefused: a client making 5 calls a
// second, each meeting 503, 503, 200, gets every retry, on a fresh budget
// and a minute later.
func TestBudget_quietClientRetriesAreNeverRefused(t *testing.T) {
	b := New(defaults)
	now := 100 * sec
	for i := range 300 {
		b.Call(now, uint32(i))
		for range 2 {
			if !b.TryRetry(now+ms, Failure) {
				t.Fatalf("call %d (at %v): a retry of a 503 was refused", i, time.Duration(now-100*sec))
			}
		}
		b.Answered(now+2*ms, ms)
		now += sec / 5
	}
}

// TestBudget_randomFailuresAreRetriedFreely: at 200 calls/s, with 90% of
// attempts failing fast and every call asking for 3 retries, no retry is
// refused: failures that come at once say nothing of load.
func TestBudget_randomFailuresAreRetriedFreely(t *testing.T) {
	b := New(defaults)
	traffic(b, 0, 10*sec, 200, ms, 0, Failure) // some answered calls: a baseline
	asked, allowed := traffic(b, 10*sec, 20*sec, 200, ms, 3, Failure)
	if allowed != asked {
		t.Errorf("%d of %d retries allowed, want all", allowed, asked)
	}
	if share, held, why := b.Limit(20*sec, 3); held || share != 3 || why != "" {
		t.Errorf("Limit = %v, %v, %q; want 3 (Retry.Max), free", share, held, why)
	}
}

// TestBudget_stormLoadIsBounded: once the host's answers take 15 times its
// baseline (a queue), retries add at most 10% of the calls, or 3 per
// second, and less as the queue grows: a storm of retries cannot keep the
// host overloaded.
func TestBudget_stormLoadIsBounded(t *testing.T) {
	b := New(defaults)
	traffic(b, 0, 30*sec, 200, 30*ms, 0, Failure)
	// The queue builds: answers take 500 ms, and some calls are turned
	// away at once (their 503s come fast), each asking for 3 retries.
	var asked, allowed, calls int
	for now := 30 * sec; now < 40*sec; now += 5 * ms {
		calls++
		b.Call(now, uint32(calls))
		if calls%2 == 0 {
			b.Answered(now+500*ms, 500*ms)
			continue
		}
		for range 3 {
			asked++
			if b.TryRetry(now+ms, Failure) {
				allowed++
			}
		}
	}
	// The first 500 ms pass before the first slow answer comes back.
	limit := 0.1*float64(calls) + 3*10 + 0.5*float64(asked)/10
	if float64(allowed) > limit {
		t.Errorf("%d retries allowed for %d calls (%d asked), want ≤ %.0f", allowed, calls, asked, limit)
	}
	// The share shrinks with the queue: answers at 500 ms, about 8 times
	// the 60 ms that hold retries back, leave a twelfth of Ratio or so.
	if share, held, why := b.Limit(40*sec, 3); !held || share >= 0.05 || why != ReasonLatency {
		t.Errorf("Limit = %v, %v, %q; want below 0.05 (Ratio, shrunk by the queue), held, %q", share, held, why, ReasonLatency)
	}
	// Once answers are fast again, retries are free again within a window.
	traffic(b, 40*sec, 41*sec+sec/2, 200, 30*ms, 0, Failure)
	if asked, allowed := traffic(b, 41*sec+sec/2, 42*sec, 200, 30*ms, 1, Failure); allowed != asked {
		t.Errorf("after the storm: %d of %d retries allowed, want all", allowed, asked)
	}
}

// TestBudget_timeoutHoldsRetries: an attempt timeout holds retries to the
// share for Hold, then they are free again.
func TestBudget_timeoutHoldsRetries(t *testing.T) {
	for _, tc := range []struct {
		cause Cause
		why   string
	}{{Timeout, ReasonTimeout}, {Throttled, ReasonThrottled}} {
		b := New(defaults)
		now := 10 * sec
		for i := range 100 {
			b.Call(now, uint32(i))
		}
		allowed := 0
		for range 50 {
			if b.TryRetry(now, tc.cause) {
				allowed++
			}
		}
		if allowed != 10 {
			t.Errorf("%s: %d retries allowed for 100 calls, want max(3, 10%%) = 10", tc.why, allowed)
		}
		if _, held, why := b.Limit(now+sec, 3); !held || why != tc.why {
			t.Errorf("%s: Limit a second later: held %v, %q", tc.why, held, why)
		}
		if _, held, _ := b.Limit(now+2*sec, 3); held {
			t.Errorf("%s: still held after Hold", tc.why)
		}
		if !b.TryRetry(now+2*sec, Failure) {
			t.Errorf("%s: a retry of a 503 refused after Hold", tc.why)
		}
	}
}

// TestBudget_hedgesAlwaysShare: hedges are extra load, not failures: they
// are held to the share even on a host that shows no sign of load.
func TestBudget_hedgesAlwaysShare(t *testing.T) {
	b := New(defaults)
	now := 10 * sec
	for i := range 100 {
		b.Call(now, uint32(i))
	}
	allowed := 0
	for range 50 {
		if b.TryRetry(now, Hedge) {
			allowed++
		}
	}
	if allowed != 10 {
		t.Errorf("%d hedges allowed for 100 calls, want 10", allowed)
	}
	if !b.TryRetry(now, Failure) {
		t.Error("a retry of a 503 was refused because hedges spent the share")
	}
}

// TestBudget_smallRiseIsNotLoad: latency that doubles from a fraction of a
// millisecond (a scheduler hiccup on loopback) does not hold retries back;
// the rise must also be 20 ms or more.
func TestBudget_smallRiseIsNotLoad(t *testing.T) {
	b := New(defaults)
	traffic(b, 0, 10*sec, 200, ms/5, 0, Failure)
	traffic(b, 10*sec, 12*sec, 200, 10*ms, 0, Failure) // 50 times the baseline, 10 ms above it
	if _, held, why := b.Limit(12*sec, 3); held {
		t.Errorf("held back (%q) by a 10 ms rise", why)
	}
}

// TestBudget_lastingSlownessBecomesTheBaseline: an overload of a few
// minutes does not teach the budget that queueing is normal (slow buckets
// move the baseline ten times slower), but a host that stays slow for
// many Baselines is the new normal: retries are free again.
func TestBudget_lastingSlownessBecomesTheBaseline(t *testing.T) {
	b := New(defaults)
	traffic(b, 0, 30*sec, 50, 30*ms, 0, Failure)
	traffic(b, 30*sec, 90*sec, 50, 300*ms, 0, Failure)
	if share, held, _ := b.Limit(90*sec, 3); !held || share >= 0.05 {
		t.Fatalf("after a minute at 10 times the baseline: held %v, share %v; want held, below 0.05", held, share)
	}
	traffic(b, 90*sec, 30*60*sec, 50, 300*ms, 0, Failure)
	if _, held, _ := b.Limit(30*60*sec, 3); held {
		t.Error("still held back after 30 minutes at the same latency")
	}
}

func TestBudget_sharesAndWindow(t *testing.T) {
	for _, tc := range []struct {
		calls, want int
	}{
		{100, 20}, // 20% of the calls; the floor is not added
		{10, 3},   // the floor, above 20% of 10
		{0, 3},
	} {
		c := defaults
		c.Ratio = 0.2
		b := New(c)
		now := 10 * sec
		for i := 0; i < tc.calls; i++ {
			b.Call(now, uint32(i)*3) // spread over the counters, as the random draw does
		}
		allowed := 0
		for i := 0; i < 100; i++ {
			if b.TryRetry(now, Timeout) {
				allowed++
			}
		}
		if allowed != tc.want {
			t.Errorf("%d retries allowed for %d calls, want max(3, 20%%) = %d", allowed, tc.calls, tc.want)
		}
		if c, r := b.Counts(now); c != tc.calls || r != tc.want {
			t.Errorf("Counts = %d calls, %d retries", c, r)
		}
	}
}

func TestBudget_countsFallOutOfTheWindow(t *testing.T) {
	c := defaults
	c.Ratio, c.Min, c.Hold = 0.2, 0, 10*time.Second
	b := New(c)
	for i := 0; i < 50; i++ {
		b.Call(10*sec, 0)
	}
	for b.TryRetry(10*sec, Timeout) {
	}
	if b.TryRetry(10*sec+sec/2, Timeout) {
		t.Error("a retry was allowed half a window later with the budget spent")
	}
	// A whole window later, old calls no longer pay for retries.
	if b.TryRetry(11*sec+sec/5, Timeout) {
		t.Error("calls from more than a window ago paid for a retry")
	}
	if c, r := b.Counts(11*sec + sec/5); c != 0 || r != 0 {
		t.Errorf("Counts a window later = %d, %d; want 0, 0", c, r)
	}
}

func TestBudget_slidesBucketByBucket(t *testing.T) {
	c := defaults
	c.Ratio = 1
	b := New(c)             // 10 buckets of 100ms
	b.Call(10*sec, 0)       // bucket 0
	b.Call(10*sec+sec/2, 0) // bucket 5
	if c, _ := b.Counts(11*sec + sec/10); c != 1 {
		t.Errorf("after the first bucket left the window: %d calls, want 1", c)
	}
	if c, _ := b.Counts(11*sec + 6*sec/10); c != 0 {
		t.Errorf("after both left: %d calls, want 0", c)
	}
}

func TestBudget_concurrentUseNeverOverspends(t *testing.T) {
	c := defaults
	c.Min, c.Window, c.Hold = 5, time.Hour, time.Hour
	b := New(c)
	now := 10 * sec
	for i := 0; i < 1000; i++ {
		b.Call(now, uint32(i))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				b.Answered(now, ms)
				if b.TryRetry(now, Timeout) {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 100 {
		t.Errorf("%d retries allowed, want exactly max(5, 10%% of 1000) = 100", allowed)
	}
}
