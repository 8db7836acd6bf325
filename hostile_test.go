package resilient

// Hostile servers: what a client meets when the server is broken, slow on
// purpose, or lying. Each case asserts a typed error with a useful message,
// or the right retry, and nothing that panics or leaks (TestMain's goleak
// checks the goroutines of every test here).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// hostileServer is a TCP server that speaks whatever handle writes: for
// responses that net/http's server would refuse to send.
type hostileServer struct {
	addr  string
	conns atomic.Int64

	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  map[net.Conn]struct{}
	close sync.Once
}

// newHostileServer serves each connection with handle in its own goroutine. At
// cleanup it closes the listener and every connection, and waits for the
// handlers to return.
func newHostileServer(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) *hostileServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &hostileServer{addr: ln.Addr().String(), ln: ln, open: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *hostileServer) URL() string { return "http://" + s.addr }

// Close stops the server and waits for its handlers.
func (s *hostileServer) Close() {
	s.close.Do(func() {
		s.ln.Close()
		s.mu.Lock()
		for c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// readRequest reads one request and its body, so that the client's write
// completes before the server misbehaves.
func readHostileRequest(br *bufio.Reader) bool {
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, req.Body)
	return true
}

// assertCleanLine checks what every error message promises: one line of
// printable, valid UTF-8, short enough to read in a log.
func assertCleanLine(t *testing.T, msg string, maxLen int) {
	t.Helper()
	if !utf8.ValidString(msg) {
		t.Errorf("error message is not valid UTF-8: %q", msg)
	}
	for _, r := range msg {
		if r != ' ' && !unicode.IsPrint(r) {
			t.Errorf("error message holds %U: %q", r, clip(msg, 300))
			break
		}
	}
	if len(msg) > maxLen {
		t.Errorf("error message is %d bytes, want at most %d: %q", len(msg), maxLen, clip(msg, 300))
	}
}

// short is err's message cut to a length that keeps a failure readable.
func shortErr(err error) string { return clip(fmt.Sprint(err), 300) }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// TestHostile_1GiBErrorBody_memoryStaysBounded: a server answers 503 with a
// 1 GiB body on every attempt. The client keeps 64 KiB of it, drops the
// connection instead of reading the rest, and its memory does not grow with
// the body.
func TestHostile_1GiBErrorBody_memoryStaysBounded(t *testing.T) {
	const size = 1 << 30
	var written atomic.Int64
	chunk := []byte(strings.Repeat("database on fire; ", 32<<10/18+1))[:32<<10]
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.WriteHeader(http.StatusServiceUnavailable)
		for n := 0; n < size; n += len(chunk) {
			m, err := w.Write(chunk)
			written.Add(int64(m))
			if err != nil {
				return
			}
		}
	})
	c := newClient(t, WithRetry(Retry{Max: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}),
		WithBreaker(Breaker{Disabled: true}))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := c.Get(srv.URL)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)

	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *StatusError", shortErr(err))
	}
	if se.StatusCode != 503 || se.Attempts != 4 || len(se.Body) != DefaultErrorBodyLimit || !se.Truncated {
		t.Errorf("StatusError = {%d, attempts %d, body %d bytes, truncated %v}; want {503, 4, %d, true}",
			se.StatusCode, se.Attempts, len(se.Body), se.Truncated, DefaultErrorBodyLimit)
	}
	assertCleanLine(t, err.Error(), 600)
	if !strings.Contains(err.Error(), "database on fire") {
		t.Errorf("Error() = %q, want the body's first words", clip(err.Error(), 300))
	}
	srv.Close() // waits for the handlers, so that written is final
	const bound = 16 << 20
	alloc := after.TotalAlloc - before.TotalAlloc
	inuse := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("1 GiB error body, 4 attempts: %s; allocated %.1f MiB, heap in use %+.1f MiB; server wrote %.1f MiB of %d GiB",
		elapsed.Round(time.Millisecond), float64(alloc)/(1<<20), float64(inuse)/(1<<20), float64(written.Load())/(1<<20), size>>30)
	if alloc > bound || inuse > bound {
		t.Errorf("allocated %d bytes, heap in use grew by %d; want both under %d", alloc, inuse, bound)
	}
	if w := written.Load(); w > 4*64<<20 {
		t.Errorf("the server wrote %d MiB: the client read far more than it keeps", w>>20)
	}
}

// TestHostile_errorBodyStopsMidwayAndHangs: a 503 promises 1000 bytes,
// sends 100 and hangs. The call ends at the caller's deadline with the
// status, the part of the body that came, and Truncated set.
func TestHostile_errorBodyStopsMidwayAndHangs(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "upstream timed out "+strings.Repeat(".", 81))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := newClient(t, WithRetry(Retry{Max: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}),
		WithBreaker(Breaker{Disabled: true}))
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil))
	start := time.Now()
	_, err := c.Do(req)
	elapsed := time.Since(start)
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *StatusError", shortErr(err))
	}
	// The bound tells the deadline from the 5 s body-read timeout, with
	// room for a loaded machine; it does not time the deadline.
	if elapsed > 3*time.Second {
		t.Errorf("returned after %s; the deadline was 700ms, so the body read ignored it", elapsed)
	}
	if se.StatusCode != 503 || len(se.Body) != 100 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("StatusError = {%d, body %d bytes, err %v}; want {503, the 100 bytes sent, deadline exceeded}", se.StatusCode, len(se.Body), se.Stop)
	}
	if !se.Truncated {
		t.Error("Truncated is false for a body cut at 100 of its 1000 bytes")
	}
	assertCleanLine(t, err.Error(), 600)
	if !strings.Contains(err.Error(), "upstream timed out") {
		t.Errorf("Error() = %q, want the body's first words", shortErr(err))
	}
}

// TestHostile_retryAfter: what the client does with each Retry-After a
// server may send. Unparseable values fall back to the client's own
// backoff; a value asking for longer than MaxWait stops the retries at once
// and is reported; nothing is shortened.
func TestHostile_retryAfter(t *testing.T) {
	cases := []struct {
		name       string
		value      string
		wantOK     bool          // the retry succeeds
		wantAfter  time.Duration // StatusError.RetryAfter when it does not
		afterSlack time.Duration
	}{
		{"negative", "-5", true, 0, 0},
		{"exponent", "1e12", true, 0, 0},
		{"date in the past", "Wed, 21 Oct 2015 07:28:00 GMT", true, 0, 0},
		{"garbage", "soon, please \u00e9\u00e9", true, 0, 0},
		{"100 KB of garbage", strings.Repeat("x", 100<<10), true, 0, 0},
		{"longer than MaxWait", "120", false, 2 * time.Minute, 0},
		{"date an hour ahead", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), false, time.Hour, 2 * time.Second},
		{"100 KB of digits", strings.Repeat("9", 100<<10), false, 100 * 365 * 24 * time.Hour, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", tc.value)
					w.WriteHeader(http.StatusServiceUnavailable)
					io.WriteString(w, "busy")
					return
				}
				io.WriteString(w, "ok")
			})
			c := newClient(t, WithRetry(Retry{Max: 3, MinWait: time.Millisecond, MaxWait: 50 * time.Millisecond}),
				WithBreaker(Breaker{Disabled: true}))
			start := time.Now()
			resp, err := c.Get(srv.URL)
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("took %s", el)
			}
			if tc.wantOK {
				if err != nil {
					t.Fatalf("err = %v, want a retry with the client's own backoff, then 200", shortErr(err))
				}
				readAll(t, resp)
				if srv.hits.Load() != 2 {
					t.Errorf("server saw %d attempts, want 2", srv.hits.Load())
				}
				return
			}
			var se *StatusError
			if !errors.As(err, &se) || !errors.Is(err, ErrRetryAfterTooLong) {
				t.Fatalf("err = %v, want *StatusError matching ErrRetryAfterTooLong", shortErr(err))
			}
			if d := se.RetryAfter - tc.wantAfter; se.Attempts != 1 || d < -tc.afterSlack || d > tc.afterSlack {
				t.Errorf("Attempts = %d, RetryAfter = %s; want 1, %s", se.Attempts, se.RetryAfter, tc.wantAfter)
			}
			assertCleanLine(t, err.Error(), 600)
			if !strings.Contains(err.Error(), "; retrying stopped because the server asked to wait "+roundDuration(se.RetryAfter)+", longer than the client's cap (Retry.MaxServerWait, or MaxWait)") {
				t.Errorf("Error() = %q, want it to say when to come back", shortErr(err))
			}
		})
	}
}

// TestHostile_hugeHeaders: a 503 with a 100 KB request ID and a 100 KB
// header of junk gives a short, clean message.
func TestHostile_hugeHeaders(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Request-Id", strings.Repeat("r", 100<<10))
		w.Header().Set("X-Junk", strings.Repeat("j", 100<<10))
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c := newClient(t, WithRetry(Retry{Max: -1}))
	_, err := c.Get(srv.URL)
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *StatusError", shortErr(err))
	}
	if len(se.RequestID) > 128 {
		t.Errorf("RequestID is %d bytes", len(se.RequestID))
	}
	assertCleanLine(t, err.Error(), 600)
}

// TestHostile_malformedProblemJSON: bodies that claim to be RFC 9457
// problem details and are not. The error keeps the raw body and quotes it,
// cleaned; a member of the wrong type is left empty.
func TestHostile_malformedProblemJSON(t *testing.T) {
	deep := strings.Repeat(`{"a":[`, 5000) + strings.Repeat(`]}`, 5000)
	cases := []struct {
		name, contentType, body string
		wantProblem             bool
		wantInMsg               string
	}{
		{"malformed media type, invalid JSON", "application/problem+json; charset", `{"title": "broken`, false, `{"title": "broken`},
		{"malformed parameters", "application/problem+json;;;==", `{"title":"ok"}`, false, `{"title":"ok"}`},
		{"valid type, not JSON", "application/problem+json", "<html>Bad Gateway</html>", false, "<html>Bad Gateway</html>"},
		{"valid type, JSON null", "application/problem+json", "null", false, "null"},
		{"valid type, JSON array", "application/problem+json", `["title"]`, false, `["title"]`},
		{"members of the wrong type", "application/problem+json", `{"title":"Out of stock","detail":42,"status":"503"}`, true, "Out of stock"},
		{"control characters in the title", "application/problem+json", `{"title":"line1\nline2\u001b[2J\u202eevil"}`, true, "line1 line2 [2J evil"},
		{"upper-case media type", "APPLICATION/PROBLEM+JSON; CHARSET=UTF-8", `{"detail":"pool exhausted"}`, true, "pool exhausted"},
		{"deeply nested", "application/problem+json", deep, true, `{"a":[{"a":[`},
		{"cut by the body limit", "application/problem+json", `{"title":"` + strings.Repeat("long ", 20<<10) + `"}`, false, `{"title":"long long`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(http.StatusBadGateway)
				io.WriteString(w, tc.body)
			})
			c := newClient(t, WithRetry(Retry{Max: -1}))
			_, err := c.Get(srv.URL)
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *StatusError", shortErr(err))
			}
			if (se.Problem != nil) != tc.wantProblem {
				t.Errorf("Problem is nil: %v, want %v", se.Problem == nil, !tc.wantProblem)
			}
			n := min(len(tc.body), DefaultErrorBodyLimit)
			if string(se.Body) != tc.body[:n] {
				t.Errorf("Body = %q, want the raw body", clip(string(se.Body), 100))
			}
			assertCleanLine(t, err.Error(), 600)
			if !strings.Contains(err.Error(), tc.wantInMsg) {
				t.Errorf("Error() = %q, want it to quote %q", clip(err.Error(), 300), tc.wantInMsg)
			}
		})
	}
}

// TestHostile_closesBeforeAnyByte: the server closes the connection
// without a byte of response, after reading the request or at once. GET,
// PUT and a POST with an Idempotency-Key are retried; a POST without one
// may have reached the server and is not sent again.
func TestHostile_closesBeforeAnyByte(t *testing.T) {
	cases := []struct {
		method       string
		key          bool
		wantAttempts int
	}{
		{http.MethodGet, false, 4},
		{http.MethodPut, false, 4},
		{http.MethodPost, false, 1},
		{http.MethodPost, true, 4},
	}
	for _, read := range []bool{true, false} {
		for _, tc := range cases {
			name := tc.method
			if tc.key {
				name += " with Idempotency-Key"
			}
			if read {
				name = "after the request/" + name
			} else {
				name = "at once/" + name
			}
			t.Run(name, func(t *testing.T) {
				var requests atomic.Int64
				srv := newHostileServer(t, func(c net.Conn, br *bufio.Reader) {
					if read && readHostileRequest(br) {
						requests.Add(1)
					}
				})
				c := newClient(t, WithRetry(Retry{Max: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}),
					WithBreaker(Breaker{Disabled: true}))
				req := must[*http.Request](t)(http.NewRequest(tc.method, srv.URL()+"/orders", strings.NewReader(`{"qty":1}`)))
				if tc.key {
					req.Header.Set("Idempotency-Key", "k-42")
				}
				_, err := c.Do(req)
				var te *TransportError
				if !errors.As(err, &te) {
					t.Fatalf("err = %v, want *TransportError", shortErr(err))
				}
				if !read && te.Attempts > 1 && te.Attempts <= 4 && tc.wantAttempts == 1 {
					// A race: when the client reads the server's FIN
					// before it writes the POST, net/http says "server
					// closed idle connection", which proves the POST
					// unsent (neversent.go), and it is sent again.
					tc.wantAttempts = te.Attempts
				}
				if te.Attempts != tc.wantAttempts || srv.conns.Load() != int64(tc.wantAttempts) {
					t.Errorf("Attempts = %d, server saw %d connections; want %d", te.Attempts, srv.conns.Load(), tc.wantAttempts)
				}
				if read && requests.Load() != int64(tc.wantAttempts) {
					t.Errorf("server read %d requests; want %d", requests.Load(), tc.wantAttempts)
				}
				if !IsRetryable(err) || read && !errors.Is(err, io.EOF) {
					t.Errorf("err = %v, want it retryable (and io.EOF when the request was read)", shortErr(err))
				}
				assertCleanLine(t, err.Error(), 600)
				if want := fmt.Sprintf("after %d attempt", tc.wantAttempts); !strings.Contains(err.Error(), want) {
					t.Errorf("Error() = %q, want %q", shortErr(err), want)
				}
			})
		}
	}
}

// TestHostile_notHTTP: the server answers a request with something else
// (an SSH banner); the client reports a malformed response, retried for GET.
func TestHostile_notHTTP(t *testing.T) {
	srv := newHostileServer(t, func(c net.Conn, br *bufio.Reader) {
		readHostileRequest(br)
		io.WriteString(c, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
	})
	c := newClient(t, WithRetry(Retry{Max: 1, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}),
		WithBreaker(Breaker{Disabled: true}))
	_, err := c.Get(srv.URL())
	var te *TransportError
	if !errors.As(err, &te) || te.Attempts != 2 {
		t.Fatalf("err = %v, want *TransportError after 2 attempts", shortErr(err))
	}
	assertCleanLine(t, err.Error(), 600)
	if !strings.Contains(err.Error(), "malformed HTTP") {
		t.Errorf("Error() = %q, want it to say the response was malformed", shortErr(err))
	}
}

// TestHostile_statusLine: net/http passes the reason phrase of the status
// line through as sent, escape sequences, carriage returns, NUL bytes,
// invalid UTF-8 and 100 KB included. The error message must still be one
// short, clean line.
func TestHostile_statusLine(t *testing.T) {
	reason := "\x1b[2J\x1b[31mPWNED\x1b[0m\rfake: ok\x00\xff " + strings.Repeat("A", 100<<10)
	srv := newHostileServer(t, func(c net.Conn, br *bufio.Reader) {
		for readHostileRequest(br) {
			fmt.Fprintf(c, "HTTP/1.1 503 %s\r\nContent-Length: 4\r\n\r\nbusy", reason)
		}
	})
	c := newClient(t, WithRetry(Retry{Max: -1}))
	_, err := c.Get(srv.URL())
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 {
		t.Fatalf("err = %v, want *StatusError 503", clip(fmt.Sprint(err), 200))
	}
	assertCleanLine(t, err.Error(), 600)
}

// TestHostile_errorBodyLimitAtMaxInt64: a caller who wants the whole error
// body sets the largest limit. Reading a failed response must not overflow
// (internal/body computed limit+1 and panicked with a negative slice bound).
func TestHostile_errorBodyLimitAtMaxInt64(t *testing.T) {
	srv := newServer(t, status(http.StatusServiceUnavailable, "overloaded"))
	c := newClient(t, WithRetry(Retry{Max: 1, MinWait: time.Millisecond, MaxWait: time.Millisecond}),
		WithErrorBodyLimit(math.MaxInt64))
	_, err := c.Get(srv.URL)
	var se *StatusError
	if !errors.As(err, &se) || string(se.Body) != "overloaded" || se.Truncated || se.Attempts != 2 {
		t.Fatalf("err = %v, want a *StatusError after 2 attempts with the whole body", shortErr(err))
	}
}
