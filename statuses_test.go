package resilient

// Tests that the 5xx sent by proxies and CDNs (Cloudflare's 52x and 530,
// 529, 598 and 599) count against a host like 500-504, and that the 5xx
// which say the request itself is wrong do not.

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestAdmission_frontDoor5xxOpenTheBreaker_requestFaultsDoNot(t *testing.T) {
	cases := []struct {
		code      int
		wantOpens bool
	}{
		{520, true}, {521, true}, {522, true}, {523, true}, {524, true},
		{529, true}, {530, true}, {598, true}, {599, true}, {507, true},
		{501, false}, {505, false}, {506, false}, {508, false}, {510, false}, {511, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			srv := newServer(t, status(tc.code, "down"))
			c := newClient(t, WithRetry(Retry{Max: -1}),
				WithBreaker(Breaker{ConsecutiveFailures: 3, Cooldown: time.Minute, ProbeInterval: time.Minute}))
			var err error
			for range 10 {
				if _, err = c.Get(srv.URL); errors.Is(err, ErrCircuitOpen) {
					break
				}
			}
			hits := srv.hits.Load()
			switch {
			case tc.wantOpens && (!errors.Is(err, ErrCircuitOpen) || hits != 3):
				t.Errorf("server saw %d calls, last error %v; want the breaker open after 3", hits, err)
			case !tc.wantOpens && (errors.Is(err, ErrCircuitOpen) || hits != 10):
				t.Errorf("server saw %d of 10 calls, last error %v; a %d must not open the breaker", hits, err, tc.code)
			case !tc.wantOpens && StatusCode(err) != tc.code:
				t.Errorf("err = %v, want a *StatusError for %d", err, tc.code)
			}
		})
	}
}

func TestWithClassifier_overridesTheFrontDoor5xx(t *testing.T) {
	srv := newServer(t, status(522, "origin timed out"))
	permanent522 := func(_ *http.Request, resp *http.Response, err error) (Outcome, error) {
		if resp != nil && resp.StatusCode == 522 {
			return Permanent, nil
		}
		return Classify(resp, err), nil
	}
	c := newClient(t, WithRetry(fast), WithClassifier(permanent522),
		WithBreaker(Breaker{ConsecutiveFailures: 3, Cooldown: time.Minute}))
	for i := range 5 {
		if _, err := c.Get(srv.URL); StatusCode(err) != 522 {
			t.Fatalf("call %d: err = %v, want a *StatusError for 522, never a refusal", i, err)
		}
	}
	if got := srv.hits.Load(); got != 5 {
		t.Errorf("server saw %d attempts, want 5: one per call, none retried", got)
	}
}
