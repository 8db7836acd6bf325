package resilient

// Tests that the error pages of the common front doors (nginx, Apache
// httpd, HAProxy, Envoy, AWS ALB, Google Frontend, Cloudflare, Varnish,
// Fastly, Traefik, Caddy, IIS), in testdata/errorpages, read in words in
// the error, its log line and its retry events.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// rawPeer is an HTTP/1.1 server on 127.0.0.1 that answers every request
// with one fixed response, status line and headers as written, so that a
// test meets the exact reason phrase a proxy sends (Go's server would
// write its own).
type rawPeer struct {
	URL  string
	Body []byte // the response body
	hits atomic.Int64

	l     net.Listener
	head  []byte
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// serveFixture starts a rawPeer for testdata/errorpages/name: a status
// line, header lines, a blank line, then the body (Content-Length is
// added). It stops when the test ends.
func serveFixture(t *testing.T, name string) *rawPeer {
	t.Helper()
	raw := must[[]byte](t)(os.ReadFile(filepath.Join("testdata", "errorpages", name)))
	head, body, ok := bytes.Cut(raw, []byte("\n\n"))
	if !ok {
		t.Fatalf("%s: no blank line after the headers", name)
	}
	var h bytes.Buffer
	for line := range strings.SplitSeq(string(head), "\n") {
		h.WriteString(line + "\r\n")
	}
	h.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	p := &rawPeer{Body: body, head: h.Bytes(), conns: map[net.Conn]bool{}}
	p.l = must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	p.URL = "http://" + p.l.Addr().String() + "/orders/42"
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *rawPeer) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *rawPeer) serve(c net.Conn) {
	defer p.wg.Done()
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(r)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		p.hits.Add(1)
		if _, err := c.Write(append(p.head[:len(p.head):len(p.head)], p.Body...)); err != nil {
			return
		}
	}
}

func (p *rawPeer) close() {
	p.l.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func TestStatusError_frontDoorPagesReadInWords(t *testing.T) {
	cases := []struct {
		file string
		code int
		want string // the whole message
	}{
		{"nginx-502.http", 502,
			"resilient: 502 Bad Gateway after 4 attempts in 4ms (request abc-123): nginx/1.25.3"},
		{"apache-502.http", 502,
			"resilient: 502 Proxy Error after 4 attempts in 4ms: The proxy server received an invalid response from an upstream server. " +
				"The proxy server could not handle the request Reason: Error reading from remote server Apache/2.4.57 (Debian) Server at shop.exam…"},
		{"haproxy-503.http", 503,
			"resilient: 503 Service Unavailable after 4 attempts in 4ms: No server is available to handle this request."},
		{"envoy-503.http", 503,
			"resilient: 503 Service Unavailable after 4 attempts in 4ms (request 5d0f2d1a-8c8e-4b4e-9f1a-2f1c3a7b9e01): " +
				"upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: delayed connect error: 111"},
		{"aws-alb-502.http", 502,
			"resilient: 502 Bad Gateway after 4 attempts in 4ms"},
		{"google-frontend-502.http", 502,
			"resilient: 502 Bad Gateway after 4 attempts in 4ms: Error 502 (Server Error)!!1: 502. That’s an error. " +
				"The server encountered a temporary error and could not complete your request. Please try again in 30 seconds. That’s all we know."},
		{"cloudflare-522.http", 522,
			"resilient: 522 after 4 attempts in 4ms (request 84a1b2c3d4e5f607-AMS): shop.example.com | 522: Connection timed out: Error code 522 " +
				"Visit cloudflare.com for more information. 2026-12-06 10:23:45 UTC shop.example.com Host Error What happened? The initial connection betwee…"},
		{"varnish-503.http", 503,
			"resilient: 503 Backend fetch failed after 1 attempt; retrying stopped because the server asked to wait 5s, longer than the client's cap (Retry.MaxServerWait, or MaxWait): " +
				"Guru Meditation: XID: 32770 Varnish cache server"},
		{"fastly-503.http", 503,
			"resilient: 503 Backend is unhealthy after 4 attempts in 4ms: Guru Mediation: Details: cache-ams21080-AMS 1765016625 3817251431 Varnish cache server"},
		{"traefik-502.http", 502,
			"resilient: 502 Bad Gateway after 4 attempts in 4ms: Bad Gateway"},
		{"caddy-502.http", 502,
			"resilient: 502 Bad Gateway after 4 attempts in 4ms"},
		{"iis-502.http", 502,
			"resilient: 502 Bad Gateway after 4 attempts in 4ms: 502 - Web server received an invalid response while acting as a gateway or proxy server. " +
				"Server Error There is a problem with the page you are looking for, and it cannot be displayed. When the Web ser…"},
		{"go-522.http", 522,
			"resilient: 522 after 4 attempts in 4ms: origin did not answer in time"},
	}
	for _, tc := range cases {
		t.Run(strings.TrimSuffix(tc.file, ".http"), func(t *testing.T) {
			p := serveFixture(t, tc.file)
			var logs bytes.Buffer
			// The virtual clock makes the time the call took (the waits
			// alone) exact: 0.5ms + 1ms + 2ms.
			c := newClient(t, WithRetry(fast), WithBreaker(Breaker{Disabled: true}), withClock(newFakeClock()), withRand(half),
				WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			_, err := c.Get(p.URL)
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != tc.code {
				t.Fatalf("err = %v, want a *StatusError for %d", err, tc.code)
			}
			if got := p.hits.Load(); got != int64(se.Attempts) {
				t.Errorf("server saw %d attempts, the error says %d", got, se.Attempts)
			}
			if got := se.Error(); got != tc.want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tc.want)
			}
			if strings.Contains(err.Error(), "<") {
				t.Errorf("the message holds markup: %s", err)
			}
			if !bytes.Equal(se.Body, p.Body) {
				t.Errorf("Body = %q, want the raw page %q", se.Body, p.Body)
			}
			// The log lines: the final failure carries the message, and
			// each retry's reason is the status line, its code once.
			var failed, retries int
			dec := json.NewDecoder(&logs)
			for {
				var rec map[string]any
				if err := dec.Decode(&rec); err != nil {
					break
				}
				switch rec["msg"] {
				case "resilient: request failed":
					failed++
					if rec["error"] != se.Error() {
						t.Errorf("logged error %q, want %q", rec["error"], se.Error())
					}
				case "resilient: retrying":
					retries++
					if want := statusWords(tc.want); rec["reason"] != want {
						t.Errorf("retry reason %q, want %q", rec["reason"], want)
					}
				}
			}
			if failed != 1 || retries != se.Attempts-1 {
				t.Errorf("logged %d failures and %d retries, want 1 and %d", failed, retries, se.Attempts-1)
			}
		})
	}
}

// statusWords returns the status in a message: "522" from "resilient: 522
// after 4 attempts in 4ms...".
func statusWords(msg string) string {
	s := strings.TrimPrefix(msg, "resilient: ")
	s, _, _ = strings.Cut(s, " after ")
	return s
}
