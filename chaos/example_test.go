package chaos_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"time"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/chaos"
)

// A client under test meets 503s with Retry-After without a failing
// server: the Transport answers for it. Here resilient retries through
// them; the server only sees the attempts that got through.
func ExampleInjector_Transport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	var calls int
	in, err := chaos.New(chaos.Config{Seed: 1, Rules: []chaos.Rule{{
		Rate:  1,
		Match: func(*http.Request) bool { calls++; return calls <= 2 }, // the first two attempts
		Fault: chaos.Fault{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"0"}}},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &http.Client{Transport: resilient.NewTransport(in.Transport(nil))}
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	fmt.Printf("%+v\n", in.Stats())
	// Output:
	// 200 ok
	// {Requests:3 Delayed:0 Status:2 Reset:0 Hang:0}
}

// On the server side, the middleware resets real connections: the client
// reads a TCP RST, as from a crashing service.
func ExampleInjector_Handler() {
	in, err := chaos.New(chaos.Config{Rules: []chaos.Rule{{Rate: 1, Fault: chaos.Fault{Reset: true}}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	srv := httptest.NewServer(in.Handler(ok))
	defer srv.Close()

	plain := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	_, err = plain.Get(srv.URL)
	fmt.Println("reset:", errors.Is(err, syscall.ECONNRESET))

	in.SetEnabled(false) // the game day is over
	resp, err := plain.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("after:", resp.StatusCode)
	// Output:
	// reset: true
	// after: 200
}

// A timetable: ten seconds of 50% 503, five of outage, then healthy. The
// clock is injected, so the phases can be walked without waiting.
func ExampleConfig_phases() {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	now := t0
	in, err := chaos.New(chaos.Config{Start: t0, Now: func() time.Time { return now }, Phases: []chaos.Phase{
		{Name: "flaky", Duration: 10 * time.Second, Rules: []chaos.Rule{{Rate: 0.5, Fault: chaos.Fault{Status: 503}}}},
		{Name: "outage", Duration: 5 * time.Second, Rules: []chaos.Rule{{Rate: 1, Fault: chaos.Fault{Reset: true}}}},
		{Name: "healthy"}, // lasts for ever
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, at := range []time.Duration{0, 12 * time.Second, time.Minute} {
		now = t0.Add(at)
		name, _ := in.Phase()
		fmt.Println(at, name)
	}
	// Output:
	// 0s flaky
	// 12s outage
	// 1m0s healthy
}

// Draw is a pure function: the same seed and key always give the same
// number, so the same call meets the same fault in every run and client.
func ExampleDraw() {
	fmt.Println(chaos.Draw(1, 42) == chaos.Draw(1, 42), chaos.Draw(1, 42) == chaos.Draw(2, 42))
	// Output: true false
}

// A response that dies mid-body: the status and the start of the body
// arrive, then the connection ends. Code that checks only the status, or
// reads the body without checking the error, is caught out here.
func ExampleFault() {
	in, err := chaos.New(chaos.Config{Rules: []chaos.Rule{{Rate: 1,
		Fault: chaos.Fault{Status: http.StatusOK, Body: `{"orders":[1,2`, Reset: true}}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &http.Client{Transport: in.Transport(nil)} // nothing is sent
	resp, err := client.Get("http://orders.example/orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body), err)
	// Output: 200 {"orders":[1,2 unexpected EOF
}

// With Key, a request's fault depends on its key alone: two injectors with
// the same seed, fed the same calls in opposite orders, fault the same
// ones. That is how two clients are compared on the same faults.
func ExampleConfig_key() {
	cfg := chaos.Config{
		Seed:  7,
		Rules: []chaos.Rule{{Rate: 0.5, Fault: chaos.Fault{Status: http.StatusServiceUnavailable}}},
		Key: func(r *http.Request) (uint64, bool) {
			n, err := strconv.ParseUint(r.Header.Get("X-Call"), 10, 64)
			return n, err == nil
		},
	}
	a, _ := chaos.New(cfg)
	b, _ := chaos.New(cfg)
	status := func(in *chaos.Injector, call int) int {
		req, _ := http.NewRequest(http.MethodGet, "http://orders.example/", nil)
		req.Header.Set("X-Call", strconv.Itoa(call))
		resp, err := in.Transport(okTransport{}).RoundTrip(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var fromA, fromB [6]int
	for i := range 6 {
		fromA[i] = status(a, i)
		fromB[5-i] = status(b, 5-i)
	}
	fmt.Println(fromA == fromB, fromA)
	// Output: true [200 200 503 503 503 503]
}

// okTransport answers 200 without a network, for the examples.
type okTransport struct{}

func (okTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}
