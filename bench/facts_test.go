package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/goleak"
)

// facts collects what TestPeers_* measured; TestMain writes them to the
// file named by RESILIENT_BENCH_FACTS, for bench/run.sh.
var facts FactSet

func TestMain(m *testing.M) {
	code := m.Run()
	if path := os.Getenv("RESILIENT_BENCH_FACTS"); path != "" && code == 0 {
		if err := WriteJSON(path, facts.All()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// failing answers every request with 500 and the body "attempt N", N
// counting the requests it has seen, except requests for /ok.
type failing struct{ n atomic.Int64 }

func (f *failing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	if r.URL.Path == PathOK {
		io.WriteString(w, bodyOK)
		return
	}
	n := f.n.Add(1)
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, "attempt %d", n)
}

// eachPeer runs fn for every peer, built with FastRetry (3 retries, ms
// waits, breakers that never open) on a fresh LoopbackTransport, against a
// fresh failing server.
func eachPeer(t *testing.T, fn func(t *testing.T, p Peer, c Client, base *http.Transport, srv *Server, h *failing)) {
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	for _, p := range Peers() {
		t.Run(p.Name, func(t *testing.T) {
			h := &failing{}
			srv := NewServer(h)
			defer func() {
				srv.CloseClientConnections()
				srv.Close()
			}()
			base := LoopbackTransport()
			defer base.CloseIdleConnections()
			c := p.New(Config{Base: base, Profile: FastRetry, TracerProvider: tp})
			fn(t, p, c, base, srv, h)
		})
	}
}

// ours lists the peers whose facts are asserted, not only recorded.
func ours(p Peer) bool { return strings.HasPrefix(p.Name, "resilient") }

// noRetries lists the peers that have no retries to configure.
func noRetries(p Peer) bool { return p.Name == "bare" || p.Name == "otelhttp" }

func plural(n int64, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func retriedFact(t *testing.T, check string, method string, body []byte) {
	eachPeer(t, func(t *testing.T, p Peer, c Client, _ *http.Transport, srv *Server, h *failing) {
		c.Do(context.Background(), &Call{Method: method, URL: srv.URL + "/orders", Body: body})
		n := h.n.Load()
		f := Fact{Check: check, Peer: p.Name}
		switch {
		case noRetries(p):
			f.Value = "no retries (" + plural(n, "request") + ")"
		case n > 1:
			f.Value = "yes, " + plural(n, "request")
		default:
			f.Value = "no, " + plural(n, "request")
		}
		f.Bad = method == http.MethodPost && n > 1
		facts.Add(f)
		t.Log(f.Value)
		if !ours(p) {
			return
		}
		want := int64(4)
		if method == http.MethodPost {
			want = 1
		}
		if n != want {
			t.Errorf("%s on 500: server saw %d requests, want %d", method, n, want)
		}
	})
}

// TestPeers_GETRetriedOn500 records how many requests one GET makes
// against a server that always answers 500, with 3 retries configured: it
// shows that the retries of the other checks are really on.
func TestPeers_GETRetriedOn500(t *testing.T) {
	retriedFact(t, CheckGETRetried, http.MethodGet, nil)
}

// TestPeers_POSTRetriedOn500 records whether a POST without an
// Idempotency-Key is sent again after a 500: it may have been processed, so
// retrying it may charge a customer twice.
func TestPeers_POSTRetriedOn500(t *testing.T) {
	retriedFact(t, CheckPOSTRetried, http.MethodPost, []byte(`{"amount":100}`))
}

// TestPeers_LastBodyKept records whether the caller can read the body of
// the last 500 after the retries are spent: the server's own account of
// what went wrong.
func TestPeers_LastBodyKept(t *testing.T) {
	eachPeer(t, func(t *testing.T, p Peer, c Client, _ *http.Transport, srv *Server, h *failing) {
		o := c.Do(context.Background(), &Call{Method: http.MethodGet, URL: srv.URL + "/orders/42", KeepBody: true})
		want := fmt.Sprintf("attempt %d", h.n.Load())
		f := Fact{Check: CheckLastBody, Peer: p.Name}
		switch {
		case string(o.Body) == want:
			f.Value = fmt.Sprintf("yes, in %s", o.BodyFrom)
		case o.BodyFrom == "":
			f.Value, f.Bad = "no, "+errorKind(o.Err), true
		case o.BodyErr != nil:
			f.Value, f.Bad = fmt.Sprintf("no, %s unreadable: %v", o.BodyFrom, shortErr(o.BodyErr)), true
		default:
			f.Value, f.Bad = fmt.Sprintf("no, %s holds %q", o.BodyFrom, o.Body), true
		}
		facts.Add(f)
		t.Log(f.Value)
		if ours(p) && f.Bad {
			t.Errorf("last body: %s; want %q", f.Value, want)
		}
	})
}

// errorKind describes in a few words the error a caller got instead of
// the last response.
func errorKind(err error) string {
	if err == nil {
		return "no error and no response"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, "giving up"); i >= 0 {
		return fmt.Sprintf("error string only (%q)", "…"+msg[i:])
	}
	return fmt.Sprintf("error only (%s)", shortErr(err))
}

var addr = regexp.MustCompile(`https?://[^ "]+`)

func shortErr(err error) string {
	msg := addr.ReplaceAllString(err.Error(), "URL")
	if len(msg) > 60 {
		msg = msg[:60] + "…"
	}
	return msg
}

// TestPeers_ConnectionsOnRetries makes 10 calls of 4 attempts each against
// a server that always answers 500, closing whatever body the caller gets,
// and records how many connections were opened; then it closes the idle
// connections of the transport under the peer and records how many
// connections the server still holds open and how many client connection
// goroutines (net/http.(*persistConn)) are left. A client that drops a
// retried response without closing its body loses the connection: a new
// dial per attempt, and a connection and two goroutines held until the
// request's context ends or the server gives up on them. resilient
// retires the connection of a failed attempt on purpose, so that a retry
// behind an L4 balancer reaches another backend: at most one new
// connection per failed attempt, none left open. More than one per
// attempt, or any left open, is a leak.
func TestPeers_ConnectionsOnRetries(t *testing.T) {
	eachPeer(t, func(t *testing.T, p Peer, c Client, base *http.Transport, srv *Server, h *failing) {
		before := goroutineIDs()
		leakOpt := goleak.IgnoreCurrent()
		const calls = 10
		for range calls {
			c.Do(context.Background(), &Call{Method: http.MethodGet, URL: srv.URL + "/orders/42"})
		}
		attempts := h.n.Load()
		dialed := srv.Accepted()
		base.CloseIdleConnections()
		open := waitUntil(p, func() int64 { return int64(srv.Open()) })
		left := waitUntil(p, func() int64 { return persistConns(before) })

		add := func(check, value string, bad bool) {
			facts.Add(Fact{Check: check, Peer: p.Name, Value: value, Bad: bad})
			t.Logf("%s: %s", check, value)
		}
		add(CheckNewConns, fmt.Sprintf("%d for %d attempts", dialed, attempts), dialed > attempts)
		add(CheckOpenConns, fmt.Sprint(open), open > 0)
		add(CheckGoroutines, fmt.Sprint(left), left > 0)

		if !ours(p) {
			return
		}
		if attempts != 4*calls || dialed < 1 || dialed > attempts || open != 0 || left != 0 {
			t.Errorf("%d attempts, %d connections opened, %d left open, %d persistConn goroutines left; want %d, at most one per attempt, 0, 0",
				attempts, dialed, open, left, 4*calls)
		}
		if err := goleak.Find(leakOpt); err != nil {
			t.Error(err)
		}
	})
}

// TestPeers_CloseIdleConnections records whether the peer's own
// CloseIdleConnections (http.Client's, for the peers used through one)
// reaches the connection pool: a wrapper transport without the method
// makes it do nothing, and idle connections stay open until they time out.
func TestPeers_CloseIdleConnections(t *testing.T) {
	eachPeer(t, func(t *testing.T, p Peer, c Client, _ *http.Transport, srv *Server, _ *failing) {
		if o := c.Do(context.Background(), &Call{Method: http.MethodGet, URL: srv.URL + PathOK}); !o.OK() {
			t.Fatalf("GET %s: status %d, %v", PathOK, o.Status, o.Err)
		}
		if n := srv.Open(); n != 1 {
			t.Fatalf("%d connections open after one call, want 1", n)
		}
		c.CloseIdleConnections()
		open := waitUntil(p, func() int64 { return int64(srv.Open()) })
		f := Fact{Check: CheckCloseIdle, Peer: p.Name, Value: "yes"}
		if open > 0 {
			f.Value, f.Bad = "no, the idle connection stays open", true
		}
		facts.Add(f)
		t.Log(f.Value)
		if ours(p) && f.Bad {
			t.Error("CloseIdleConnections left the idle connection open")
		}
	})
}

// waitUntil polls f until it returns 0 and returns the last value:
// connections close and goroutines end asynchronously. It gives up after
// half a second for the peers whose facts are only recorded (a leak keeps
// it waiting), after 3 s for ours, whose facts are asserted.
func waitUntil(p Peer, f func() int64) int64 {
	wait := 500 * time.Millisecond
	if ours(p) {
		wait = 3 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		n := f()
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var goroutineHeader = regexp.MustCompile(`(?m)^goroutine (\d+) `)

// goroutineIDs returns the IDs of the goroutines alive now.
func goroutineIDs() map[string]bool {
	ids := make(map[string]bool)
	for _, m := range goroutineHeader.FindAllStringSubmatch(stacks(), -1) {
		ids[m[1]] = true
	}
	return ids
}

// persistConns counts the goroutines, not in before, that serve a client
// connection of net/http.
func persistConns(before map[string]bool) int64 {
	var n int64
	for _, g := range strings.Split(stacks(), "\n\n") {
		m := goroutineHeader.FindStringSubmatch(g)
		if m != nil && !before[m[1]] && strings.Contains(g, "net/http.(*persistConn)") {
			n++
		}
	}
	return n
}

func stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(bytes.TrimSpace(buf[:n]))
		}
		buf = make([]byte, 2*len(buf))
	}
}
