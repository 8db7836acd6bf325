//go:build !race

package resilient

// raceEnabled reports whether the race detector is on: it changes what
// allocates, so TestAllocs skips.
const raceEnabled = false
