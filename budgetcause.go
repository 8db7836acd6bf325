package resilient

// This file holds what a failed attempt tells the host's retry budget of
// the load on the host (internal/budget): a timeout or a 429 says that
// load hurts it, any other failure says nothing of load.

import (
	"errors"
	"net"
	"net/http"

	"github.com/resilient-http/resilient/internal/budget"
)

// budgetCause returns the budget.Cause of a failed attempt's result.
func budgetCause(r result) budget.Cause {
	if r.resp != nil && r.resp.StatusCode == http.StatusTooManyRequests {
		return budget.Throttled
	}
	var ne net.Error
	if r.err != nil && (errors.Is(r.err, ErrAttemptTimeout) || errors.As(r.err, &ne) && ne.Timeout()) {
		return budget.Timeout
	}
	return budget.Failure
}
