package main

import (
	"strings"
	"testing"
)

// get500Stats returns the GET 500 loopback figures of bare, resilient
// and go-retryablehttp: CPU per request and new connections per request.
func get500Stats(resilientCPU, resilientDials float64) stats {
	row := rowName("GET500", "loopback")
	cells := func(bare, res, rh float64) *table {
		return &table{Cols: []string{"bare", "resilient", "retryablehttp"}, Rows: map[string]map[string]cell{row: {
			"bare": {Center: bare}, "resilient": {Center: res}, "retryablehttp": {Center: rh}}}}
	}
	return stats{
		"cpu-ns/op": cells(40000, resilientCPU, 70000),
		"ns/op":     cells(38000, resilientCPU, 150000),
		"dials/op":  cells(0, resilientDials, 1),
	}
}

// TestTargets_500path: on the 500 path (one failed attempt per call),
// resilient may open one new connection per failed attempt, not more,
// and its CPU must stay below go-retryablehttp's (70 µs here), which
// dials after every failed call too.
func TestTargets_500path(t *testing.T) {
	for _, tc := range []struct {
		cpu, dials float64
		met        bool
	}{{42000, 0, true}, {65000, 1, true}, {43000, 2, false}, {71000, 1, false}} {
		var got *target
		ts := targets(get500Stats(tc.cpu, tc.dials), nil, nil, nil)
		for i := range ts {
			if strings.HasPrefix(ts[i].What, "GET 500 on loopback: at most one new connection per failed attempt") {
				got = &ts[i]
			}
		}
		if got == nil {
			t.Fatalf("no 500-path target in %+v", ts)
		}
		if (got.Met == "met") != tc.met {
			t.Errorf("CPU %.0f ns, %.0f dials/op: %q, want met %v", tc.cpu, tc.dials, got.Met, tc.met)
		}
		if !strings.Contains(got.Measured, "go-retryablehttp: 1.000 dials/op") {
			t.Errorf("measured %q lacks go-retryablehttp's connections", got.Measured)
		}
	}
}
