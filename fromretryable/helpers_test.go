package fromretryable_test

// Test helpers: an httptest server that counts what it saw, and handlers.

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server is an httptest server that counts what it saw and answers with
// handle.
type server struct {
	*httptest.Server
	hits   atomic.Int64
	dials  atomic.Int64 // connections the server accepted
	mu     sync.Mutex
	bodies []string // request bodies, in arrival order
	seen   []*http.Request
	times  []time.Time // when each request arrived
}

// newServer starts a server; handle gets the 1-based index of the request.
func newServer(t testing.TB, handle func(n int64, w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.seen = append(s.seen, r.Clone(context.Background()))
		s.times = append(s.times, time.Now())
		s.mu.Unlock()
		handle(s.hits.Add(1), w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.dials.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// reset forgets what the server saw, for the next client, and closes its
// connections.
func (s *server) reset() {
	s.CloseClientConnections()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits.Store(0)
	s.dials.Store(0)
	s.bodies, s.seen, s.times = nil, nil, nil
}

// status answers every request with code and body.
func status(code int, body string) func(int64, http.ResponseWriter, *http.Request) {
	return func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// failThen answers fails requests with code, then 200 "ok".
func failThen(fails int64, code int) func(int64, http.ResponseWriter, *http.Request) {
	return func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n <= fails {
			w.WriteHeader(code)
			io.WriteString(w, "failing")
			return
		}
		io.WriteString(w, "ok")
	}
}

// retryAfterThen answers the first request with code and Retry-After:
// after, then 200 "ok".
func retryAfterThen(code int, after string) func(int64, http.ResponseWriter, *http.Request) {
	return func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", after)
			w.WriteHeader(code)
			return
		}
		io.WriteString(w, "ok")
	}
}

// dropConn closes the connection without an answer.
func dropConn(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// recoverFrom returns what f panicked with, or nil.
func recoverFrom(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

func cmpOr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
