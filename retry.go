package resilient

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/resilient-http/resilient/internal/body"
	"github.com/resilient-http/resilient/internal/headers"
)

// Backoff returns the wait before retry number n (0 for the first retry):
// "full jitter" exponential backoff, a uniform draw below
// min(maxWait, minWait·2ⁿ), where r is a random number in [0, 1). It is a
// pure function, safe to share.
func Backoff(n int, minWait, maxWait time.Duration, r float64) time.Duration {
	if n < 0 {
		n = 0
	}
	ceiling := float64(maxWait)
	if n < 62 {
		ceiling = math.Min(ceiling, float64(minWait)*math.Exp2(float64(n)))
	}
	return time.Duration(r * ceiling)
}

// checkRetry is the go-retryablehttp CheckRetry hook, and the whole retry
// policy: after each attempt it classifies the outcome, checks that the
// request may be sent again, computes the wait (server's Retry-After or
// RateLimit first, else jittered backoff), stops early when the wait would
// cross the deadline, the breaker is open or the retry budget is spent, and
// then waits. The wait happens here and not in go-retryablehttp's Backoff
// hook because Backoff receives no context (and no response after a
// network failure), so it cannot see the deadline or the call's state.
func (t *Transport) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	c := callFrom(ctx)
	if c == nil || c.refused != nil || ctx.Err() != nil {
		return false, nil
	}
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err
	}
	if Classify(resp, err) != Retryable {
		return false, nil
	}
	r := t.cfg.retry
	if c.attempts > r.Max || !c.replayable {
		return false, nil
	}
	if !c.idempotent && (err == nil || !neverSent(err)) {
		return false, nil
	}
	now := time.Now()
	var wait time.Duration
	asked := false
	if resp != nil {
		if d, ok := headers.ServerDelay(resp.Header, now); ok {
			c.retryAfter, wait, asked = d, d, true
			if d > r.MaxWait {
				return t.stopRetry(ctx, c, ErrRetryAfterTooLong)
			}
		}
	}
	if !asked {
		wait = Backoff(c.attempts-1, r.MinWait, r.MaxWait, t.cfg.rand())
	}
	if dl, ok := ctx.Deadline(); ok && !now.Add(wait).Before(dl) {
		if asked {
			return t.stopRetry(ctx, c, ErrRetryAfterTooLong)
		}
		return t.stopRetry(ctx, c, ErrDeadline)
	}
	if c.host.cb != nil && c.host.openNow() {
		return t.stopRetry(ctx, c, c.host.openError(nil))
	}
	if c.host.budget != nil && !c.host.budget.TryRetry(now.UnixNano()) {
		return t.stopRetry(ctx, c, ErrRetryBudgetExhausted)
	}
	c.keep(resp)
	t.tel.retrying(ctx, c, wait, reason(resp, err))
	if wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			c.stop = ctx.Err()
			return false, nil
		case <-timer.C:
		}
	}
	return true, nil
}

// stopRetry ends the retries for why, recording it for the final error.
func (t *Transport) stopRetry(ctx context.Context, c *call, why error) (bool, error) {
	c.stop = why
	t.tel.stopped(ctx, c, why)
	return false, nil
}

// reason describes a failed attempt in a few words, for logs and events.
func reason(resp *http.Response, err error) string {
	if err != nil {
		var te interface{ Timeout() bool }
		if errors.As(err, &te) && te.Timeout() {
			return "timeout"
		}
		return err.Error()
	}
	return body.Excerpt([]byte(resp.Status), maxStatus)
}
