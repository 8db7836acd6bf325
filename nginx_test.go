package resilient

// A real reverse proxy between the client and a service that goes down:
// nginx answers 502 with its own HTML page, the client retries, the
// host's breaker opens, the error reads in words, and calls succeed again
// once the service is back.

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resilient-http/resilient/internal/testpeers"
)

// startUpstream serves "ok" on addr ("127.0.0.1:0" for a free port).
func startUpstream(t *testing.T, addr string) *httptest.Server {
	t.Helper()
	l := must[net.Listener](t)(net.Listen("tcp", addr))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestNginx_upstreamDown_retriedThenBreakerOpens_readsInWords_recovers(t *testing.T) {
	up := startUpstream(t, "127.0.0.1:0")
	upAddr := up.Listener.Addr().String()
	ng, err := testpeers.StartNginx(upAddr)
	testpeers.Need(t, err)
	t.Cleanup(func() { _ = ng.Stop() })
	url := "http://" + ng.Addr + "/orders/42"

	clk := newFakeClock()
	c := newClient(t, withClock(clk), withRand(half),
		WithRetry(Retry{Max: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond, AttemptTimeout: -1,
			Budget: RetryBudget{Disabled: true}}),
		WithBreaker(Breaker{ConsecutiveFailures: 6, ProbeInterval: time.Minute, Cooldown: 10 * time.Minute, RampUp: -1}))
	get := func() (string, error) {
		resp, err := c.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	// seen waits until nginx has logged want requests in all (it logs
	// each once its answer is sent), and fails if it logged more.
	seen := func(want int) {
		t.Helper()
		var got int
		var rerr error
		waitFor(t, "nginx's access log", func() bool {
			got, rerr = ng.Requests()
			return rerr != nil || got >= want
		})
		if rerr != nil || got != want {
			t.Fatalf("nginx saw %d requests (%v), want %d\n%s", got, rerr, want, ng.ErrorLog())
		}
	}

	if body, err := get(); err != nil || body != "ok" {
		t.Fatalf("through nginx: %q, %v; want ok", body, err)
	}
	seen(1)

	up.Close()
	_, err = get()
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusBadGateway || se.Attempts != 4 {
		t.Fatalf("err = %v, want a 502 after 4 attempts", err)
	}
	seen(5)
	words := regexp.MustCompile(`^resilient: 502 Bad Gateway after 4 attempts in [0-9.]+[µm]?s: nginx/[0-9.]+$`)
	if !words.MatchString(se.Error()) || strings.Contains(err.Error(), "<") {
		t.Errorf("Error() = %q, want %v: nginx's page in words", se.Error(), words)
	}
	if !strings.Contains(string(se.Body), "<title>502 Bad Gateway</title>") {
		t.Errorf("Body = %q, want nginx's page as sent", se.Body)
	}

	// The sixth failure in a row opens the breaker: the second call's
	// first retry is refused, and the next call never reaches nginx.
	_, err = get()
	if !errors.As(err, &se) || se.Attempts != 2 || !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("err = %v, want a 502 after 2 attempts, stopped by the breaker", err)
	}
	stopped := regexp.MustCompile(`^resilient: 502 Bad Gateway after 2 attempts in [0-9.]+[µm]?s; retrying stopped, the host's circuit breaker opened: nginx/[0-9.]+$`)
	if !stopped.MatchString(se.Error()) {
		t.Errorf("Error() = %q, want %v", se.Error(), stopped)
	}
	seen(7)
	_, err = get()
	if co := refusal(t, err); co.Host != "http://"+ng.Addr || co.State != BreakerOpen || Attempts(err) != 0 {
		t.Fatalf("err = %v, want a refusal by the open breaker of %s", err, ng.Addr)
	}
	hosts := Hosts(c)
	if len(hosts) != 1 || hosts[0].State != BreakerOpen || hosts[0].Reason != "failing" {
		t.Fatalf("Hosts() = %+v, want nginx's breaker open", hosts)
	}
	seen(7)

	// The service comes back on the same port; after the breaker's hold,
	// the probe goes through and calls succeed again.
	startUpstream(t, upAddr)
	clk.Advance(10 * time.Minute)
	for i := range 3 {
		if body, err := get(); err != nil || body != "ok" {
			t.Fatalf("call %d after recovery: %q, %v; want ok", i, body, err)
		}
	}
	seen(10)
	if hosts := Hosts(c); hosts[0].State != BreakerClosed {
		t.Errorf("Hosts() = %+v, want nginx's breaker closed", hosts)
	}
}
