//go:build !race

package scenario

// raceEnabled reports whether the race detector is on. It slows the load
// generator so that calls start hundreds of milliseconds behind their
// schedule (issue 27), so the short matrix's target tests skip under it;
// scripts/test.sh runs them again without it.
const raceEnabled = false
