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

	"github.com/resilient-http/resilient/chaos"
)

// server is an embedded HTTP server on 127.0.0.1 that plays a Scenario:
// a chaos.Injector with the scenario's phases, in front of an orders
// service that always succeeds. Every response carries an X-Request-Id.
// Each client under test gets a server of its own, so that the requests it
// receives are counted exactly.
type server struct {
	URL string // base URL, http://127.0.0.1:port

	seed uint64
	seen func(time.Time) // called for every request received
	n    atomic.Uint64   // requests received

	hs   *http.Server
	done sync.WaitGroup
}

// startServer starts a server for sc on a free port of 127.0.0.1. Its
// faults are drawn from a stream seeded with seed, so a run with the same
// seed draws the same sequence of failures. seen is called for every
// request.
func startServer(sc Scenario, start time.Time, seed uint64, seen func(time.Time)) (*server, error) {
	in, err := chaos.New(chaos.Config{Seed: seed, Start: start, Phases: sc.chaosPhases()})
	if err != nil {
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start embedded server: %w", err)
	}
	s := &server{URL: "http://" + ln.Addr().String(), seed: seed, seen: seen}
	s.hs = &http.Server{Handler: s.requestID(in.Handler(http.HandlerFunc(serveOrder))), ReadHeaderTimeout: 5 * time.Second}
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

// requestID counts every request, reports it to seen and gives its
// response an X-Request-Id drawn from seed and the request's number,
// before next (chaos, then the orders service) answers.
func (s *server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.n.Add(1)
		if s.seen != nil {
			s.seen(time.Now())
		}
		rnd := rand.New(rand.NewPCG(s.seed, n))
		w.Header().Set("X-Request-Id", fmt.Sprintf("req-%012x", rnd.Uint64()>>16))
		next.ServeHTTP(w, r)
	})
}

// serveOrder is the orders service when nothing goes wrong.
func serveOrder(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(order{ID: strings.TrimPrefix(r.URL.Path, "/orders/"), Status: "shipped"})
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
