package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"time"

	"github.com/resilient-http/resilient"
)

// target is one client under test and what it calls.
type target struct {
	Name   string       // "plain" or "resilient"
	Client *http.Client // the client under test
	URL    string       // base URL; calls go to URL/orders/<n> unless Exact
	Exact  bool         // call URL itself (a real service, -url)

	rec  *recorder
	ex   *examples
	sent func(time.Time) // when set, counts requests as the client writes them
}

// load is the traffic of one run: each target receives rate calls per
// second, whatever happens to earlier calls (the way a service's incoming
// requests do not wait for its backend), with at most inFlight calls in
// flight per target; when that many are in flight, new calls wait.
type load struct {
	rate     float64
	inFlight int
	start    time.Time
	end      time.Time
	grace    time.Duration // how long calls still in flight at end may take
}

// drive sends calls to t on schedule until l.end or until ctx is done,
// then waits for the calls in flight. Calls still running l.grace after
// l.end are canceled.
func (l load) drive(ctx context.Context, t *target) {
	callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopCalls := context.AfterFunc(ctx, cancel) // an interrupted run cancels its calls
	defer stopCalls()
	if t.sent != nil {
		callCtx = httptrace.WithClientTrace(callCtx, &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { t.sent(time.Now()) },
		})
	}

	sem := make(chan struct{}, l.inFlight)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / l.rate)
	end := time.NewTimer(time.Until(l.end))
	defer end.Stop()
	wait := time.NewTimer(0)
	defer wait.Stop()
loop:
	for n := 0; ; n++ {
		// Call n is due at a fixed time: a late call does not delay the
		// next ones, so that both clients make the same number of calls.
		at := l.start.Add(time.Duration(n) * interval)
		if !at.Before(l.end) {
			break
		}
		wait.Reset(time.Until(at))
		select {
		case <-ctx.Done():
			break loop
		case <-wait.C:
		}
		select {
		case sem <- struct{}{}:
		default: // all slots busy: wait for one, but not past the end
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break loop
			case <-end.C:
				break loop
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t.call(callCtx, n)
		}()
	}
	late := time.AfterFunc(time.Until(l.end.Add(l.grace)), cancel)
	wg.Wait()
	late.Stop()
}

// call makes call number n and records its outcome.
func (t *target) call(ctx context.Context, n int) {
	u := t.URL
	if !t.Exact {
		u += "/orders/" + strconv.Itoa(n)
	}
	start := time.Now()
	t.rec.started(start)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.rec.ended(start, time.Now(), broken, "")
		return
	}
	resp, err := t.Client.Do(req)
	if err == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	end := time.Now()
	o := classify(resp, err)
	var reason string
	var co *resilient.CircuitOpenError
	if o == refused && errors.As(err, &co) {
		reason = co.Reason
	}
	t.rec.ended(start, end, o, reason)
	if o != succeeded {
		t.ex.keep(t.Name, t.rec.sc.Phases[t.rec.sc.At(end.Sub(t.rec.start))].Name, resp, err)
	}
}

// classify returns the demo's outcome for a call.
func classify(resp *http.Response, err error) outcome {
	var se *resilient.StatusError
	switch {
	case err == nil && resp.StatusCode < 300:
		return succeeded
	case err == nil, errors.As(err, &se):
		return failed
	case errors.Is(err, resilient.ErrCircuitOpen):
		return refused
	}
	return broken
}

// examples keeps one error of each kind that a user of each client meets,
// for the summary. Errors are kept as text when they happen, because a
// *CircuitOpenError's text says how long until the next probe. It is safe
// for concurrent use.
type examples struct {
	mu          sync.Mutex
	plain       string                 // the plain client's bare error, as code commonly writes it
	plainStatus int                    // its status
	status      *resilient.StatusError // the most telling *StatusError
	statusText  string                 // the whole error it came in, as text
	statusWhy   string                 // its Err, as text, or ""
	statusPhase string                 // the phase it ended in
	open        *resilient.CircuitOpenError
	openText    string // the whole error the refusal came in, as text
}

// keep considers the failed outcome of a call by client that ended in
// phase.
func (e *examples) keep(client, phase string, resp *http.Response, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		if client != "plain" {
			return // e.g. a 404 from a real service: not an error for either client
		}
		// The plain client's error, as most code turns a bad status into one.
		// The outage's 500 tells more than a flaky 503, so it wins.
		if e.plain == "" || e.plainStatus != http.StatusInternalServerError && resp.StatusCode == http.StatusInternalServerError {
			e.plain = fmt.Sprintf("request failed with status code %d", resp.StatusCode)
			e.plainStatus = resp.StatusCode
		}
		return
	}
	var se *resilient.StatusError
	if errors.As(err, &se) {
		if e.status == nil || better(se, e.status) {
			e.status, e.statusText, e.statusPhase, e.statusWhy = se, err.Error(), phase, ""
			if se.Stop != nil {
				e.statusWhy = se.Stop.Error()
			}
		}
		return
	}
	var co *resilient.CircuitOpenError
	if e.open == nil && errors.As(err, &co) && co.State == resilient.BreakerOpen {
		e.open, e.openText = co, err.Error()
	}
}

// better reports whether a tells more than b: problem details first, then
// more attempts.
func better(a, b *resilient.StatusError) bool {
	if (a.Problem != nil) != (b.Problem != nil) {
		return a.Problem != nil
	}
	return a.Attempts > b.Attempts
}
