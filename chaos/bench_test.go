package chaos_test

// Benchmarks of what the injector adds to a request it leaves alone, on an
// in-memory RoundTripper (okTransport) so that the network does not hide it.

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/resilient-http/resilient/chaos"
)

func benchRT(b *testing.B, rt http.RoundTripper) {
	req, _ := http.NewRequest(http.MethodGet, "http://mem.test/", nil)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
	}
}

// BenchmarkTransport: bare, through a disabled injector, through an
// enabled one whose rule matches nothing, and one whose rule draws and
// misses.
func BenchmarkTransport(b *testing.B) {
	never := func(*http.Request) bool { return false }
	apiOnly := func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api") }
	fault := chaos.Fault{Status: 503}
	for _, tc := range []struct {
		name string
		cfg  *chaos.Config
	}{
		{"bare", nil},
		{"disabled", &chaos.Config{Disabled: true, Rules: []chaos.Rule{{Rate: 1, Fault: fault}}}},
		{"noMatch", &chaos.Config{Rules: []chaos.Rule{{Rate: 1, Match: never, Fault: fault}, {Rate: 1, Match: apiOnly, Fault: fault}}}},
		{"drawMiss", &chaos.Config{Rules: []chaos.Rule{{Rate: 1e-9, Fault: fault}}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var rt http.RoundTripper = okTransport{}
			if tc.cfg != nil {
				in, err := chaos.New(*tc.cfg)
				if err != nil {
					b.Fatal(err)
				}
				rt = in.Transport(rt)
			}
			benchRT(b, rt)
		})
	}
}
