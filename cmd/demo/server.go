package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// server is an embedded HTTP server on 127.0.0.1 that plays a Scenario:
// what it answers depends on the phase in force when a request arrives.
// Every response carries an X-Request-Id. Each client under test gets a
// server of its own, so that the requests it receives are counted exactly.
type server struct {
	URL string // base URL, http://127.0.0.1:port

	sc    Scenario
	start time.Time
	seed  uint64
	seen  func(time.Time) // called for every request received
	n     atomic.Uint64   // requests received

	hs   *http.Server
	done sync.WaitGroup
}

// startServer starts a server for sc on a free port of 127.0.0.1. The
// outcome of the n-th request depends only on seed, n and the phase, so a
// run with the same seed draws the same sequence of failures. seen is
// called for every request.
func startServer(sc Scenario, start time.Time, seed uint64, seen func(time.Time)) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start embedded server: %w", err)
	}
	s := &server{URL: "http://" + ln.Addr().String(), sc: sc, start: start, seed: seed, seen: seen}
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		s.hs.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

// Close stops the server and waits until it has.
func (s *server) Close() {
	s.hs.Close()
	s.done.Wait()
}

// order is the body of a successful response.
type order struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// ServeHTTP answers as the current phase says.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	n := s.n.Add(1)
	if s.seen != nil {
		s.seen(now)
	}
	p := s.sc.Phases[s.sc.At(now.Sub(s.start))]
	rnd := rand.New(rand.NewPCG(s.seed, n))
	reqID := fmt.Sprintf("req-%012x", rnd.Uint64()>>16)
	w.Header().Set("X-Request-Id", reqID)
	fail := rnd.Float64() < p.FailRatio
	if d := p.Latency + time.Duration(rnd.Float64()*float64(p.Jitter)); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if !fail {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(order{ID: strings.TrimPrefix(r.URL.Path, "/orders/"), Status: "shipped"})
		return
	}
	if p.RetryAfter != "" {
		w.Header().Set("Retry-After", p.RetryAfter)
	}
	if !p.Problem {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(p.Status)
		fmt.Fprintln(w, "orders service is overloaded, try again shortly")
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(map[string]any{
		"type":     "https://example.com/problems/database-unavailable",
		"title":    "Database unavailable",
		"status":   p.Status,
		"detail":   "orders-db primary is not accepting connections (pool exhausted: 0 of 50 free)",
		"instance": r.URL.Path,
	})
}

// errUnreachable wraps the failure of the check that -url answers.
var errUnreachable = errors.New("cannot reach")

// checkReachable sends one GET to target with a plain client and reports an
// error when no HTTP response comes back within timeout. Any status is an
// answer: a service that returns 500 is reachable.
func checkReachable(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("%w %s: %v", errUnreachable, target, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("%w %s: no answer within %s", errUnreachable, target, timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%w %s: %v", errUnreachable, target, err)
	}
	resp.Body.Close()
	return nil
}
