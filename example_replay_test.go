package resilient_test

// The example of WithReplayLimit: a body without GetBody, as SDKs send,
// retried from its copy, and one past the limit sent once.

import (
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

// A request body without GetBody (an io.Pipe, an SDK's wrapped reader) is
// copied as it is sent, up to the replay limit, and sent again from the
// copy; a longer one is sent once, and the error says why it was not
// retried.
func ExampleWithReplayLimit() {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "stored %d bytes", len(b))
	}))
	defer srv.Close()

	client := resilient.New(
		resilient.WithReplayLimit(1<<10), // 1 KiB; the default is 2 MiB
		resilient.WithRetry(resilient.Retry{MinWait: time.Millisecond}),
	)
	defer resilient.Close(client)

	put := func(body string) {
		// io.NopCloser hides the strings.Reader: the request has no GetBody.
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/blobs/1", io.NopCloser(strings.NewReader(body)))
		hits.Store(0)
		resp, err := client.Do(req)
		var se *resilient.StatusError
		if errors.As(err, &se) && errors.Is(se.Stop, resilient.ErrBodyNotReplayable) {
			fmt.Printf("%d bytes: %d after %d attempt; %v\n", len(body), se.StatusCode, se.Attempts, se.Stop)
			return
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d bytes: %s after %d attempts\n", len(body), b, hits.Load())
	}
	put(strings.Repeat("x", 1000))
	put(strings.Repeat("x", 2000))
	// Output:
	// 1000 bytes: stored 1000 bytes after 2 attempts
	// 2000 bytes: 503 after 1 attempt; resilient: request body too long to send again; set Request.GetBody or raise WithReplayLimit
}
