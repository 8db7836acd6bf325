package latency

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBucket_boundsHoldTheirValues(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 1023, 1024, 5000, time.Millisecond, 37 * time.Millisecond, time.Second, time.Hour, 3 * time.Hour} {
		i := bucket(d)
		lo, hi := bounds(i)
		if i < nBuckets-1 && (d < lo || d >= hi) {
			t.Errorf("%v went to bucket %d = [%v, %v)", d, i, lo, hi)
		}
		if i > 0 && hi-lo > 0 && i >= perOctave && float64(hi)/float64(lo) > 1.26 {
			t.Errorf("bucket %d is [%v, %v), wider than a quarter octave", i, lo, hi)
		}
	}
	if bucket(3*time.Hour) != nBuckets-1 {
		t.Errorf("three hours went to bucket %d, not the last", bucket(3*time.Hour))
	}
}

func TestEstimator_quantileWithinABucket(t *testing.T) {
	e := New(100000)
	r := rand.New(rand.NewPCG(1, 2))
	// 99% around 5ms, 1% around 1s: the p95 is in the fast mode, the
	// p99.5 in the slow one.
	for range 20000 {
		d := time.Duration(4e6 + r.Float64()*2e6)
		if r.Float64() < 0.01 {
			d = time.Second
		}
		e.Observe(d)
	}
	p95, n := e.Quantile(0.95)
	if n != 20000 {
		t.Errorf("samples = %d, want 20000", n)
	}
	if p95 < 5500*time.Microsecond || p95 > 6*time.Millisecond*125/100 {
		t.Errorf("p95 = %v, want about 5.9ms", p95)
	}
	if p995, _ := e.Quantile(0.995); p995 < 800*time.Millisecond || p995 > 1300*time.Millisecond {
		t.Errorf("p99.5 = %v, want about 1s", p995)
	}
}

func TestEstimator_decayFollowsAChange(t *testing.T) {
	e := New(200)
	for range 1000 {
		e.Observe(100 * time.Millisecond)
	}
	for range 1000 {
		e.Observe(time.Millisecond)
	}
	p50, n := e.Quantile(0.5)
	if p50 > 2*time.Millisecond {
		t.Errorf("p50 = %v after 1000 samples of 1ms: old samples did not fade", p50)
	}
	if n < 100 || n > 400 {
		t.Errorf("samples = %d, want about decay to twice decay", n)
	}
}

func TestEstimator_empty(t *testing.T) {
	if d, n := New(10).Quantile(0.9); d != 0 || n != 0 {
		t.Errorf("empty: %v, %d", d, n)
	}
}

func TestEstimator_concurrent(t *testing.T) {
	e := New(50)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				e.Observe(time.Duration(g*i) * time.Microsecond)
				e.Quantile(0.9)
			}
		})
	}
	wg.Wait()
	if _, n := e.Quantile(0.9); n == 0 || n > 100 {
		t.Errorf("samples = %d after concurrent use, want 1..100", n)
	}
}

func TestEstimator_allocatesNothing(t *testing.T) {
	e := New(1000)
	if a := testing.AllocsPerRun(1000, func() {
		e.Observe(3 * time.Millisecond)
		e.Quantile(0.95)
	}); a != 0 {
		t.Errorf("%v allocations per observe and quantile", a)
	}
}

func BenchmarkObserveQuantile(b *testing.B) {
	e := New(1000)
	for i := 0; b.Loop(); i++ {
		e.Observe(time.Duration(i%1000) * time.Microsecond)
		e.Quantile(0.95)
	}
}
