package resilient

// This file holds the timeouts: the attempt timeout (Retry.AttemptTimeout),
// how an attempt that gets no response headers in time is abandoned and
// the error it then returns, and the body wrapper that ends WithTimeout's
// deadline when the caller is done. With New's own transport the timeout is the
// transport's ResponseHeaderTimeout and costs nothing per request; with a
// base transport of the caller's it is the attempt's context, canceled by
// the Transport's watchdog (watchdog.go): no timer, no goroutine and no
// context allocation per attempt.

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// attemptTimeoutError reports an attempt that got no response headers in
// time. It matches ErrAttemptTimeout and is a net.Error timeout.
type attemptTimeoutError struct {
	d     time.Duration
	cause error
}

func (e *attemptTimeoutError) Error() string {
	return "resilient: no response headers within the attempt timeout of " + e.d.String()
}
func (e *attemptTimeoutError) Unwrap() error        { return e.cause }
func (e *attemptTimeoutError) Is(target error) bool { return target == ErrAttemptTimeout }
func (e *attemptTimeoutError) Timeout() bool        { return true }
func (e *attemptTimeoutError) Temporary() bool      { return true }

// roundTripWithTimeout bounds one attempt of c until its response headers
// by canceling its context, an attemptCtx that the watchdog cancels once
// the attempt timeout has passed. It serves base transports that are not
// an *http.Transport of ours, whose ResponseHeaderTimeout does the same at
// no cost. The first attempt's context lives in the call; a retry's, or a
// hedged attempt's, is allocated, since the previous one may have been
// canceled or may still run.
func (t *Transport) roundTripWithTimeout(c *call, next http.RoundTripper, r *http.Request) (*http.Response, error) {
	a := &c.first
	if a.parent != nil || c.hedge != nil {
		// Taken, or attempts of a hedged call may run at once.
		a = new(attemptCtx)
	}
	// The parent is the attempt's own context (a hedged attempt's can be
	// canceled alone), or the call for the caller's request sent as is.
	a.parent = r.Context()
	if r == c.req {
		a.parent = c
	}
	a.node.owner = a
	now := c.started
	if a != &c.first || c.attempts != 1 || c.probeWaits != 0 || now == 0 {
		// Not the call's first attempt, or one sent after waiting for a
		// probe (waitForProbe): it starts now, not when the call did.
		now = t.watch.now()
	}
	t.watch.start(&a.node, now)
	resp, err := next.RoundTrip(r.WithContext(a))
	t.watch.stop(&a.node)
	a.mu.Lock()
	// From here a late expiry (fire unlinks a wait, then expires it
	// outside the lock) is ignored: the attempt has its outcome.
	a.answered = true
	expired := a.expired
	a.mu.Unlock()
	if err != nil {
		if expired && c.Context.Err() == nil {
			err = &attemptTimeoutError{d: t.ctxTimeout, cause: err}
		}
		a.release()
		return nil, err
	}
	if a.following() {
		// The context follows the caller's until the body is closed.
		resp.Body = &releaseOnClose{ReadCloser: resp.Body, a: a}
	}
	return resp, nil
}

// attemptCtx is the context of one attempt bounded through its context:
// the call's context, canceled as well when the watchdog finds the attempt
// past its timeout. Done's channel is made only when a base transport asks
// for it, and follows the call's context only then. It implements the
// AfterFunc method that the context package looks for, so that contexts
// derived from it (as *http.Transport derives one) need no goroutine.
type attemptCtx struct {
	parent context.Context // the call; nil while unused

	mu         sync.Mutex
	done       chan struct{} // made by the first Done or AfterFunc
	err        error         // set once canceled
	expired    bool          // canceled by the watchdog
	answered   bool          // the attempt returned; the watchdog may no longer cancel it
	funcs      []func()      // AfterFunc's, nil once run or stopped
	stopParent func() bool   // ends following the call's context

	node watchNode // in the Transport's watchdog while the attempt waits for headers
}

// expire cancels a: its attempt got no response headers in time.
func (a *attemptCtx) expire() { a.cancel(errAttemptDeadline, true) }

func (a *attemptCtx) Deadline() (time.Time, bool) { return a.parent.Deadline() }
func (a *attemptCtx) Value(key any) any           { return a.parent.Value(key) }

func (a *attemptCtx) Done() <-chan struct{} {
	a.mu.Lock()
	a.initLocked()
	d := a.done
	a.mu.Unlock()
	return d
}

func (a *attemptCtx) Err() error {
	a.mu.Lock()
	err := a.err
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if err = a.parent.Err(); err != nil {
		a.cancel(err, false)
	}
	return err
}

// AfterFunc arranges for f to run in its own goroutine once a is done, as
// context.AfterFunc does; stop reports whether it kept f from running.
func (a *attemptCtx) AfterFunc(f func()) (stop func() bool) {
	a.mu.Lock()
	a.initLocked()
	if a.err != nil {
		a.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	i := len(a.funcs)
	a.funcs = append(a.funcs, f)
	a.mu.Unlock()
	return func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		if i < len(a.funcs) && a.funcs[i] != nil {
			a.funcs[i] = nil
			return true
		}
		return false
	}
}

// initLocked makes the Done channel and, when the call's context can end,
// follows it. a.mu is held.
func (a *attemptCtx) initLocked() {
	if a.done != nil {
		return
	}
	a.done = make(chan struct{})
	if a.err != nil {
		close(a.done)
		return
	}
	if a.parent.Done() != nil {
		p := a.parent
		a.stopParent = context.AfterFunc(p, func() { a.cancel(p.Err(), false) })
	}
}

// cancel ends a with err, once. An expiry that comes after the attempt
// returned does nothing.
func (a *attemptCtx) cancel(err error, expired bool) {
	a.mu.Lock()
	if a.err != nil || expired && a.answered {
		a.mu.Unlock()
		return
	}
	a.err, a.expired = err, expired
	if a.done != nil {
		close(a.done)
	}
	funcs := a.funcs
	a.funcs = nil
	a.mu.Unlock()
	for _, f := range funcs {
		if f != nil {
			go f()
		}
	}
}

// following reports whether a follows the call's context, which then
// must be released when the attempt is over.
func (a *attemptCtx) following() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopParent != nil
}

// release stops following the call's context.
func (a *attemptCtx) release() {
	a.mu.Lock()
	stop := a.stopParent
	a.stopParent = nil
	a.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// releaseOnClose releases an attempt's context when its body is closed.
type releaseOnClose struct {
	io.ReadCloser
	a *attemptCtx
}

func (b *releaseOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.a.release()
	return err
}

// cancelBody ends a call's WithTimeout deadline when the caller closes the
// response body.
type cancelBody struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
