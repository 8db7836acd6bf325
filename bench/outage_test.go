package bench

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestOutage runs the outage scenario (DefaultOutage, about 16 s) with
// every peer of OutagePeers at its defaults, side by side. It runs only
// when RESILIENT_BENCH_OUTAGE is set; when its value ends in .json, the
// results are written there for bench/run.sh.
func TestOutage(t *testing.T) {
	out := os.Getenv("RESILIENT_BENCH_OUTAGE")
	if out == "" {
		t.Skip("set RESILIENT_BENCH_OUTAGE=1 (or =results.json) to run the outage scenario (~16 s)")
	}
	var peers []Peer
	for _, name := range OutagePeers {
		peers = append(peers, PeerNamed(name))
	}
	results := DefaultOutage.Run(context.Background(), peers)
	for _, r := range results {
		t.Logf("%-18s calls down %5d (p50 %v)  server req/call %6.3f  server req/s %7.1f  failed p50 %v p99 %v  first success %v  recovered %v  (healed: %d calls, %d failed)",
			r.Peer, r.CallsDown, r.CallP50, r.PerCall, r.ServerRate, r.FailP50, r.FailP99, r.FirstSuccess, r.Recovered, r.CallsHealed, r.FailedHealed)
	}
	if strings.HasSuffix(out, ".json") {
		if err := WriteJSON(out, results); err != nil {
			t.Fatal(err)
		}
	}
}
