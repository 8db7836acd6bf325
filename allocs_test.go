package resilient

import (
	"io"
	"net/http"
	"testing"
)

// Allocations per request over bare net/http, at most: the bounds of
// issue 22, which bench/RESULTS.md measures. Allocation counts are exact,
// unlike time, so a rise fails CI. scripts/test.sh runs this without the
// race detector, which changes what allocates.
const (
	// NewTransport over a transport of the caller's: the call,
	// gobreaker's done callback, and the attempt timeout's context (the
	// context, its cancel function, its timer, and the request carrying
	// it): 6.
	maxAllocsOverBare = 6
	// As New's own transport, whose ResponseHeaderTimeout bounds
	// attempts: the call and gobreaker's done callback, 2.
	maxAllocsOverBareOwnTimeout = 4
	// A final 500, retries and breaker off, over the caller's transport:
	// the call, the attempt timeout's 4, the error body's read (its
	// buffer, and the timer that bounds it: 3), the *StatusError and its
	// redacted URL, and net/http's *url.Error around it (four allocations
	// bare net/http makes for any error): 16.
	maxAllocsOverBare500 = 16
)

func TestAllocs_perRequestOverBare(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts; scripts/test.sh runs this without it")
	}
	if testing.Short() {
		t.Skip("short")
	}
	for _, tc := range []struct {
		name string
		code int
		opts []Option
		max  float64
	}{
		{"GET 200, NewTransport over the caller's transport", 200, nil, maxAllocsOverBare},
		{"GET 200, attempt timeout enforced by the base, as New's", 200,
			[]Option{WithRetry(Retry{AttemptTimeout: -1})}, maxAllocsOverBareOwnTimeout},
		{"GET 500, retries off", 500,
			[]Option{WithRetry(Retry{Max: -1}), WithBreaker(Breaker{Disabled: true})}, maxAllocsOverBare500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bare := allocsPerGET(t, &http.Client{Transport: &memTransport{code: tc.code}}, tc.code)
			rt := NewTransport(&memTransport{code: tc.code}, tc.opts...)
			defer rt.Close()
			res := allocsPerGET(t, &http.Client{Transport: rt}, tc.code)
			t.Logf("bare %.0f, resilient %.0f allocations per request", bare, res)
			if res-bare > tc.max {
				t.Errorf("resilient allocates %.0f more than bare net/http per request (%.0f vs %.0f), want at most %.0f more",
					res-bare, res, bare, tc.max)
			}
		})
	}
}

// allocsPerGET returns the allocations of one GET through c, its body read
// and closed, averaged over many.
func allocsPerGET(t *testing.T, c *http.Client, code int) float64 {
	t.Helper()
	req := must[*http.Request](t)(http.NewRequest(http.MethodGet, "http://api.test/orders/42", nil))
	get := func() {
		resp, err := c.Do(req)
		if code >= 500 {
			if StatusCode(err) != code && (err != nil || resp.StatusCode != code) {
				t.Fatalf("got %v, want %d", err, code)
			}
			if resp != nil {
				resp.Body.Close()
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get() // warm up: the host's state
	return testing.AllocsPerRun(200, get)
}
