package resilient

// This file holds WithPrepareRetry, the hook that changes the request of
// each retry (to sign it again, or refresh a token), and the error of a
// retry it refused to send. rewind (retry.go) calls it.

import (
	"net/http"
)

// WithPrepareRetry makes the client call f before every retry, with the
// request the retry will send: a copy of the previous attempt's request,
// its body rewound, its header a copy of its own, so that the caller's
// request is never changed. f may change it, to sign it again (a
// signature that covers a date), to refresh a token, or to mark it as a
// retry; what it changes is sent on this retry and on every later one.
// f is not called before the first attempt, nor for a hedge, which is a
// copy of the attempt in flight (see WithHedging). An error from f ends
// the call before the retry is sent, with a *TransportError whose Err
// wraps it, so errors.Is finds it. f runs on the call's goroutine, from
// many calls at once, and must be safe for concurrent use. A nil f is
// ignored.
func WithPrepareRetry(f func(*http.Request) error) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.prepareRetry = f
		}
	})
}

// prepareRetryError is the outcome of a retry that WithPrepareRetry's
// function refused: the retry was not sent.
type prepareRetryError struct{ err error }

func (e *prepareRetryError) Error() string {
	return "resilient: retry not sent, preparing it failed: " + e.err.Error()
}
func (e *prepareRetryError) Unwrap() error { return e.err }
