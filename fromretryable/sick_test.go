package fromretryable_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/fromretryable"
	"github.com/resilient-http/resilient/internal/testpeers"
)

// TestNew_sickBackendBehindABalancer: go-retryablehttp gets past one sick
// backend of four behind an L4 balancer by emptying its pool after every
// failed call; the switch keeps that outcome by retiring only the failed
// connection, with go-retryablehttp's default transport (go-cleanhttp's
// *http.Transport), and dials far less.
func TestNew_sickBackendBehindABalancer(t *testing.T) {
	const calls = 100
	for _, tc := range []struct {
		name   string
		client func(rc *retryablehttp.Client) *http.Client
	}{
		{"go-retryablehttp", (*retryablehttp.Client).StandardClient},
		{"switch", func(rc *retryablehttp.Client) *http.Client { return fromretryable.New(rc) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var backends []string
			for i := range 4 {
				srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
					if i == 0 {
						w.WriteHeader(http.StatusServiceUnavailable)
						io.WriteString(w, "sick")
						return
					}
					io.WriteString(w, "ok")
				})
				backends = append(backends, srv.Listener.Addr().String())
			}
			lb, err := testpeers.NewBalancer(backends...) // the first connection goes to the sick one
			if err != nil {
				t.Fatal(err)
			}
			defer lb.Close()
			rc := quick()
			c := tc.client(rc)
			defer resilient.Close(c)
			defer rc.HTTPClient.CloseIdleConnections()
			ok := 0
			for range calls {
				resp, err := c.Get("http://" + lb.Addr() + "/")
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok++
				}
			}
			var conns int64
			for _, n := range lb.Conns() {
				conns += n
			}
			t.Logf("%s: %d of %d calls succeeded, %d connections", tc.name, ok, calls, conns)
			if ok < calls*99/100 {
				t.Errorf("%d of %d calls succeeded, want at least 99%%", ok, calls)
			}
		})
	}
}
