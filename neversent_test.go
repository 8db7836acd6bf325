package resilient

// This file tests the failures that prove a request unprocessed
// (neversent.go) against real servers: a raw HTTP/2 server written with
// golang.org/x/net/http2's Framer, which refuses streams and sends GOAWAY
// frame by frame; an httptest HTTP/2 server shut down gracefully under
// load; and HTTP/1.1 servers that close a kept-alive connection as the
// client reuses it, or after reading the request. Each counts what it
// processed per request ID: no POST may be applied twice, and a POST the
// server did not process must be sent again and succeed.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func TestNeverSent_messages(t *testing.T) {
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "http://h/x", Err: fmt.Errorf("attempt: %w", err)}
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.New("http: server closed idle connection"), true},
		{errors.New("http2: Transport received Server's graceful shutdown GOAWAY"), true},
		{errors.New("http2: Transport received GOAWAY from server ErrCode:ENHANCE_YOUR_CALM"), true},
		{errors.New("http2: client conn not usable"), true},
		{errors.New("http2: client conn could not be established"), true},
		{errors.New("net/http: cannot rewind body after connection loss"), true},
		{http2.StreamError{StreamID: 3, Code: http2.ErrCodeRefusedStream}, true},
		{http2.StreamError{StreamID: 3, Code: http2.ErrCodeRefusedStream, Cause: errors.New("received from peer")}, true},
		{errors.New("http2: Transport: cannot retry err [stream error: stream ID 5; REFUSED_STREAM; received from peer] after Request.Body was written; define Request.GetBody to avoid this error"), true},
		{errors.New("http2: Transport: cannot retry err [http2: Transport received Server's graceful shutdown GOAWAY] after Request.Body was written; define Request.GetBody to avoid this error"), true},

		// Sent, perhaps processed.
		{http2.StreamError{StreamID: 3, Code: http2.ErrCodeInternal, Cause: errors.New("received from peer")}, false},
		{http2.StreamError{StreamID: 3, Code: http2.ErrCodeCancel}, false},
		{http2.StreamError{StreamID: 3, Code: http2.ErrCodeProtocol, Cause: errors.New("received from peer")}, false},
		{errors.New("http2: Transport: cannot retry err [stream error: stream ID 5; PROTOCOL_ERROR; received from peer] after Request.Body was written; define Request.GetBody to avoid this error"), false},
		{errors.New(`http2: server sent GOAWAY and closed the connection; LastStreamID=7, ErrCode=NO_ERROR, debug=""`), false},
		{errors.New(`http2: server sent GOAWAY and closed the connection; LastStreamID=7, ErrCode=NO_ERROR, debug="stream error: stream ID 9; REFUSED_STREAM"`), false},
		{io.EOF, false},
		{io.ErrUnexpectedEOF, false},
		{errors.New("net/http: HTTP/1.x transport connection broken: write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe"), false},
		{errors.New("net/http: Transport failed to read from server: EOF"), false},
		{errors.New(`proxy said: "http: server closed idle connection"`), false},
		{errors.New("http: server closed idle connection, and more"), false},
	} {
		if got := neverSent(tc.err); got != tc.want {
			t.Errorf("neverSent(%q) = %v, want %v", tc.err, got, tc.want)
		}
		if got := neverSent(wrap(tc.err)); got != tc.want {
			t.Errorf("neverSent(wrapped %q) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// ledger counts, per request ID, the requests a server received whole and
// those it processed ("applied").
type ledger struct {
	mu      sync.Mutex
	seen    map[string]int
	applied map[string]int
}

func newLedger() *ledger {
	return &ledger{seen: map[string]int{}, applied: map[string]int{}}
}

// see records one receipt of id and returns how many there were.
func (l *ledger) see(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen[id]++
	return l.seen[id]
}

// count returns how many times id was received and applied.
func (l *ledger) count(id string) (seen, applied int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[id], l.applied[id]
}

func (l *ledger) apply(id string) {
	l.mu.Lock()
	l.applied[id]++
	l.mu.Unlock()
}

// check fails t unless every id was applied exactly once, and returns how
// many ids the server received more than once (sent again, applied once).
func (l *ledger) check(t *testing.T, ids []string) (resent int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		if n := l.applied[id]; n != 1 {
			t.Errorf("request %s applied %d times, want 1", id, n)
		}
		if l.seen[id] > 1 {
			resent++
		}
	}
	return resent
}

// retryLog counts the client's "retrying" log records, and their reasons
// with stream IDs and addresses left out.
type retryLog struct {
	n       atomic.Int64
	mu      sync.Mutex
	reasons map[string]int
}

func (h *retryLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *retryLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "resilient: retrying" {
		return nil
	}
	h.n.Add(1)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			h.mu.Lock()
			h.reasons[streamIDs.ReplaceAllString(a.Value.String(), "$1N")]++
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

var streamIDs = regexp.MustCompile(`(stream ID |127\.0\.0\.1:)\d+`)

// String lists the reasons and their counts.
func (h *retryLog) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprint(h.reasons)
}
func (h *retryLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *retryLog) WithGroup(string) slog.Handler      { return h }

// neverSentClient is a client over base whose only reason to refuse a
// retry is the request's: admission and the retry budget are off, so that
// a flood of first attempts that fail unprocessed does not stop retries.
func neverSentClient(t *testing.T, base http.RoundTripper, max int) (*http.Client, *retryLog) {
	t.Helper()
	log := &retryLog{reasons: map[string]int{}}
	c := &http.Client{Transport: NewTransport(base,
		WithRetry(Retry{Max: max, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond, Budget: RetryBudget{Disabled: true}}),
		WithBreaker(Breaker{Disabled: true}),
		WithLogger(slog.New(log)))}
	t.Cleanup(func() { Close(c) })
	return c, log
}

// post sends a POST without an Idempotency-Key, identified by id.
func post(ctx context.Context, c *http.Client, target, id string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader("charge "+id))
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Request-Id", id)
	return c.Do(req)
}

// noReplay is a base transport that does not resend requests itself. It
// hides GetBody from net/http, which otherwise resends, inside its own
// RoundTrip, a body it can rewind after REFUSED_STREAM or a graceful
// GOAWAY: net/http then returns the failure, and the client's policy, the
// subject of these tests, decides.
type noReplay struct{ base http.RoundTripper }

func (n noReplay) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := *r
	r2.GetBody = nil
	return n.base.RoundTrip(&r2)
}

func (n noReplay) CloseIdleConnections() {
	n.base.(interface{ CloseIdleConnections() }).CloseIdleConnections()
}

// replayers are the two ways a request the server did not process is sent
// again: by net/http itself, or, when the base transport does not, by the
// client's policy.
var replayers = []struct {
	name string
	wrap func(http.RoundTripper) http.RoundTripper
}{
	{"net/http resends", func(rt http.RoundTripper) http.RoundTripper { return rt }},
	{"client resends", func(rt http.RoundTripper) http.RoundTripper { return noReplay{rt} }},
}

// h2Server is a raw HTTP/2 server (cleartext, prior knowledge) on a TCP
// listener: for each request it has received whole, it calls decide, on
// the connection's goroutine, which answers it frame by frame.
type h2Server struct {
	ln     net.Listener
	url    string
	decide func(c *h2Conn, s h2Stream)
	ledger *ledger

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// h2Stream is one request as the server received it.
type h2Stream struct {
	id     uint32
	reqID  string
	method string
	nth    int // how many times the server has received reqID, this one included
}

// h2Conn is the server's side of one connection.
type h2Conn struct {
	ledger  *ledger
	conn    net.Conn
	fr      *http2.Framer
	hbuf    bytes.Buffer
	enc     *hpack.Encoder
	pending []h2Stream // for decide's use
	done    bool       // the server has finished with the connection
}

func newH2Server(t *testing.T, decide func(c *h2Conn, s h2Stream)) *h2Server {
	t.Helper()
	ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	s := &h2Server{ln: ln, url: "http://" + ln.Addr().String(), decide: decide, ledger: newLedger(), conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[conn] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(conn)
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
				conn.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *h2Server) serve(conn net.Conn) {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(conn, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	c := &h2Conn{ledger: s.ledger, conn: conn, fr: http2.NewFramer(conn, conn)}
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if c.fr.WriteSettings() != nil {
		return
	}
	streams := map[uint32]*h2Stream{}
	complete := func(st *h2Stream) {
		if c.done {
			return // after our GOAWAY: ignored, as RFC 9113 §6.8 allows
		}
		st.nth = s.ledger.see(st.reqID)
		s.decide(c, *st)
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return // the client closed the connection
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && !c.done {
				c.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() && !c.done {
				c.fr.WritePing(true, f.Data)
			}
		case *http2.MetaHeadersFrame:
			st := &h2Stream{id: f.StreamID, method: f.PseudoValue("method")}
			for _, hf := range f.RegularFields() {
				if hf.Name == "x-request-id" {
					st.reqID = hf.Value
				}
			}
			streams[f.StreamID] = st
			if f.StreamEnded() {
				complete(st)
			}
		case *http2.DataFrame:
			if n := len(f.Data()); n > 0 && !c.done {
				c.fr.WriteWindowUpdate(0, uint32(n))
			}
			if st := streams[f.StreamID]; st != nil && f.StreamEnded() {
				complete(st)
			}
		}
	}
}

// respond answers s with status 200 and no body.
func (c *h2Conn) respond(s h2Stream) {
	c.hbuf.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: c.hbuf.Bytes(), EndStream: true, EndHeaders: true})
}

// apply processes s: the ledger counts it.
func (c *h2Conn) apply(s h2Stream) { c.ledger.apply(s.reqID) }

// goAway sends GOAWAY with lastStreamID.
func (c *h2Conn) goAway(lastStreamID uint32) {
	c.fr.WriteGoAway(lastStreamID, http2.ErrCodeNo, []byte("test server going away"))
}

// finish ends the connection: the server sends its FIN, ignores what else
// comes, and waits (in serve) for the client to close its side.
func (c *h2Conn) finish() {
	c.done = true
	c.conn.(*net.TCPConn).CloseWrite()
}

// h2cTransport is a net/http transport speaking HTTP/2 without TLS.
func h2cTransport() *http.Transport {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return tr
}

// ids returns n request IDs.
func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// postAll posts every id through c from workers goroutines and fails t
// for any call that does not end in 200.
func postAll(t *testing.T, c *http.Client, target string, all []string, workers int) {
	t.Helper()
	work := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				resp, err := post(context.Background(), c, target, id)
				if err != nil {
					t.Errorf("POST %s: %v", id, err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("POST %s: status %d", id, resp.StatusCode)
				}
			}
		}()
	}
	for _, id := range all {
		work <- id
	}
	close(work)
	wg.Wait()
}

// TestNeverSent_refusedStream: a server refuses every request's stream
// once with REFUSED_STREAM, then processes it. Every POST succeeds and is
// applied once.
func TestNeverSent_refusedStream(t *testing.T) {
	for _, rp := range replayers {
		t.Run(rp.name, func(t *testing.T) {
			srv := newH2Server(t, func(c *h2Conn, s h2Stream) {
				if s.nth == 1 {
					c.fr.WriteRSTStream(s.id, http2.ErrCodeRefusedStream)
					return
				}
				c.apply(s) // on the second receipt
				c.respond(s)
			})
			c, log := neverSentClient(t, rp.wrap(h2cTransport()), 3)
			all := ids("refused", 40)
			postAll(t, c, srv.url, all, 8)
			resent := srv.ledger.check(t, all)
			if resent != len(all) {
				t.Errorf("%d of %d POSTs were received twice, want all: each was refused once", resent, len(all))
			}
			retries := int(log.n.Load())
			if rp.name == "client resends" && retries != len(all) {
				t.Errorf("the client retried %d times, want %d: one per refused POST", retries, len(all))
			}
			if rp.name == "net/http resends" && retries != 0 {
				t.Errorf("the client retried %d times, want 0: net/http resends refused streams itself", retries)
			}
			t.Logf("%d POSTs, each refused once: %d resent by the client, %d by net/http, 0 applied twice",
				len(all), retries, resent-retries)
		})
	}
}

// TestNeverSent_refusedStreamEveryTime: retries of a POST the server
// always refuses end with an error that says so.
func TestNeverSent_refusedStreamEveryTime(t *testing.T) {
	srv := newH2Server(t, func(c *h2Conn, s h2Stream) { c.fr.WriteRSTStream(s.id, http2.ErrCodeRefusedStream) })
	c, log := neverSentClient(t, noReplay{h2cTransport()}, 2)
	_, err := post(context.Background(), c, srv.url, "always")
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a *TransportError", err)
	}
	if te.Attempts != 3 || log.n.Load() != 2 {
		t.Errorf("Attempts = %d after %d retries, want 3 after 2", te.Attempts, log.n.Load())
	}
	if msg := err.Error(); !strings.Contains(msg, "after 3 attempts") || !strings.Contains(msg, "REFUSED_STREAM") {
		t.Errorf("err = %q, want it to say 3 attempts and REFUSED_STREAM", msg)
	}
	if seen, applied := srv.ledger.count("always"); seen != 3 || applied != 0 {
		t.Errorf("server received the POST %d times and applied it %d, want 3 and 0", seen, applied)
	}
}

// TestNeverSent_goAwayAboveLastStream: two POSTs are in flight on one
// connection when the server sends GOAWAY naming the first as the last it
// processes; it answers the first and drops the second, which must be sent
// again, on a new connection, and applied once.
func TestNeverSent_goAwayAboveLastStream(t *testing.T) {
	const rounds = 10
	for _, rp := range replayers {
		t.Run(rp.name, func(t *testing.T) {
			srv := newH2Server(t, func(c *h2Conn, s h2Stream) {
				if s.method == http.MethodGet || s.nth > 1 {
					c.apply(s)
					c.respond(s)
					return
				}
				// A first receipt: hold it until its pair arrives.
				c.pending = append(c.pending, s)
				if len(c.pending) < 2 {
					return
				}
				first, second := c.pending[0], c.pending[1]
				if second.id < first.id {
					first, second = second, first
				}
				c.goAway(first.id)
				c.apply(first)
				c.respond(first)
				c.finish()
			})
			c, log := neverSentClient(t, rp.wrap(h2cTransport()), 3)
			var all []string
			for r := range rounds {
				// A GET first, so that both POSTs share its connection.
				resp := must[*http.Response](t)(c.Get(srv.url + "/warm"))
				resp.Body.Close()
				pair := ids(fmt.Sprintf("goaway-%d", r), 2)
				postAll(t, c, srv.url, pair, 2)
				all = append(all, pair...)
			}
			resent := srv.ledger.check(t, all)
			if resent != rounds {
				t.Errorf("%d POSTs were received twice, want %d: one per GOAWAY", resent, rounds)
			}
			retries := int(log.n.Load())
			if want := map[bool]int{true: rounds, false: 0}[rp.name == "client resends"]; retries != want {
				t.Errorf("the client retried %d times, want %d", retries, want)
			}
			t.Logf("%d GOAWAYs, each above one POST's stream: %d resent by the client, %d by net/http, 0 applied twice",
				rounds, retries, resent-retries)
		})
	}
}

// TestNeverSent_notRetried: failures after the server received the request
// (it may have processed it) end a POST without a key at once, and are
// retried for the same POST with an Idempotency-Key: the method alone
// decides, not the failure's class.
func TestNeverSent_notRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		decide func(c *h2Conn, s h2Stream)
		says   []string
	}{
		{
			// The stream is at LastStreamID: the server may have
			// processed it (here it did), then closed without answering.
			name:   "GOAWAY at LastStreamID",
			decide: func(c *h2Conn, s h2Stream) { c.goAway(s.id); c.finish() },
			says:   []string{"server sent GOAWAY and closed the connection", fmt.Sprintf("LastStreamID=%d", 1)},
		},
		{
			name:   "reset after processing",
			decide: func(c *h2Conn, s h2Stream) { c.fr.WriteRSTStream(s.id, http2.ErrCodeInternal) },
			says:   []string{"stream error", "INTERNAL_ERROR"},
		},
	} {
		for _, key := range []string{"", "k-1"} {
			t.Run(fmt.Sprintf("%s/key=%q", tc.name, key), func(t *testing.T) {
				srv := newH2Server(t, func(c *h2Conn, s h2Stream) {
					c.apply(s)
					tc.decide(c, s)
				})
				c, _ := neverSentClient(t, h2cTransport(), 2)
				req := must[*http.Request](t)(http.NewRequest(http.MethodPost, srv.url, strings.NewReader("charge")))
				req.Header.Set("X-Request-Id", "p")
				if key != "" {
					req.Header.Set("Idempotency-Key", key)
				}
				_, err := c.Do(req)
				var te *TransportError
				if !errors.As(err, &te) {
					t.Fatalf("err = %v, want a *TransportError", err)
				}
				want := 1
				if key != "" {
					want = 3 // Max 2 retries
				}
				_, applied := srv.ledger.count("p")
				if te.Attempts != want || applied != want {
					t.Errorf("Attempts = %d, applied %d times; want %d and %d", te.Attempts, applied, want, want)
				}
				for _, s := range tc.says {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("err = %q, want it to say %q", err, s)
					}
				}
			})
		}
	}
}

// TestNeverSent_http2Shutdown: 200 POSTs without a key, from 16 workers, to
// an httptest HTTP/2 server that is shut down gracefully (GOAWAY) when it
// has processed 60 of them; new connections then reach a second server, as
// behind a load balancer. Every POST succeeds, none is applied twice.
// Whether a stream is above the GOAWAY's LastStreamID depends on timing;
// the test logs how many were.
func TestNeverSent_http2Shutdown(t *testing.T) {
	const total, workers, shutAt = 200, 16, 60
	for _, rp := range replayers {
		t.Run(rp.name, func(t *testing.T) {
			l := newLedger()
			var served atomic.Int64
			shut := make(chan struct{})
			var onA, onB atomic.Int64
			handler := func(which *atomic.Int64) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body)
					l.apply(r.Header.Get("X-Request-Id"))
					which.Add(1)
					if served.Add(1) == shutAt {
						close(shut)
					}
				}
			}
			a := httptest.NewUnstartedServer(handler(&onA))
			a.EnableHTTP2 = true
			a.StartTLS()
			defer a.Close()
			b := httptest.NewUnstartedServer(handler(&onB))
			b.EnableHTTP2 = true
			b.StartTLS()
			defer b.Close()

			tr := a.Client().Transport.(*http.Transport).Clone()
			tr.ForceAttemptHTTP2 = true
			var switched atomic.Bool
			var d net.Dialer
			tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				if switched.Load() {
					return d.DialContext(ctx, network, b.Listener.Addr().String())
				}
				return d.DialContext(ctx, network, a.Listener.Addr().String())
			}
			// Count how often each request's headers were written: more
			// than once means it was sent again.
			sends := &traceSends{next: rp.wrap(tr), sent: map[string]int{}}
			c, log := neverSentClient(t, sends, 3)

			all := ids("shutdown", total)
			done := make(chan struct{})
			go func() {
				defer close(done)
				postAll(t, c, a.URL, all, workers)
			}()
			select {
			case <-shut:
			case <-done:
				t.Fatal("the load ended before the shutdown")
			}
			switched.Store(true)
			if err := a.Config.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			<-done
			l.check(t, all)
			resent := 0
			sends.mu.Lock()
			for _, id := range all {
				if sends.sent[id] > 1 {
					resent++
				}
			}
			sends.mu.Unlock()
			if onA.Load() < shutAt || onA.Load()+onB.Load() != total {
				t.Errorf("served %d before the shutdown and %d after, want >= %d and %d in all", onA.Load(), onB.Load(), shutAt, total)
			}
			t.Logf("%d POSTs, shutdown after %d: %d served before, %d after; %d sent twice (%d resent by the client: %v), 0 applied twice",
				total, shutAt, onA.Load(), onB.Load(), resent, log.n.Load(), log)
		})
	}
}

// traceSends is a base transport that counts, per request ID, the times
// net/http wrote a request's headers: more than once means it was sent
// again, by net/http or by the client.
type traceSends struct {
	next http.RoundTripper
	mu   sync.Mutex
	sent map[string]int
}

func (t *traceSends) RoundTrip(r *http.Request) (*http.Response, error) {
	id := r.Header.Get("X-Request-Id")
	tr := &httptrace.ClientTrace{WroteHeaders: func() {
		t.mu.Lock()
		t.sent[id]++
		t.mu.Unlock()
	}}
	return t.next.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), tr)))
}

func (t *traceSends) CloseIdleConnections() {
	t.next.(interface{ CloseIdleConnections() }).CloseIdleConnections()
}

// closeNotifyConn is the client's side of a connection; closed is closed
// when the client closes it.
type closeNotifyConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *closeNotifyConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// TestNeverSent_http1IdleClose: the keep-alive race made certain. When the
// client takes an idle connection from its pool for a POST, the server
// closes that connection, and the POST waits until the client has read
// the server's FIN, as happens when the FIN crosses the request on the
// wire. net/http then fails the POST with "server closed idle connection"
// (or resends it itself, having written nothing); the client resends it
// on a new connection, and it is applied once.
func TestNeverSent_http1IdleClose(t *testing.T) {
	const n = 30
	l := newLedger()
	var mu sync.Mutex
	serverConns := map[string]net.Conn{} // by the client's address
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if id := r.Header.Get("X-Request-Id"); id != "" {
			l.see(id)
			l.apply(id)
		}
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			serverConns[c.RemoteAddr().String()] = c
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()

	tr := srv.Client().Transport.(*http.Transport).Clone()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &closeNotifyConn{Conn: conn, closed: make(chan struct{})}, nil
	}
	c, log := neverSentClient(t, tr, 3)
	var closes atomic.Int64
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if !info.Reused {
			return
		}
		mu.Lock()
		sc := serverConns[info.Conn.LocalAddr().String()]
		mu.Unlock()
		sc.Close()
		<-info.Conn.(*closeNotifyConn).closed // the client read the FIN
		closes.Add(1)
	}}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	resp := must[*http.Response](t)(c.Get(srv.URL)) // the first idle connection
	resp.Body.Close()

	all := ids("idle", n)
	for _, id := range all {
		resp, err := post(ctx, c, srv.URL, id)
		if err != nil {
			t.Fatalf("POST %s: %v", id, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	l.check(t, all)
	if closes.Load() != n {
		t.Errorf("the server closed %d connections as they were reused, want %d", closes.Load(), n)
	}
	retries := log.n.Load()
	if retries == 0 {
		t.Errorf("the client retried no POST: net/http never returned %q", msgServerClosedIdle)
	}
	t.Logf("%d POSTs, each on a connection the server closed as it was reused: %d resent by the client (%v), %d by net/http, 0 applied twice",
		n, retries, log, int64(n)-retries)
}

// TestNeverSent_http1ClosedAfterReading: a server that reads a POST on a
// kept-alive connection, processes it and closes without answering. The
// client sees an EOF, as in the keep-alive race, but the request was
// written: it is not retried. The same POST with an Idempotency-Key is.
func TestNeverSent_http1ClosedAfterReading(t *testing.T) {
	for _, key := range []string{"", "k-1"} {
		t.Run(fmt.Sprintf("key=%q", key), func(t *testing.T) {
			l := newLedger()
			ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
			var wg sync.WaitGroup
			defer wg.Wait()
			defer ln.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer conn.Close()
						br := bufio.NewReader(conn)
						for {
							req, err := http.ReadRequest(br)
							if err != nil {
								return
							}
							io.Copy(io.Discard, req.Body)
							if req.Method == http.MethodGet {
								io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
								continue
							}
							l.apply(req.Header.Get("X-Request-Id"))
							return // processed; closed without an answer
						}
					}()
				}
			}()
			url := "http://" + ln.Addr().String()
			c, log := neverSentClient(t, &http.Transport{}, 2)
			resp := must[*http.Response](t)(c.Get(url)) // keep-alive connection
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()

			req := must[*http.Request](t)(http.NewRequest(http.MethodPost, url, strings.NewReader("charge")))
			req.Header.Set("X-Request-Id", "p")
			if key != "" {
				req.Header.Set("Idempotency-Key", key)
			}
			_, err := c.Do(req)
			var te *TransportError
			if !errors.As(err, &te) || !errors.Is(err, io.EOF) {
				t.Fatalf("err = %v, want a *TransportError for io.EOF", err)
			}
			// With a key, the client makes 3 attempts, and net/http
			// resends the first itself, since it failed on a reused
			// connection and the key makes it replayable.
			attempts, applications := 1, 1
			if key != "" {
				attempts, applications = 3, 4
			}
			_, applied := l.count("p")
			if te.Attempts != attempts || applied != applications || log.n.Load() != int64(attempts-1) {
				t.Errorf("Attempts = %d, applied %d times, %d retries; want %d, %d, %d",
					te.Attempts, applied, log.n.Load(), attempts, applications, attempts-1)
			}
			if !strings.Contains(err.Error(), "connection closed by the server before any response") || !strings.HasSuffix(err.Error(), ": EOF") {
				t.Errorf("err = %q, want it to say in words that the server closed the connection, then EOF", err)
			}
		})
	}
}
