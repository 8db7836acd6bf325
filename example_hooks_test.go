package resilient_test

// Examples of the hooks that change what the client does around a retry:
// Retry.Backoff and Retry.MaxServerWait, a Classifier that ends a call
// with its own error, AttemptFromContext and WithPrepareRetry.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

// errQuota is a program's own error, which its Classifier ends a call with.
var errQuota = errors.New("orders: quota exceeded")

// An API that answers 200 with an error in its body: the Classifier ends
// the call with an error of the program's own, which errors.Is finds, and
// the *StatusError still holds the status and the body.
func ExampleWithClassifier_stop() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"error":"quota exceeded"}`)
	}))
	defer srv.Close()

	client := resilient.New(resilient.WithClassifier(func(req *http.Request, resp *http.Response, err error) (resilient.Outcome, error) {
		if err == nil && resp.StatusCode == http.StatusOK {
			b, _ := io.ReadAll(resp.Body) // bounded, and given back
			if bytes.Contains(b, []byte(`"error"`)) {
				return resilient.Permanent, errQuota
			}
		}
		return resilient.Classify(resp, err), nil
	}))
	defer resilient.Close(client)

	_, err := client.Get(srv.URL + "/orders")
	var se *resilient.StatusError
	if errors.Is(err, errQuota) && errors.As(err, &se) {
		fmt.Printf("quota: %d after %d attempt: %s\n", se.StatusCode, se.Attempts, se.Body)
	}
	// Output: quota: 200 after 1 attempt: {"error":"quota exceeded"}
}

// logAttempts is a base transport that logs which attempt of a call each
// request is.
type logAttempts struct{ next http.RoundTripper }

func (l logAttempts) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err == nil {
		fmt.Printf("%s %s, attempt %d: %s\n", req.Method, req.URL.Path, resilient.AttemptFromContext(req.Context()), resp.Status)
	}
	return resp, err
}

// A base transport sees which attempt of a call it sends, for its logs
// or metrics.
func ExampleAttemptFromContext() {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	client := &http.Client{Transport: resilient.NewTransport(logAttempts{http.DefaultTransport},
		resilient.WithRetry(resilient.Retry{MinWait: time.Millisecond}))}
	defer resilient.Close(client)

	resp, err := client.Get(srv.URL + "/orders/42")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	resp.Body.Close()
	// Output:
	// GET /orders/42, attempt 1: 503 Service Unavailable
	// GET /orders/42, attempt 2: 503 Service Unavailable
	// GET /orders/42, attempt 3: 200 OK
}

// A signature that covers the attempt must be made again for each retry:
// WithPrepareRetry's function does it on the retry's own copy of the
// request, and the caller's request keeps its header.
func ExampleWithPrepareRetry() {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("server: attempt %d, signature %q\n", hits.Add(1), r.Header.Get("X-Signature"))
		if hits.Load() <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	sign := func(r *http.Request) error {
		r.Header.Set("X-Signature", fmt.Sprintf("sig-%d", resilient.AttemptFromContext(r.Context())))
		return nil
	}
	client := resilient.New(
		resilient.WithRetry(resilient.Retry{MinWait: time.Millisecond}),
		resilient.WithPrepareRetry(sign),
	)
	defer resilient.Close(client)

	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/orders/42", strings.NewReader(`{"state":"paid"}`))
	req.Header.Set("X-Signature", "sig-1")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "; the caller's request still says", req.Header.Get("X-Signature"))
	// Output:
	// server: attempt 1, signature "sig-1"
	// server: attempt 2, signature "sig-2"
	// server: attempt 3, signature "sig-3"
	// 200 OK ; the caller's request still says sig-1
}
