package chaos

// This file holds the client side: Injector.Transport, an http.RoundTripper
// that injects faults before a request is sent.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Transport returns an http.RoundTripper that injects the injector's
// faults into the requests it is given and sends the others through base.
// A nil base means http.DefaultTransport. Put it under the client you want
// to test, e.g. resilient.NewTransport(in.Transport(nil)), so that the
// client's retries meet the faults.
//
// An injected fault never reaches the network: a Status is answered with a
// made-up response, a Reset with the error a real reset gives, a Hang with
// the context's error once it ends.
func (in *Injector) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{in: in, base: base}
}

type transport struct {
	in   *Injector
	base http.RoundTripper
}

var _ http.RoundTripper = (*transport)(nil)

// RoundTrip injects req's fault, if any, or sends it through base.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	f, ok := t.in.choose(req)
	if !ok {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	if err := wait(ctx, t.in.delay(&f)); err != nil {
		closeBody(req)
		return nil, err
	}
	if f.Status != 0 {
		closeBody(req)
		resp := response(req, &f)
		if f.Reset || f.Hang {
			resp.Header.Del("Content-Length")
			resp.ContentLength = -1
			resp.Body = &cutBody{Reader: strings.NewReader(f.Body), req: req, reset: f.Reset, closed: make(chan struct{})}
		}
		return resp, nil
	}
	switch f.kind() {
	case kindReset:
		closeBody(req)
		return nil, resetError(req)
	case kindHang:
		<-ctx.Done()
		closeBody(req)
		return nil, ctx.Err()
	}
	return t.base.RoundTrip(req)
}

// CloseIdleConnections closes base's idle connections, if it has any, so
// that http.Client.CloseIdleConnections reaches them.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// wait waits d, or until ctx ends, and returns ctx's error then.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeBody closes req's body, as a RoundTripper must even when it does not
// send the request.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// response builds f's made-up response to req.
func response(req *http.Request, f *Fault) *http.Response {
	h := f.Header.Clone()
	if h == nil {
		h = make(http.Header)
	}
	if f.Body != "" && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(f.Body)))
	return &http.Response{
		Status:        strconv.Itoa(f.Status) + " " + http.StatusText(f.Status),
		StatusCode:    f.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(f.Body)),
		ContentLength: int64(len(f.Body)),
		Request:       req,
	}
}

// cutBody is the body of a response cut short: Body, then the end of the
// connection (io.ErrUnexpectedEOF) or a stall until the request's context
// ends or the body is closed.
type cutBody struct {
	*strings.Reader
	req    *http.Request
	reset  bool
	once   sync.Once
	closed chan struct{}
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.Reader.Len() > 0 {
		return b.Reader.Read(p)
	}
	if b.reset {
		return 0, io.ErrUnexpectedEOF
	}
	select {
	case <-b.req.Context().Done():
		return 0, b.req.Context().Err()
	case <-b.closed:
		return 0, errBodyClosed
	}
}

func (b *cutBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// errBodyClosed is what a read of a closed stalled body returns, as
// net/http's own body does.
var errBodyClosed = errors.New("http: read on closed response body")

// resetError returns the error net/http gives when the connection is reset
// while it waits for the response: read: connection reset by peer. Its Op
// is "read", not "dial", so that no client takes the request for one that
// never left.
func resetError(req *http.Request) error {
	return &net.OpError{Op: "read", Net: "tcp", Addr: hostAddr(req.URL.Host),
		Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

// hostAddr is the remote address of an injected reset: the request's host.
type hostAddr string

func (a hostAddr) Network() string { return "tcp" }
func (a hostAddr) String() string  { return string(a) }
