package headers

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestRetryAfter(t *testing.T) {
	cases := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"5", 5 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"007", 7 * time.Second, true},
		{"-5", 0, false},
		{"+5", 0, false},
		{"1e12", 0, false},
		{"1.5", 0, false},
		{"5 seconds", 0, false},
		{"soon, please", 0, false},
		{"0x10", 0, false},
		{"１２", 0, false}, // full-width digits are not DIGIT
		// The past: retry now.
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0, true},
		// The three HTTP-date forms.
		{"Sun, 01 Jun 2025 12:00:30 GMT", 30 * time.Second, true},
		{"Sunday, 01-Jun-25 12:01:00 GMT", time.Minute, true},
		{"Sun Jun  1 12:02:00 2025", 2 * time.Minute, true},
		{"Sun, 01 Jun 2025 12:00:30 PST", 0, false},
		// Huge values are capped, never overflow, never shorten.
		{"99999999999", maxDelay, true},
		{strings.Repeat("9", 40), maxDelay, true},
		{strings.Repeat("9", 100<<10), maxDelay, true},
		{"Fri, 31 Dec 9999 23:59:59 GMT", maxDelay, true},
		// A delay with leading zeros is still a delay (RFC 9110: 1*DIGIT).
		{strings.Repeat("0", 40) + "3", 3 * time.Second, true},
	}
	for _, tc := range cases {
		d, ok := RetryAfter(tc.in, now)
		if d != tc.want || ok != tc.wantOK {
			name := tc.in
			if len(name) > 50 {
				name = name[:50] + "..."
			}
			t.Errorf("RetryAfter(%q) = %s, %v; want %s, %v", name, d, ok, tc.want, tc.wantOK)
		}
	}
}

func TestRateLimitReset(t *testing.T) {
	epoch := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	cases := []struct {
		name   string
		h      http.Header
		want   time.Duration
		wantOK bool
	}{
		{"none", http.Header{}, 0, false},
		{"reset seconds", http.Header{"Ratelimit-Reset": {"30"}}, 30 * time.Second, true},
		{"reset garbage", http.Header{"Ratelimit-Reset": {"soon"}}, 0, false},
		{"reset negative", http.Header{"Ratelimit-Reset": {"-1"}}, 0, false},
		{"structured, exhausted", http.Header{"Ratelimit": {`"default";r=0;t=10`}}, 10 * time.Second, true},
		{"structured, quota left", http.Header{"Ratelimit": {`"default";r=5;t=10`}}, 0, false},
		{"structured, two policies", http.Header{"Ratelimit": {`"burst";r=0;t=2, "daily";r=0;t=3600`}}, time.Hour, true},
		{"structured, no t", http.Header{"Ratelimit": {`"default";r=0`}}, 0, false},
		{"structured, negative t", http.Header{"Ratelimit": {`"default";r=0;t=-5`}}, 0, false},
		{"structured, huge t", http.Header{"Ratelimit": {`"default";r=0;t=99999999999999999999`}}, 0, false},
		{"structured, t too large for a Duration", http.Header{"Ratelimit": {`"default";r=0;t=9223372036854775807`}}, maxDelay, true},
		{"structured, garbage", http.Header{"Ratelimit": {`;;;,,,==;r=;t=`}}, 0, false},

		// A Unix time, as GitLab sends RateLimit-Reset on a 429: the
		// wait until it, not 1.7 billion seconds.
		{"reset Unix time, GitLab", http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {epoch(42 * time.Second)}}, 42 * time.Second, true},
		{"reset Unix time passed", http.Header{"Ratelimit-Reset": {epoch(-time.Minute)}}, 0, true},
		{"reset Unix time now", http.Header{"Ratelimit-Reset": {epoch(0)}}, 0, true},
		{"reset at the bound: a time", http.Header{"Ratelimit-Reset": {"1000000000"}}, 0, true},
		{"reset below the bound: seconds", http.Header{"Ratelimit-Reset": {"999999999"}}, 999999999 * time.Second, true},
		{"reset past any Duration", http.Header{"Ratelimit-Reset": {"99999999999999999999999"}}, maxDelay, true},
		{"reset, quota left: no ask", http.Header{"Ratelimit-Remaining": {"12"}, "Ratelimit-Reset": {epoch(42 * time.Second)}}, 0, false},
		{"reset, remaining garbage: as if absent", http.Header{"Ratelimit-Remaining": {"lots"}, "Ratelimit-Reset": {"30"}}, 30 * time.Second, true},

		// X-RateLimit-Reset, as GitHub sends it on every response: only an
		// exhausted quota asks for a wait.
		{"x-reset Unix time, exhausted", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {epoch(90 * time.Second)}}, 90 * time.Second, true},
		{"x-reset seconds, exhausted", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"7"}}, 7 * time.Second, true},
		{"x-reset, quota left", http.Header{"X-Ratelimit-Remaining": {"4999"}, "X-Ratelimit-Reset": {epoch(time.Hour)}}, 0, false},
		{"x-reset, no remaining", http.Header{"X-Ratelimit-Reset": {epoch(time.Hour)}}, 0, false},
		{"x-reset garbage", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"soon"}}, 0, false},
	}
	for _, tc := range cases {
		d, ok := RateLimitReset(tc.h, now)
		if d != tc.want || ok != tc.wantOK {
			t.Errorf("%s: RateLimitReset = %s, %v; want %s, %v", tc.name, d, ok, tc.want, tc.wantOK)
		}
	}
}

// TestRateLimitReset_unixTimeAtAnyNow: a reset given as a Unix time reads
// as the time left until it, whatever the clock says, sub-second part
// included; the 499078h came from reading one as seconds.
func TestRateLimitReset_unixTimeAtAnyNow(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC),
		time.Date(2026, 12, 7, 9, 30, 0, 999_999_999, time.UTC),
		time.Date(2038, 1, 19, 3, 14, 0, 0, time.UTC),
	} {
		reset := at.Truncate(time.Second).Add(30 * time.Second)
		h := http.Header{"Ratelimit-Reset": {strconv.FormatInt(reset.Unix(), 10)}}
		d, ok := ServerDelay(h, at)
		if want := reset.Sub(at); !ok || d != want {
			t.Errorf("at %s: ServerDelay = %s, %v; want %s", at, d, ok, want)
		}
	}
}

func TestServerDelay_takesTheLonger(t *testing.T) {
	h := http.Header{"Retry-After": {"5"}, "Ratelimit-Reset": {"60"}}
	if d, ok := ServerDelay(h, now); d != time.Minute || !ok {
		t.Errorf("ServerDelay = %s, %v; want 1m, true", d, ok)
	}
	h = http.Header{"Retry-After": {"garbage"}}
	if d, ok := ServerDelay(h, now); d != 0 || ok {
		t.Errorf("ServerDelay = %s, %v; want 0, false", d, ok)
	}
}

func TestRequestID(t *testing.T) {
	cases := []struct {
		name string
		h    http.Header
		want string
	}{
		{"none", http.Header{}, ""},
		{"x-request-id", http.Header{"X-Request-Id": {"7f3a9c"}}, "7f3a9c"},
		{"first wins", http.Header{"Cf-Ray": {"ray"}, "X-Request-Id": {"req"}}, "req"},
		{"blank skipped", http.Header{"X-Request-Id": {"  "}, "Cf-Ray": {"ray"}}, "ray"},
		{"controls dropped", http.Header{"X-Request-Id": {"a\x1b[31mb\x00c\x7f"}}, "a[31mbc"},
		{"C1 controls and bidi overrides dropped", http.Header{"X-Request-Id": {"a\u0085b\u202ec\u200bd"}}, "abcd"},
		{"invalid UTF-8 dropped", http.Header{"X-Request-Id": {"a\xffb"}}, "ab"},
		{"bounded", http.Header{"X-Request-Id": {strings.Repeat("x", 100<<10)}}, strings.Repeat("x", maxRequestID)},
	}
	for _, tc := range cases {
		if got := RequestID(tc.h); got != tc.want {
			t.Errorf("%s: RequestID = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// FuzzRetryAfter checks the properties a retry decision relies on, for any
// Retry-After value a server can send: never negative, never above the cap;
// ok only for delay-seconds or an HTTP-date; delay-seconds read exactly.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-5", "1e12", "Wed, 21 Oct 2015 07:28:00 GMT",
		"Sunday, 01-Jun-25 12:01:00 GMT", "Sun Jun  1 12:02:00 2025", "garbage", "99999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := RetryAfter(v, now)
		if d < 0 || d > maxDelay {
			t.Fatalf("RetryAfter(%q) = %s: outside [0, %s]", v, d, maxDelay)
		}
		if !ok && d != 0 {
			t.Fatalf("RetryAfter(%q) = %s, false: a delay without ok", v, d)
		}
		s := strings.TrimSpace(v)
		digits := s != "" && strings.Trim(s, "0123456789") == ""
		_, dateErr := http.ParseTime(s)
		if ok != (digits || dateErr == nil) {
			t.Fatalf("RetryAfter(%q) ok = %v; digits-only %v, HTTP-date %v", v, ok, digits, dateErr == nil)
		}
		if digits {
			want := maxDelay
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n <= int64(maxDelay/time.Second) {
				want = time.Duration(n) * time.Second
			}
			if d != want {
				t.Fatalf("RetryAfter(%q) = %s, want %s", v, d, want)
			}
		}
	})
}

// FuzzRateLimitReset checks both RateLimit forms and ServerDelay for any
// pair of values: never negative, never above the cap, ok only when a field
// is present, and ServerDelay never shorter than either source.
func FuzzRateLimitReset(f *testing.F) {
	f.Add("30", "")
	f.Add("", `"default";r=0;t=10`)
	f.Add("", `"burst";r=0;t=2, "daily";r=0;t=3600`)
	f.Add("-1", `"x";r=5;t=1`)
	f.Add("", `;;;,,,==;r=;t=`)
	f.Add("5", `"default";r=0;t=9223372036854775807`)
	f.Add("1748779242", "")
	f.Add("999999999", "")
	f.Add("18446744073709551616", "")
	f.Fuzz(func(t *testing.T, reset, structured string) {
		h := http.Header{}
		if reset != "" {
			h["Ratelimit-Reset"] = []string{reset}
		}
		if structured != "" {
			h["Ratelimit"] = []string{structured}
		}
		d, ok := RateLimitReset(h, now)
		if d < 0 || d > maxDelay || !ok && d != 0 {
			t.Fatalf("RateLimitReset(%q, %q) = %s, %v", reset, structured, d, ok)
		}
		if ok && reset == "" && structured == "" {
			t.Fatal("RateLimitReset found a delay in an empty header")
		}
		digitsOnly := strings.TrimSpace(reset) != "" && strings.Trim(strings.TrimSpace(reset), "0123456789") == ""
		if ok && structured == "" && !digitsOnly {
			t.Fatalf("RateLimitReset(%q, %q) = %s: RateLimit-Reset is not delay-seconds", reset, structured, d)
		}
		// The same value as GitHub's X-RateLimit-Reset, quota spent: read as
		// RateLimit-Reset is; with quota left, no wait.
		x := http.Header{"X-Ratelimit-Reset": {reset}, "X-Ratelimit-Remaining": {"0"}}
		xd, xok := RateLimitReset(x, now)
		rd, rok := resetDelay(reset, now)
		if xok != digitsOnly || xok != rok || xd != rd {
			t.Fatalf("X-RateLimit-Reset %q = %s, %v; resetDelay %s, %v", reset, xd, xok, rd, rok)
		}
		if digitsOnly {
			n, _ := strconv.ParseUint(strings.TrimSpace(reset), 10, 64)
			switch {
			case n != 0 && n < epochSeconds && rd != min(time.Duration(n)*time.Second, maxDelay):
				t.Fatalf("resetDelay(%q) = %s: delay-seconds misread", reset, rd)
			case n >= epochSeconds && rd > maxDelay:
				t.Fatalf("resetDelay(%q) = %s: above the cap", reset, rd)
			case n >= epochSeconds && n <= uint64(now.Unix()) && rd != 0:
				t.Fatalf("resetDelay(%q) = %s: a Unix time in the past asks for a wait", reset, rd)
			}
		}
		x["X-Ratelimit-Remaining"] = []string{"1"}
		if xd, xok := RateLimitReset(x, now); xok || xd != 0 {
			t.Fatalf("X-RateLimit-Reset %q with quota left = %s, %v; want no wait", reset, xd, xok)
		}
		h["Retry-After"] = []string{reset}
		sd, sok := ServerDelay(h, now)
		ra, raok := RetryAfter(reset, now)
		if sok != (ok || raok) || sok && (sd < d || sd < ra) {
			t.Fatalf("ServerDelay = %s, %v; RateLimitReset %s, %v; RetryAfter %s, %v", sd, sok, d, ok, ra, raok)
		}
	})
}

// FuzzRequestID checks that a request ID copied into an error message is
// printable, valid UTF-8 and bounded, whatever the server put in the header.
func FuzzRequestID(f *testing.F) {
	f.Add("7f3a9c")
	f.Add("a\x1b[31mb\x00c\x7f")
	f.Add("a\u0085b\u202ec\u200bd\xff")
	f.Add(strings.Repeat("é", 200))
	f.Fuzz(func(t *testing.T, v string) {
		id := RequestID(http.Header{"X-Request-Id": {v}})
		if !utf8.ValidString(id) || len(id) > maxRequestID+utf8.UTFMax {
			t.Fatalf("RequestID(%q) = %q: invalid or too long", v, id)
		}
		for _, r := range id {
			if !unicode.IsPrint(r) && r != ' ' || r == utf8.RuneError {
				t.Fatalf("RequestID(%q) = %q: holds %U", v, id, r)
			}
		}
		if strings.TrimSpace(id) != id {
			t.Fatalf("RequestID(%q) = %q: not trimmed", v, id)
		}
	})
}

// The one-pass scans must know the same names, in the same order, as the
// lists the lookups use.
func TestRequestID_onePassMatchesTheList(t *testing.T) {
	for i, k := range requestIDHeaders {
		if got := requestIDIndex(k); got != i {
			t.Errorf("requestIDIndex(%q) = %d, want %d", k, got, i)
		}
	}
	h := http.Header{"Cf-Ray": {"ray"}, "X-Request-Id": {" "}, "Request-Id": {"rid"}, "Content-Type": {"text/plain"}}
	if got := RequestID(h); got != "rid" {
		t.Errorf("RequestID = %q, want the first non-empty in list order, \"rid\"", got)
	}
	for _, k := range []string{"Retry-After", "Ratelimit-Reset", "Ratelimit", "X-Ratelimit-Reset"} {
		if !hasDelay(http.Header{k: {"1"}}) {
			t.Errorf("hasDelay misses %s", k)
		}
	}
}
