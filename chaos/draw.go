package chaos

// This file holds the draws: Draw, the pure function behind Config.Key,
// and the injector's seeded stream.

import "math"

// Draw returns a number in [0, 1) that depends only on seed and keys: a
// SplitMix64 hash of them, not a shared random stream. Requests that carry
// the same keys draw the same number whatever else runs and in whatever
// order, which is what Config.Key uses: two clients sent the same calls
// meet the same faults (common random numbers). Over many distinct keys the
// numbers are uniform.
func Draw(seed uint64, keys ...uint64) float64 {
	h := mix(seed ^ 0x9e3779b97f4a7c15)
	for _, k := range keys {
		h = mix(h ^ k)
	}
	return float64(h>>11) / math.Exp2(53)
}

// mix is SplitMix64's finaliser.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
