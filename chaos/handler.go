package chaos

// This file holds the server side: Injector.Handler, middleware that
// injects faults into the requests a server receives.

import (
	"io"
	"net"
	"net/http"
	"strconv"
)

// Handler returns middleware that injects the injector's faults into the
// requests the server receives and passes the others to next. The faults
// happen on the server's real connections: a client sees a real reset, a
// real silence, a real status, as it would from a failing service.
//
// A Hang holds the handler until the client goes away or the server
// closes the connection (http.Server.Close, httptest.Server.Close after
// CloseClientConnections); http.Server.Shutdown waits for it, as for any
// handler still running.
func (in *Injector) Handler(next http.Handler) http.Handler {
	return &handler{in: in, next: next}
}

type handler struct {
	in   *Injector
	next http.Handler
}

// ServeHTTP injects r's fault, if any, or passes r to next.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.in.choose(r)
	if !ok {
		h.next.ServeHTTP(w, r)
		return
	}
	if wait(r.Context(), h.in.delay(&f)) != nil {
		return // the client went away
	}
	if f.Status != 0 {
		respond(w, r, &f)
		return
	}
	switch f.kind() {
	case kindReset:
		reset(w)
	case kindHang:
		// Read the body, so that net/http watches the connection and ends
		// the context when the client closes it.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	default:
		h.next.ServeHTTP(w, r)
	}
}

// respond writes f's status, header and body; with Reset or Hang, without a
// Content-Length, and then closes the connection or holds it.
func respond(w http.ResponseWriter, r *http.Request, f *Fault) {
	hdr := w.Header()
	for k, v := range f.Header {
		hdr[k] = append(hdr[k][:0:0], v...)
	}
	cut := f.Reset || f.Hang
	if cut {
		io.Copy(io.Discard, r.Body) // so that the context ends with the connection
		hdr.Del("Content-Length")
	} else {
		hdr.Set("Content-Length", strconv.Itoa(len(f.Body)))
	}
	w.WriteHeader(f.Status)
	io.WriteString(w, f.Body)
	if !cut {
		return
	}
	http.NewResponseController(w).Flush()
	if f.Reset {
		// A FIN, not a RST: a RST may destroy the response in the client's
		// receive buffer before it is read.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
			return
		}
		panic(http.ErrAbortHandler)
	}
	<-r.Context().Done()
}

// reset hijacks the request's connection and closes it with SO_LINGER 0,
// so that the kernel sends a RST and the client reads "connection reset by
// peer". Where the connection cannot be hijacked (HTTP/2), it aborts the
// response instead.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
