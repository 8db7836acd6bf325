package resilient_test

// Examples of the hooks that change what the client does around a retry:
// Retry.Backoff and Retry.MaxServerWait.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient"
)

// A Backoff of your own: here a wait that grows by 2 ms per retry, for a
// service that asks its clients to back off linearly, with a little of the
// client's random draw as jitter. Backoff is a pure function: its
// randomness comes as an argument, so a test can check it alone.
func ExampleRetry_backoff() {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	linear := func(n int, resp *http.Response, r float64) time.Duration {
		return time.Duration(n+1)*2*time.Millisecond + time.Duration(r*float64(time.Millisecond))
	}
	client := resilient.New(resilient.WithRetry(resilient.Retry{Backoff: linear}))
	defer resilient.Close(client)

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "after", hits.Load(), "attempts")
	fmt.Println("third wait at least", linear(2, nil, 0), "and below", linear(2, nil, 1))
	// Output:
	// 200 OK after 4 attempts
	// third wait at least 6ms and below 7ms
}

// MaxWait bounds the jitter; MaxServerWait bounds what a server may ask
// for. With MaxWait alone at 50 ms, a 429 asking for one second would end
// the call at once; here the client waits the second the server asked
// for, and would stop at once for an ask above a minute.
func ExampleRetry_maxServerWait() {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	client := resilient.New(resilient.WithRetry(resilient.Retry{
		MinWait:       10 * time.Millisecond,
		MaxWait:       50 * time.Millisecond,
		MaxServerWait: time.Minute,
	}))
	defer resilient.Close(client)

	start := time.Now()
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "after", hits.Load(), "attempts; waited the second asked for:", time.Since(start) >= time.Second)
	// Output: 200 OK after 2 attempts; waited the second asked for: true
}
