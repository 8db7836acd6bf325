// Package headers parses the response headers a retry decision depends on:
// Retry-After, the IETF RateLimit fields, and the request-ID headers that
// servers and proxies set. Every parser takes untrusted input and never panics.
package headers

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxDelay caps any delay a server can ask for, so that arithmetic on it
// never overflows. A hundred years is "never" for any client.
const maxDelay = 100 * 365 * 24 * time.Hour

// RetryAfter parses a Retry-After value: delay-seconds (digits only) or an
// HTTP-date in any of the three forms of RFC 9110 section 5.6.7. A date in
// the past gives 0. ok is false for anything else (negative numbers, "1e12",
// garbage), so that the caller falls back to its own backoff.
func RetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, ok := seconds(v); ok {
		return s, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	if d < 0 {
		return 0, true
	}
	return min(d, maxDelay), true
}

// seconds parses a non-negative integer number of seconds, capping it at
// maxDelay instead of overflowing. Any number of digits is a valid
// delay-seconds (RFC 9110): a very long one asks for "never", not for the
// client's own backoff.
func seconds(v string) (time.Duration, bool) {
	n, ok := digits(v)
	if !ok {
		return 0, false
	}
	if n > uint64(maxDelay/time.Second) {
		return maxDelay, true
	}
	return time.Duration(n) * time.Second, true
}

// RateLimitReset returns how long the server asks the client to wait
// according to its rate-limit header fields, at now: the older IETF draft's
// "RateLimit-Reset", the de facto "X-RateLimit-Reset" (GitHub, Twitter and
// many others), or the structured "RateLimit: "policy";r=<remaining>;t=<seconds>"
// field of draft-ietf-httpapi-ratelimit-headers. Only an exhausted quota
// asks for a wait: r=0 in the structured field; for RateLimit-Reset, a
// RateLimit-Remaining of 0 or none at all; for X-RateLimit-Reset, an
// X-RateLimit-Remaining of 0 (these fields come on every response of some
// APIs, GitHub's and GitLab's among them, where a reset an hour away is no
// ask to wait on a 502). A reset field's value is delay-seconds, or, from
// epochSeconds up, a Unix time, as GitLab and GitHub send it (see
// resetDelay). ok is false when no field asks for a wait.
func RateLimitReset(h http.Header, now time.Time) (time.Duration, bool) {
	// Canonical keys, read directly: Header.Get would canonicalize (and
	// allocate) "RateLimit-Reset" on every error response.
	if v := first(h["Ratelimit-Reset"]); v != "" && exhausted(h["Ratelimit-Remaining"], true) {
		if d, ok := resetDelay(v, now); ok {
			return d, true
		}
	}
	if v := first(h["X-Ratelimit-Reset"]); v != "" && exhausted(h["X-Ratelimit-Remaining"], false) {
		if d, ok := resetDelay(v, now); ok {
			return d, true
		}
	}
	var best time.Duration
	found := false
	for _, line := range h["Ratelimit"] {
		for _, item := range strings.Split(line, ",") {
			r, t := int64(-1), int64(-1)
			for _, p := range strings.Split(item, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok {
					continue
				}
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil || n < 0 {
					continue
				}
				switch strings.TrimSpace(k) {
				case "r":
					r = n
				case "t":
					t = n
				}
			}
			if r == 0 && t >= 0 {
				d := maxDelay
				if t < int64(maxDelay/time.Second) {
					d = time.Duration(t) * time.Second
				}
				if !found || d > best {
					best, found = d, true
				}
			}
		}
	}
	return best, found
}

// epochSeconds is where a reset field's value stops being delay-seconds
// and becomes a Unix time: 10⁹ seconds is 31 years, a wait no server asks
// for, and as a time it is September 2001, before any server sent these
// fields. GitLab's RateLimit-Reset and GitHub's X-RateLimit-Reset are
// Unix times (1.8·10⁹ in 2027); a delay in seconds stays far below.
const epochSeconds = 1_000_000_000

// resetDelay parses a reset field's value at now: delay-seconds (digits
// only), or, from epochSeconds up, a Unix time in seconds, whose wait is
// the time left until it, 0 when it has passed. The delay is capped at
// maxDelay. ok is false for anything but digits.
func resetDelay(v string, now time.Time) (time.Duration, bool) {
	n, ok := digits(strings.TrimSpace(v))
	if !ok {
		return 0, false
	}
	if n < epochSeconds {
		return time.Duration(n) * time.Second, true
	}
	at := now.Unix()
	if n <= uint64(at) {
		return 0, true // the reset has passed: go now
	}
	if n-uint64(at) > uint64(maxDelay/time.Second) {
		return maxDelay, true
	}
	return time.Unix(int64(n), 0).Sub(now), true
}

// exhausted reports whether a Remaining field's values say the quota is
// spent: its value is 0, or, when absent counts, there is none.
func exhausted(remaining []string, absent bool) bool {
	if len(remaining) == 0 {
		return absent
	}
	n, ok := digits(strings.TrimSpace(remaining[0]))
	if !ok {
		return absent // unreadable: as if absent
	}
	return n == 0
}

// digits parses a non-negative decimal integer, saturating at
// math.MaxUint64 rather than overflowing. ok is false for an empty string
// or any other character.
func digits(v string) (uint64, bool) {
	if v == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		switch {
		case n > (math.MaxUint64-9)/10:
			n = math.MaxUint64
		default:
			n = n*10 + uint64(c-'0')
		}
	}
	return n, true
}

// ServerDelay is the longer of the Retry-After and RateLimit delays in h,
// and whether either was present.
func ServerDelay(h http.Header, now time.Time) (time.Duration, bool) {
	if len(h) <= smallHeader && !hasDelay(h) {
		return 0, false
	}
	d, ok := RetryAfter(first(h["Retry-After"]), now)
	if r, rok := RateLimitReset(h, now); rok && (!ok || r > d) {
		d, ok = r, true
	}
	return d, ok
}

// requestIDHeaders are checked in order; the first one present wins.
var requestIDHeaders = []string{
	"X-Request-Id", "Request-Id", "X-Correlation-Id", "X-Amzn-Requestid",
	"X-Amz-Request-Id", "X-Amzn-Trace-Id", "X-Cloud-Trace-Context",
	"X-Ms-Request-Id", "X-Github-Request-Id", "Cf-Ray", "X-Trace-Id", "Fly-Request-Id",
}

// maxRequestID bounds a request ID copied into an error message.
const maxRequestID = 128

// RequestID returns the request ID that the server or a proxy in front of it
// put in h, cleaned of control, format (bidi override, zero width) and other
// unprintable characters, bounded in length, or "".
func RequestID(h http.Header) string {
	if len(h) <= smallHeader {
		// One pass over a short header costs less than twelve lookups.
		best, id := len(requestIDHeaders), ""
		for k, vs := range h {
			if i := requestIDIndex(k); i >= 0 && i < best {
				if v := strings.TrimSpace(first(vs)); v != "" {
					best, id = i, v
				}
			}
		}
		if id == "" {
			return ""
		}
		return clean(id, maxRequestID)
	}
	for _, k := range requestIDHeaders {
		// Canonical keys, read directly, as in RateLimitReset.
		if v := strings.TrimSpace(first(h[k])); v != "" {
			return clean(v, maxRequestID)
		}
	}
	return ""
}

// smallHeader is the size up to which a header is scanned in one pass
// rather than looked up key by key.
const smallHeader = 12

// requestIDIndex is k's index in requestIDHeaders, or -1.
func requestIDIndex(k string) int {
	switch k {
	case "X-Request-Id":
		return 0
	case "Request-Id":
		return 1
	case "X-Correlation-Id":
		return 2
	case "X-Amzn-Requestid":
		return 3
	case "X-Amz-Request-Id":
		return 4
	case "X-Amzn-Trace-Id":
		return 5
	case "X-Cloud-Trace-Context":
		return 6
	case "X-Ms-Request-Id":
		return 7
	case "X-Github-Request-Id":
		return 8
	case "Cf-Ray":
		return 9
	case "X-Trace-Id":
		return 10
	case "Fly-Request-Id":
		return 11
	}
	return -1
}

// hasDelay reports whether h has a field ServerDelay reads.
func hasDelay(h http.Header) bool {
	for k := range h {
		switch k {
		case "Retry-After", "Ratelimit-Reset", "Ratelimit", "X-Ratelimit-Reset":
			return true
		}
	}
	return false
}

// clean keeps the printable runes of v (invalid UTF-8 dropped) up to about
// n bytes, trimmed.
func clean(v string, n int) string {
	if len(v) <= n && printableASCII(v) {
		return v // already clean: no copy
	}
	var b strings.Builder
	for _, r := range v {
		if b.Len() >= n {
			break
		}
		if r == utf8.RuneError || r != ' ' && !unicode.IsPrint(r) {
			continue
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// printableASCII reports whether v holds only printable ASCII, spaces
// included.
func printableASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}

// first returns the first of vs, or "".
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
