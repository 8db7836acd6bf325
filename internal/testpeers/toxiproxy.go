package testpeers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Toxiproxy is a toxiproxy-server child process whose HTTP API listens on
// Addr, with a small client for that API. Start one with [StartToxiproxy].
// A test routes its traffic through a proxy made with CreateProxy and
// injects faults with AddToxic. The API methods are safe for concurrent use;
// Stop is not.
type Toxiproxy struct {
	// Addr is the host:port of the HTTP API.
	Addr string

	dir    string // log
	proc   *process
	client *http.Client
}

// StartToxiproxy starts toxiproxy-server with its API on a free 127.0.0.1
// port and returns once GET /version answers. Its error wraps
// [ErrNotInstalled] when toxiproxy-server is not installed; hand it to
// [Need].
func StartToxiproxy() (*Toxiproxy, error) {
	bin, err := findBinary("Toxiproxy", "toxiproxy-server")
	if err != nil {
		return nil, err
	}
	tp := &Toxiproxy{client: &http.Client{
		Timeout: 10 * time.Second,
		// No idle connections, so none (and none of their goroutines)
		// outlive a call.
		Transport: &http.Transport{DisableKeepAlives: true},
	}}
	tp.dir, err = launch("toxiproxy", 1, func(dir string, ports []int) (exitedEarly bool, err error) {
		tp.Addr = hostPort(ports[0])
		tp.proc, err = startProcess("toxiproxy-server", bin, dir, filepath.Join(dir, "toxiproxy.log"),
			"-host", "127.0.0.1", "-port", strconv.Itoa(ports[0]))
		if err != nil {
			return false, err
		}
		return tp.proc.waitReady(tp.Addr, func() error { return tp.do("GET", "/version", nil, nil) })
	})
	if err != nil {
		return nil, err
	}
	return tp, nil
}

// CreateProxy creates an enabled proxy called name that forwards to
// upstream (host:port) and listens on a free 127.0.0.1 port. It returns the
// address the proxy listens on.
func (tp *Toxiproxy) CreateProxy(name, upstream string) (listenAddr string, err error) {
	in := map[string]any{"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": true}
	var out struct {
		Listen string `json:"listen"`
	}
	if err := tp.do("POST", "/proxies", in, &out); err != nil {
		return "", err
	}
	return out.Listen, nil
}

// SetProxyEnabled enables or disables the proxy called name. A disabled
// proxy closes its connections and refuses new ones, as a host that is down
// would; Reset enables it again.
func (tp *Toxiproxy) SetProxyEnabled(name string, enabled bool) error {
	return tp.do("POST", "/proxies/"+url.PathEscape(name), map[string]any{"enabled": enabled}, nil)
}

// DeleteProxy deletes the proxy called name and closes its listener.
func (tp *Toxiproxy) DeleteProxy(name string) error {
	return tp.do("DELETE", "/proxies/"+url.PathEscape(name), nil, nil)
}

// AddToxic adds a toxic called toxicName of type toxicType ("latency",
// "bandwidth", "slow_close", "timeout", "reset_peer", "slicer",
// "limit_data") to the proxy called proxy. stream is "downstream" (towards
// the client) or "upstream" (towards the server); "" means downstream.
// toxicity is the share of connections it applies to, in (0, 1]; 0 means 1.
// attrs are the type's attributes, such as {"latency": 500, "jitter": 50}
// (milliseconds) for latency or {"timeout": 0} for reset_peer.
func (tp *Toxiproxy) AddToxic(proxy, toxicName, toxicType, stream string, toxicity float64, attrs map[string]any) error {
	in := map[string]any{"name": toxicName, "type": toxicType}
	if stream != "" {
		in["stream"] = stream
	}
	if toxicity != 0 {
		in["toxicity"] = toxicity
	}
	if attrs != nil {
		in["attributes"] = attrs
	}
	return tp.do("POST", "/proxies/"+url.PathEscape(proxy)+"/toxics", in, nil)
}

// RemoveToxic removes the toxic called toxicName from the proxy called proxy.
func (tp *Toxiproxy) RemoveToxic(proxy, toxicName string) error {
	return tp.do("DELETE", "/proxies/"+url.PathEscape(proxy)+"/toxics/"+url.PathEscape(toxicName), nil, nil)
}

// Reset enables every proxy and removes every toxic (POST /reset). Proxies
// stay. Call it between tests that share a server.
func (tp *Toxiproxy) Reset() error {
	return tp.do("POST", "/reset", nil, nil)
}

// PID returns the process ID of toxiproxy-server.
func (tp *Toxiproxy) PID() int { return pidOf(tp.proc) }

// Stop stops toxiproxy-server (SIGTERM, then SIGKILL after [StopGrace]),
// which closes every proxy, waits for it to exit and removes its log. It may
// be called more than once.
func (tp *Toxiproxy) Stop() error {
	return stopPeer(tp.proc, tp.dir)
}

// do sends in as JSON to the API and decodes a 2xx answer into out when out
// is not nil. Any other status is an error holding the API's message.
func (tp *Toxiproxy) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("testpeers: toxiproxy %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+tp.Addr+path, body)
	if err != nil {
		return fmt.Errorf("testpeers: toxiproxy %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := tp.client.Do(req)
	if err != nil {
		return fmt.Errorf("testpeers: toxiproxy %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("testpeers: toxiproxy %s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("testpeers: toxiproxy %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("testpeers: toxiproxy %s %s: decoding %q: %w", method, path, b, err)
		}
	}
	return nil
}
