package testpeers

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// noKeepAlive is a client whose connections close after each request, so
// every request opens a new connection through the proxy under test and no
// idle connection goroutine outlives a test.
var noKeepAlive = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// assertClosed checks that nothing accepts connections on addr any more.
func assertClosed(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", addr)
	}
}

// assertGone checks that no process has pid any more (Stop waited for it,
// so it is not even a zombie).
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Errorf("process %d still exists after Stop", pid)
	}
}

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		ci, require string
		want        bool
	}{
		{"", "", false},
		{"true", "", true},
		{"", "1", true},
		{"", "0", false},
	} {
		t.Setenv("CI", tc.ci)
		t.Setenv("RESILIENT_REQUIRE_PEERS", tc.require)
		if got := Required(); got != tc.want {
			t.Errorf("CI=%q RESILIENT_REQUIRE_PEERS=%q: Required() = %v, want %v", tc.ci, tc.require, got, tc.want)
		}
	}
}

// recordingTB records how Need ended the test. Its Skipf and Fatal do not
// stop the goroutine, unlike the real ones.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper()                          {}
func (r *recordingTB) Skipf(format string, args ...any) { r.skipped = fmt.Sprintf(format, args...) }
func (r *recordingTB) Fatal(args ...any)                { r.failed = fmt.Sprint(args...) }

func TestNeed_missingBinary(t *testing.T) {
	t.Setenv("RESILIENT_TOOLS", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	_, err := StartRedis()
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("StartRedis with no redis-server anywhere: err = %v, want ErrNotInstalled", err)
	}
	for _, want := range []string{"Redis", "redis-server", "scripts/install-peers.sh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	t.Setenv("CI", "")
	t.Setenv("RESILIENT_REQUIRE_PEERS", "")
	local := &recordingTB{}
	Need(local, err)
	if local.skipped == "" || local.failed != "" {
		t.Errorf("locally: Need skipped %q, failed %q; want a skip", local.skipped, local.failed)
	}

	t.Setenv("CI", "true")
	ci := &recordingTB{}
	Need(ci, err)
	if ci.failed == "" || ci.skipped != "" {
		t.Errorf("in CI: Need skipped %q, failed %q; want a failure", ci.skipped, ci.failed)
	}

	t.Setenv("CI", "")
	broken := &recordingTB{}
	Need(broken, errors.New("testpeers: redis-server exited before it was ready"))
	if broken.failed == "" {
		t.Errorf("a peer that is installed but does not start: Need skipped %q; want a failure", broken.skipped)
	}

	ok := &recordingTB{}
	Need(ok, nil)
	if ok.failed != "" || ok.skipped != "" {
		t.Errorf("nil error: Need skipped %q, failed %q; want nothing", ok.skipped, ok.failed)
	}
}

func TestRedis(t *testing.T) {
	r, err := StartRedis()
	Need(t, err)
	t.Cleanup(func() { _ = r.Stop() })

	if err := r.Ping(); err != nil {
		t.Fatal(err)
	}

	addr, pid := r.Addr, r.PID()
	if err := r.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := r.Ping(); err == nil {
		t.Fatal("PING answered after Kill")
	}
	assertGone(t, pid)

	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	if r.Addr != addr {
		t.Errorf("Restart moved the server from %s to %s", addr, r.Addr)
	}
	if err := r.Ping(); err != nil {
		t.Fatalf("after Restart: %v", err)
	}

	pid = r.PID()
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	assertClosed(t, addr)
	assertGone(t, pid)
	if err := r.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestToxiproxy(t *testing.T) {
	tp, err := StartToxiproxy()
	Need(t, err)
	t.Cleanup(func() { _ = tp.Stop() })

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	t.Cleanup(upstream.Close)

	listen, err := tp.CreateProxy("upstream", upstream.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, port, _ := net.SplitHostPort(listen); port == "" || port == "0" {
		t.Fatalf("CreateProxy returned %q, want the port it really listens on", listen)
	}
	if _, err := tp.CreateProxy("upstream", upstream.Listener.Addr().String()); err == nil {
		t.Error("creating a proxy twice: no error")
	}

	// get fetches through the proxy and reports how long it took.
	get := func() (time.Duration, error) {
		start := time.Now()
		resp, err := noKeepAlive.Get("http://" + listen + "/")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		if string(body) != "hello" {
			return 0, fmt.Errorf("body %q, want hello", body)
		}
		return time.Since(start), nil
	}
	if _, err := get(); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}

	const latency = 300 * time.Millisecond
	if err := tp.AddToxic("upstream", "slow", "latency", "downstream", 1, map[string]any{"latency": latency.Milliseconds()}); err != nil {
		t.Fatal(err)
	}
	if took, err := get(); err != nil {
		t.Fatalf("with latency: %v", err)
	} else if took < latency {
		t.Errorf("with a %s latency toxic the request took %s", latency, took)
	}
	if err := tp.RemoveToxic("upstream", "slow"); err != nil {
		t.Fatal(err)
	}
	if took, err := get(); err != nil {
		t.Fatalf("after RemoveToxic: %v", err)
	} else if took >= latency {
		t.Errorf("after RemoveToxic the request still took %s", took)
	}
	if err := tp.RemoveToxic("upstream", "slow"); err == nil {
		t.Error("removing a toxic twice: no error")
	}

	if err := tp.AddToxic("upstream", "reset", "reset_peer", "", 0, map[string]any{"timeout": 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(); err == nil {
		t.Error("with a reset_peer toxic: no error")
	}
	if err := tp.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, err := get(); err != nil {
		t.Fatalf("after Reset: %v", err)
	}

	if err := tp.SetProxyEnabled("upstream", false); err != nil {
		t.Fatal(err)
	}
	if _, err := get(); err == nil {
		t.Error("through a disabled proxy: no error")
	}
	if err := tp.SetProxyEnabled("upstream", true); err != nil {
		t.Fatal(err)
	}
	if _, err := get(); err != nil {
		t.Fatalf("after enabling the proxy again: %v", err)
	}

	if err := tp.DeleteProxy("upstream"); err != nil {
		t.Fatal(err)
	}
	assertClosed(t, listen)

	api, pid := tp.Addr, tp.PID()
	if err := tp.Stop(); err != nil {
		t.Fatal(err)
	}
	assertClosed(t, api)
	assertGone(t, pid)
}

// otlpTraceJSON is an OTLP/HTTP JSON export request with one span; the two
// %s are its trace ID (32 hex digits) and span ID (16).
const otlpTraceJSON = `{"resourceSpans":[{
  "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"testpeers"}}]},
  "scopeSpans":[{"scope":{"name":"testpeers"},"spans":[{
    "traceId":"%s","spanId":"%s","name":"GET /orders","kind":3,
    "startTimeUnixNano":"%d","endTimeUnixNano":"%d"}]}]}]}`

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestCollector(t *testing.T) {
	c, err := StartCollector()
	Need(t, err)
	t.Cleanup(func() { _ = c.Stop() })

	// A second collector beside the first: nothing binds a fixed port
	// (such as the collector's own metrics on :8888), so test binaries
	// running in parallel can each have one.
	c2, err := StartCollector()
	if err != nil {
		t.Fatalf("a second collector: %v", err)
	}
	if err := c2.Stop(); err != nil {
		t.Fatal(err)
	}

	traceID, spanID := randomHex(t, 16), randomHex(t, 8)
	now := time.Now()
	body := fmt.Sprintf(otlpTraceJSON, traceID, spanID, now.Add(-time.Millisecond).UnixNano(), now.UnixNano())
	resp, err := noKeepAlive.Post("http://"+c.HTTPEndpoint+"/v1/traces", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/traces: %s: %s", resp.Status, answer)
	}
	if err := c.WaitForLog(traceID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLog("never logged "+traceID, 100*time.Millisecond); err == nil {
		t.Error("WaitForLog found a string that was never logged")
	}
	log, err := c.Log()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "GET /orders") {
		t.Errorf("the log has the trace ID but not the span name:\n%s", log)
	}

	endpoints, pid := []string{c.HTTPEndpoint, c.GRPCEndpoint}, c.PID()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, e := range endpoints {
		assertClosed(t, e)
	}
	assertGone(t, pid)
}

func TestStartRedis_exitsEarly(t *testing.T) {
	tools := t.TempDir()
	if err := os.Mkdir(tools+"/bin", 0o755); err != nil {
		t.Fatal(err)
	}
	fake := "#!/bin/sh\necho \"fake redis-server: cannot bind $4\" >&2\nexit 1\n"
	if err := os.WriteFile(tools+"/bin/redis-server", []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RESILIENT_TOOLS", tools)

	_, err := StartRedis()
	if err == nil {
		t.Fatal("StartRedis with a redis-server that exits: no error")
	}
	if errors.Is(err, ErrNotInstalled) {
		t.Errorf("a binary that exits is not a missing one: %v", err)
	}
	for _, want := range []string{"exited before it was ready", "fake redis-server: cannot bind"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

func TestNginx(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "from upstream")
	}))
	n, err := StartNginx(up.Listener.Addr().String())
	Need(t, err)
	t.Cleanup(func() { _ = n.Stop() })

	get := func() (int, string) {
		t.Helper()
		resp, err := noKeepAlive.Get("http://" + n.Addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 || body != "from upstream" {
		t.Fatalf("through nginx: %d %q, want 200 from upstream", code, body)
	}
	up.Close()
	if code, body := get(); code != http.StatusBadGateway || !strings.Contains(body, "<center>nginx") {
		t.Fatalf("upstream down: %d %q, want nginx's own 502 page", code, body)
	}
	// The access log line is written once the response is sent.
	deadline := time.Now().Add(5 * time.Second)
	for got, _ := n.Requests(); got != 2; got, _ = n.Requests() {
		if time.Now().After(deadline) {
			t.Fatalf("nginx logged %d requests, want 2 (readiness checks aside)", got)
		}
		time.Sleep(5 * time.Millisecond)
	}

	addr, pid := n.Addr, n.PID()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	assertClosed(t, addr)
	assertGone(t, pid)
	if err := n.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
