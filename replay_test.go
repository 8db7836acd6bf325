package resilient

// Tests of the replay of request bodies without GetBody (replay.go): what
// the server saw on each attempt, the memory a long body costs, and that
// the caller's body is closed once.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// hashServer answers the first fails attempts with 503 and the others 200,
// after reading each whole request body, unless early is set: then a
// failing attempt is answered before its body is read. It records the
// SHA-256 and length of every body it read whole.
type hashServer struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	hashes [][32]byte
	sizes  []int64
}

func newHashServer(t testing.TB, fails int64, early bool) *hashServer {
	return newHashServerH(t, fails, early, false)
}

// newHashServerH is newHashServer over HTTP/2 and TLS when h2 is set.
func newHashServerH(t testing.TB, fails int64, early, h2 bool) *hashServer {
	t.Helper()
	s := &hashServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.hits.Add(1)
		if n <= fails && early {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h := sha256.New()
		size, err := io.Copy(h, r.Body)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.hashes = append(s.hashes, [32]byte(h.Sum(nil)))
		s.sizes = append(s.sizes, size)
		s.mu.Unlock()
		if n <= fails {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "stored")
	}))
	if h2 {
		s.EnableHTTP2 = true
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

func (s *hashServer) seen() ([][32]byte, []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][32]byte(nil), s.hashes...), append([]int64(nil), s.sizes...)
}

// sdkBody is a caller's body without GetBody, io.WriterTo or io.Seeker,
// as SDKs build them; it counts its Closes.
type sdkBody struct {
	io.Reader
	closes atomic.Int32
}

func (b *sdkBody) Close() error { b.closes.Add(1); return nil }

// seekBody is an io.ReadSeekCloser without GetBody; it counts its Seeks
// and Closes.
type seekBody struct {
	*bytes.Reader
	seeks  atomic.Int32
	closes atomic.Int32
}

func (b *seekBody) Seek(off int64, whence int) (int64, error) {
	b.seeks.Add(1)
	return b.Reader.Seek(off, whence)
}
func (b *seekBody) Close() error { b.closes.Add(1); return nil }

func payload(n int) []byte {
	p := make([]byte, n)
	r := rand.New(rand.NewPCG(1, uint64(n)))
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func TestTransport_RoundTrip_replaysBodyWithoutGetBody(t *testing.T) {
	p := payload(1 << 20)
	want := sha256.Sum256(p)
	for _, tc := range []struct {
		name   string
		length int64 // ContentLength; -1 sends it chunked
		early  bool  // the server answers 503 before reading the body
		pipe   bool  // the body is an io.Pipe fed by another goroutine
		h2     bool  // over HTTP/2, which closes a body while a Read of it may be blocked
	}{
		{name: "known length", length: int64(len(p))},
		{name: "chunked", length: -1},
		{name: "503 before the body is read", length: int64(len(p)), early: true},
		{name: "pipe, 503 before the body is read", length: -1, early: true, pipe: true},
		{name: "HTTP/2, known length", length: int64(len(p)), h2: true},
		{name: "HTTP/2, pipe, 503 before the body is read", length: -1, early: true, pipe: true, h2: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHashServerH(t, 2, tc.early, tc.h2)
			var c *http.Client
			if tc.h2 {
				base := srv.Client().Transport // trusts the server's certificate
				c = &http.Client{Transport: NewTransport(base, WithRetry(fast))}
				t.Cleanup(func() { Close(c); base.(*http.Transport).CloseIdleConnections() })
			} else {
				c = newClient(t, WithRetry(fast))
			}
			b := &sdkBody{Reader: bytes.NewReader(p)}
			var fed sync.WaitGroup
			if tc.pipe {
				pr, pw := io.Pipe()
				b.Reader = pr
				fed.Go(func() {
					pw.CloseWithError(func() error { _, err := pw.Write(p); return err }())
				})
				defer func() { pr.Close(); fed.Wait() }()
			}
			req := must[*http.Request](t)(http.NewRequest(http.MethodPut, srv.URL+"/bucket/key", b))
			req.ContentLength = tc.length
			if req.GetBody != nil {
				t.Fatal("the test body must have no GetBody")
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("err = %v; want the third attempt's 200", err)
			}
			if got := readAll(t, resp); got != "stored" || srv.hits.Load() != 3 || tc.h2 != (resp.ProtoMajor == 2) {
				t.Errorf("body %q after %d attempts over %s; want \"stored\" after 3", got, srv.hits.Load(), resp.Proto)
			}
			hashes, sizes := srv.seen()
			if tc.early {
				// Only the third attempt was read whole.
				if len(hashes) != 1 || hashes[0] != want {
					t.Errorf("the server read %d bodies of sizes %v; want one, identical to the payload", len(hashes), sizes)
				}
			} else {
				for i, h := range hashes {
					if h != want {
						t.Errorf("attempt %d sent %d bytes that differ from the payload", i+1, sizes[i])
					}
				}
				if len(hashes) != 3 {
					t.Errorf("the server read %d bodies; want 3", len(hashes))
				}
			}
			if n := b.closes.Load(); n != 1 {
				t.Errorf("the caller's body was closed %d times; want once", n)
			}
		})
	}
}

func TestTransport_RoundTrip_rewindsASeekableBody(t *testing.T) {
	p := payload(64 << 10)
	srv := newHashServer(t, 2, false)
	// A limit of 0 copies nothing: only the rewind can send it again.
	c := newClient(t, WithRetry(fast), WithReplayLimit(0))
	b := &seekBody{Reader: bytes.NewReader(p)}
	b.Reader.Seek(16, io.SeekStart) // the body starts where the caller left it
	req := must[*http.Request](t)(http.NewRequest(http.MethodPut, srv.URL, b))
	req.ContentLength = int64(len(p) - 16)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	hashes, sizes := srv.seen()
	want := sha256.Sum256(p[16:])
	for i, h := range hashes {
		if h != want {
			t.Errorf("attempt %d sent %d bytes that differ from the body", i+1, sizes[i])
		}
	}
	if len(hashes) != 3 || b.seeks.Load() < 3 || b.closes.Load() != 1 {
		t.Errorf("%d attempts, %d seeks, %d closes; want 3 attempts, the body rewound and closed once", len(hashes), b.seeks.Load(), b.closes.Load())
	}
}

func TestTransport_RoundTrip_sendsABodyOverTheReplayLimitOnce(t *testing.T) {
	srv := newHashServer(t, 10, false)
	c := newClient(t, WithRetry(fast), WithReplayLimit(1000))
	for _, length := range []int64{1001, -1} {
		srv.hits.Store(0)
		b := &sdkBody{Reader: bytes.NewReader(payload(1001))}
		req := must[*http.Request](t)(http.NewRequest(http.MethodPut, srv.URL, b))
		req.ContentLength = length
		_, err := c.Do(req)
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != 503 || se.Attempts != 1 || srv.hits.Load() != 1 {
			t.Fatalf("length %d: err = %v after %d attempts; want one 503", length, err, srv.hits.Load())
		}
		if !errors.Is(err, ErrBodyNotReplayable) || se.Stop != ErrBodyNotReplayable {
			t.Errorf("length %d: errors.Is(err, ErrBodyNotReplayable) = false, Err = %v", length, se.Stop)
		}
		if !strings.Contains(err.Error(), "; not retried because the request body has no GetBody and is longer than WithReplayLimit") {
			t.Errorf("length %d: the error does not say why it was not retried: %v", length, err)
		}
		if b.closes.Load() != 1 {
			t.Errorf("length %d: the caller's body was closed %d times; want once", length, b.closes.Load())
		}
	}
}

func TestTransport_RoundTrip_neverRetriesAPOSTWithoutKeyBodyOrNot(t *testing.T) {
	srv := newHashServer(t, 10, false)
	c := newClient(t, WithRetry(fast))
	b := &sdkBody{Reader: strings.NewReader(`{"order":42}`)}
	_, err := c.Post(srv.URL, "application/json", b)
	var se *StatusError
	if !errors.As(err, &se) || se.Attempts != 1 || srv.hits.Load() != 1 {
		t.Fatalf("err = %v after %d attempts; want one 503: a POST without a key is not retried", err, srv.hits.Load())
	}
	if se.Stop != ErrNotIdempotent {
		t.Errorf("Stop = %v; want ErrNotIdempotent: the method, not the body, stopped the retries", se.Stop)
	}
}

// patternReader yields n bytes of a fixed pattern without allocating.
type patternReader struct {
	n     int64
	block []byte
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := int64(len(p))
	k = min(k, r.n, int64(len(r.block)))
	copy(p, r.block[:k])
	r.n -= k
	return int(k), nil
}

// TestTransport_RoundTrip_longBodyCostsLittleHeap sends 256 MiB without
// GetBody to a server that reads it all and answers 503, once with its
// length known (nothing is copied) and once chunked (the copy grows to the
// limit, then is dropped). The heap it costs is the growth of
// runtime.MemStats.TotalAlloc over the call: every byte allocated, by
// client and server alike, freed or not, so an upper bound of the heap
// the call held at any moment.
func TestTransport_RoundTrip_longBodyCostsLittleHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 512 MiB over loopback")
	}
	const size = 256 << 20
	var read atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		read.Store(n)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := newClient(t, WithRetry(fast))
	for _, length := range []int64{size, -1} {
		b := &sdkBody{Reader: &patternReader{n: size, block: bytes.Repeat([]byte("0123456789abcdef"), 2048)}}
		req := must[*http.Request](t)(http.NewRequest(http.MethodPut, srv.URL, b))
		req.ContentLength = length
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := c.Do(req)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("ContentLength %d: %.2f MiB allocated for a %d MiB body", length, float64(alloc)/(1<<20), size>>20)
		if read.Load() != size {
			t.Errorf("the server read %d bytes; want %d", read.Load(), size)
		}
		if alloc > 8<<20 {
			t.Errorf("the call allocated %.1f MiB; want at most 8 MiB", float64(alloc)/(1<<20))
		}
		if Attempts(err) != 1 || !errors.Is(err, ErrBodyNotReplayable) {
			t.Errorf("err = %v; want one attempt, stopped with ErrBodyNotReplayable", err)
		}
	}
}

func TestTransport_newCall_copiesOnlyBodiesWithoutGetBody(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  io.Reader
		opts  []Option
		wants bool // a replayer, that is a copy or a rewind
	}{
		{name: "GetBody streams again", body: strings.NewReader("x")},
		{name: "no body", body: nil},
		{name: "no GetBody", body: &sdkBody{Reader: strings.NewReader("x")}, wants: true},
		{name: "no GetBody, retries off", body: &sdkBody{Reader: strings.NewReader("x")}, opts: []Option{WithRetry(Retry{Max: -1})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTransport(&memTransport{}, tc.opts...)
			defer tr.Close()
			req := must[*http.Request](t)(http.NewRequest(http.MethodPut, "http://api.test/x", tc.body))
			if c := tr.newCall(req, tr.cfg.clock.Now()); (c.replay != nil) != tc.wants {
				t.Errorf("replayer %v; want one: %v", c.replay != nil, tc.wants)
			}
		})
	}
}

func TestTelemetry_bodyNotReplayable_event(t *testing.T) {
	e := newTelEnv(t)
	srv := newTelServer(t, telFail(1000))
	c := e.client(t, WithRetry(fast), WithReplayLimit(2), WithBreaker(Breaker{Disabled: true}))
	req := must[*http.Request](t)(http.NewRequest(http.MethodPut, srv.URL+"/blob", &sdkBody{Reader: strings.NewReader("hello")}))
	if _, err := c.Do(req); !errors.Is(err, ErrBodyNotReplayable) {
		t.Fatalf("err = %v; want ErrBodyNotReplayable", err)
	}
	logical, _ := callSpans(e.rec)
	if len(logical) != 1 {
		t.Fatalf("%d logical spans; want 1", len(logical))
	}
	ev := eventsNamed(logical[0], "resilient.body_not_replayable")
	if len(ev) != 1 || len(ev[0].Attributes) != 1 || ev[0].Attributes[0].Key != "resilient.replay_limit" || ev[0].Attributes[0].Value.AsInt64() != 2 {
		t.Errorf("events %+v; want one resilient.body_not_replayable with resilient.replay_limit 2", ev)
	}
}

func TestTransport_RoundTrip_retriesALongBodyThatWasNeverRead(t *testing.T) {
	// A port nobody listens on: every dial is refused, nothing is read.
	ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, WithRetry(fast), WithBreaker(Breaker{Disabled: true}), WithReplayLimit(1<<10))
	b := &sdkBody{Reader: &patternReader{n: 1 << 20, block: make([]byte, 4096)}}
	req := must[*http.Request](t)(http.NewRequest(http.MethodPut, "http://"+addr+"/blob", b))
	req.ContentLength = 1 << 20 // over the limit: never copied
	_, err := c.Do(req)
	var te *TransportError
	if !errors.As(err, &te) || te.Attempts != 4 || errors.Is(err, ErrBodyNotReplayable) {
		t.Errorf("err = %v; want a *TransportError after 4 attempts: a body never read can go again", err)
	}
	if b.closes.Load() != 1 {
		t.Errorf("the caller's body was closed %d times; want once", b.closes.Load())
	}
}
