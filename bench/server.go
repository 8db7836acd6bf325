package bench

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Paths of the benchmark server and of MemTransport, and the base URL to
// use with MemTransport.
const (
	PathOK   = "/ok"             // 200, body "ok"
	PathPut  = "/put"            // reads the body, 200, body "ok"
	Path500  = "/500"            // 500, body "boom"
	MemURL   = "http://mem.test" // any host will do: MemTransport never dials
	bodyOK   = "ok"
	body500  = "boom"
	typeText = "text/plain; charset=utf-8"
)

// Server is an in-process HTTP server on loopback that counts the
// connections it accepts: every new connection is one dial by a client.
// Its handler is the benchmark's (see PathOK, PathPut, Path500) unless
// NewServer was given another.
type Server struct {
	*httptest.Server
	accepted atomic.Int64

	mu   sync.Mutex
	open map[net.Conn]bool
}

// NewServer starts a Server with handler h, or the benchmark's handler when
// h is nil. Close it when done.
func NewServer(h http.Handler) *Server {
	if h == nil {
		h = http.HandlerFunc(serveBench)
	}
	s := &Server{open: make(map[net.Conn]bool)}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.accepted.Add(1)
			s.mu.Lock()
			s.open[c] = true
			s.mu.Unlock()
		case http.StateClosed, http.StateHijacked:
			s.mu.Lock()
			delete(s.open, c)
			s.mu.Unlock()
		}
	}
	s.Start()
	return s
}

// Accepted returns the number of connections accepted so far.
func (s *Server) Accepted() int64 { return s.accepted.Load() }

// Open returns the number of connections not yet closed.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

func serveBench(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", typeText)
	if r.URL.Path == Path500 {
		w.Header().Set("Content-Length", strconv.Itoa(len(body500)))
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, body500)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(bodyOK)))
	io.WriteString(w, bodyOK)
}

// MemTransport is an http.RoundTripper that answers from memory, as the
// benchmark server would (see PathOK, PathPut, Path500), without a network:
// it reads and closes the request body and returns a fresh *http.Response
// with a small body. It measures a client's own cost, free of network
// noise. It is safe for concurrent use.
type MemTransport struct{}

// RoundTrip answers req.
func (MemTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	a := &memOK
	if strings.HasSuffix(req.URL.Path, Path500) {
		a = &mem500
	}
	b := &memBody{}
	b.Reset(a.body)
	return &http.Response{
		Status:     a.status,
		StatusCode: a.code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":   {typeText},
			"Content-Length": {a.length},
		},
		Body:          b,
		ContentLength: int64(len(a.body)),
		Request:       req,
	}, nil
}

// memAnswer is one of MemTransport's canned answers.
type memAnswer struct {
	code   int
	status string
	length string
	body   []byte
}

var (
	memOK  = memAnswer{http.StatusOK, "200 OK", strconv.Itoa(len(bodyOK)), []byte(bodyOK)}
	mem500 = memAnswer{http.StatusInternalServerError, "500 Internal Server Error", strconv.Itoa(len(body500)), []byte(body500)}
)

type memBody struct{ bytes.Reader }

func (*memBody) Close() error { return nil }
