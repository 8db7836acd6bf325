package fromretryable_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/fromretryable"
)

// A go-retryablehttp client, configured as a program already has it,
// becomes a resilient *http.Client in one line: its RetryMax, waits and
// CheckRetry (here: also retry a 409) are kept, and a final failure comes
// back as a *StatusError.
func ExampleNew() {
	var orders atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/orders/42":
			if orders.Add(1) == 1 {
				w.WriteHeader(http.StatusConflict) // a write in progress
				return
			}
			fmt.Fprint(w, "order 42: shipped")
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	rc := retryablehttp.NewClient()
	rc.Logger = nil
	rc.RetryMax = 2
	rc.RetryWaitMin, rc.RetryWaitMax = time.Millisecond, 10*time.Millisecond
	rc.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if resp != nil && resp.StatusCode == http.StatusConflict {
			return true, nil
		}
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}

	client := fromretryable.New(rc) // was: client := rc.StandardClient()
	defer resilient.Close(client)

	resp, err := client.Get(srv.URL + "/orders/42")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("%s after %d attempts\n", body, orders.Load())

	_, err = client.Get(srv.URL + "/inventory")
	var se *resilient.StatusError
	if errors.As(err, &se) {
		fmt.Printf("inventory: %d after %d attempts\n", se.StatusCode, se.Attempts)
	}
	// Output:
	// order 42: shipped after 2 attempts
	// inventory: 503 after 3 attempts
}
