package resilient

// This file holds the per-call policy: Policy, which changes what the
// client does for one call (retries, idempotency, the breaker), and
// ContextWithPolicy, which puts it in the request's context. newCall reads
// it once per call (applyPolicy); a call without one pays a single
// context lookup.

import (
	"context"
	"fmt"
)

// Policy changes the client's behaviour for the calls whose request
// context carries it (see ContextWithPolicy), without a second client.
// Its zero value changes nothing; each field says what it overrides.
type Policy struct {
	// Retry, when not nil, replaces the client's Retry.Max, MinWait,
	// MaxWait, MaxServerWait and Backoff for the call: a zero (nil) field
	// keeps the client's value, and Max -1 turns retries off. AttemptTimeout and Budget stay the client's;
	// setting them here makes the call fail with ErrInvalidOption. A
	// call that raises Max on a client built with retries off (Max -1) has
	// no retry budget to spend, so its retries are limited by Max alone.
	Retry *Retry
	// NoRetry sends the call once, whatever Retry says.
	NoRetry bool
	// Idempotent marks the request as safe to send more than once, as an
	// Idempotency-Key header does: a POST or PATCH is retried like a GET.
	Idempotent bool
	// SkipBreaker sends every attempt of the call whatever the host's
	// circuit breaker says, and keeps its outcomes out of the breaker's
	// counts: for a health check or an operator's manual probe of a host
	// that the breaker holds open. The retry budget still applies.
	SkipBreaker bool
	// Hedging, when not nil, replaces the client's hedging policy for the
	// call (see WithHedging): it turns hedging on for a client built
	// without it, and MaxAttempts 1 turns it off. Zero fields take
	// DefaultHedging's values. Only a call that may be sent twice is
	// hedged, whatever the policy.
	Hedging *Hedging
}

type policyKey struct{}

// ContextWithPolicy returns a copy of ctx that carries p: a request made
// with it (http.NewRequestWithContext, req.WithContext) follows p instead
// of the client's policy where p says so. It replaces any policy ctx
// carries already. An invalid p (Retry.Max below -1, a negative wait)
// makes the request fail, before anything is sent, with an error matching
// ErrInvalidOption.
func ContextWithPolicy(ctx context.Context, p Policy) context.Context {
	if p.Retry != nil {
		r := *p.Retry // the caller may change theirs later
		p.Retry = &r
	}
	if p.Hedging != nil {
		h := *p.Hedging
		p.Hedging = &h
	}
	return context.WithValue(ctx, policyKey{}, &p)
}

// applyPolicy applies the Policy in c's request context, if any, to c.
// It runs once per call, in newCall.
func (c *call) applyPolicy(p *Policy) {
	if p.Idempotent {
		c.idempotent = true
	}
	c.skipBreaker = p.SkipBreaker
	if p.Retry == nil && !p.NoRetry && p.Hedging == nil {
		return
	}
	cp := &callPolicy{retry: c.t.cfg.retry}
	c.policy = cp
	if p.Hedging != nil {
		cp.hedgeSet = true
		h, err := p.Hedging.normalize()
		if err != nil {
			cp.bad = fmt.Errorf("%w: Policy.%s", ErrInvalidOption, err)
		}
		cp.hedge = h
	}
	r := &cp.retry
	if o := p.Retry; o != nil {
		switch {
		case o.Max < -1:
			cp.bad = fmt.Errorf("%w: Policy.Retry.Max is %d; use -1 (or NoRetry) to disable retries, or 0 for the client's", ErrInvalidOption, o.Max)
		case o.MinWait < 0 || o.MaxWait < 0 || o.MaxServerWait < 0:
			cp.bad = fmt.Errorf("%w: Policy.Retry.MinWait (%s), MaxWait (%s) and MaxServerWait (%s) must not be negative", ErrInvalidOption, o.MinWait, o.MaxWait, o.MaxServerWait)
		case o.AttemptTimeout != 0 || o.Budget != (RetryBudget{}):
			cp.bad = fmt.Errorf("%w: Policy.Retry sets AttemptTimeout or Budget, which are the client's (WithRetry); a call can bound its time with its context's deadline", ErrInvalidOption)
		}
		if o.Max != 0 {
			r.Max = o.Max
		}
		if o.MinWait != 0 {
			r.MinWait = o.MinWait
		}
		if o.MaxWait != 0 {
			r.MaxWait = o.MaxWait
		}
		if o.MaxServerWait != 0 {
			r.MaxServerWait = o.MaxServerWait
		}
		if o.Backoff != nil {
			r.Backoff = o.Backoff
		}
		if cp.bad == nil && r.MinWait > r.MaxWait {
			cp.bad = fmt.Errorf("%w: Policy.Retry.MinWait (%s) is above MaxWait (%s)", ErrInvalidOption, r.MinWait, r.MaxWait)
		}
	}
	if p.NoRetry {
		r.Max = -1
	}
}

// callPolicy is what a Policy changes in a call beyond its flags: the
// retry policy, or why the Policy is invalid.
type callPolicy struct {
	retry    Retry
	hedge    *Hedging // Policy.Hedging, normalized; nil turns hedging off
	hedgeSet bool     // Policy.Hedging was given
	bad      error    // the Policy is invalid: the call fails before any attempt
}

// retryPolicy returns the retry policy of c: the client's, or the one its
// Policy set.
func (c *call) retryPolicy() *Retry {
	if c.policy != nil {
		return &c.policy.retry
	}
	return &c.t.cfg.retry
}
