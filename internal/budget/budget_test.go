package budget

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const sec = int64(time.Second)

func TestBudget_allowsRatioOfCallsOrMin(t *testing.T) {
	for _, tc := range []struct {
		calls, want int
	}{
		{100, 20}, // 20% of the calls; the floor is not added
		{10, 3},   // the floor, above 20% of 10
		{0, 3},
	} {
		b := New(0.2, 3, time.Second)
		now := 10 * sec
		for i := 0; i < tc.calls; i++ {
			b.Call(now, uint32(i)*3) // spread over the counters, as a call's address does
		}
		allowed := 0
		for i := 0; i < 100; i++ {
			if b.TryRetry(now) {
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
	b := New(0.2, 0, time.Second)
	for i := 0; i < 50; i++ {
		b.Call(10*sec, 0)
	}
	for b.TryRetry(10 * sec) {
	}
	if b.TryRetry(10*sec + sec/2) {
		t.Error("a retry was allowed half a window later with the budget spent")
	}
	// A whole window later, old calls no longer pay for retries.
	if b.TryRetry(11*sec + sec/5) {
		t.Error("calls from more than a window ago paid for a retry")
	}
	if c, r := b.Counts(11*sec + sec/5); c != 0 || r != 0 {
		t.Errorf("Counts a window later = %d, %d; want 0, 0", c, r)
	}
}

func TestBudget_slidesBucketByBucket(t *testing.T) {
	b := New(1, 0, time.Second) // 10 buckets of 100ms
	b.Call(10*sec, 0)           // bucket 0
	b.Call(10*sec+sec/2, 0)     // bucket 5
	if c, _ := b.Counts(11*sec + sec/10); c != 1 {
		t.Errorf("after the first bucket left the window: %d calls, want 1", c)
	}
	if c, _ := b.Counts(11*sec + 6*sec/10); c != 0 {
		t.Errorf("after both left: %d calls, want 0", c)
	}
}

func TestBudget_concurrentUseNeverOverspends(t *testing.T) {
	b := New(0.1, 5, time.Hour)
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
				if b.TryRetry(now) {
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
