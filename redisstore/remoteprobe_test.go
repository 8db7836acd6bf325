package redisstore_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/resilient-http/resilient"
)

// Once a remote open ends, an instance probes as it would after its own
// open: Probes calls at a time, not its whole traffic; a failed probe
// refuses calls for another Cooldown.
func TestStore_afterRemoteOpenEndsOnlyProbesGoThrough(t *testing.T) {
	r := startRedis(t)
	dep := newDependency(t)
	const cooldown = 300 * time.Millisecond
	a := newInstance(t, r.Addr, "a", testBreaker(cooldown))
	b := newInstance(t, r.Addr, "b", testBreaker(cooldown))
	waitConnected(t, a, b)
	a.tripLocally(t, dep.URL)
	var got timedEvent
	waitFor(t, 2*time.Second, "b to receive a's open", func() bool {
		var ok bool
		got, ok = b.rec.lastReceived(dep.host(), true)
		return ok
	})
	time.Sleep(time.Until(got.Until) + 10*time.Millisecond)

	// The dependency is still down; b sends 10 calls at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errors.Is(b.get(dep.URL), resilient.ErrCircuitOpen) {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if n := dep.count("b"); n != 1 {
		t.Errorf("the dependency saw %d calls from b after the remote open ended, want 1 probe (Probes = 1)", n)
	}
	if refused != 9 {
		t.Errorf("%d of b's calls were refused, want 9", refused)
	}
	// The probe failed: b's breaker is open again, now on its own
	// evidence, and refuses for another Cooldown without calling.
	if err := b.get(dep.URL); !errors.Is(err, resilient.ErrCircuitOpen) {
		t.Errorf("after the failed probe: %v, want a refusal", err)
	}
	if n := dep.count("b"); n != 1 {
		t.Errorf("the dependency saw %d calls from b after its probe failed, want still 1", n)
	}
}
