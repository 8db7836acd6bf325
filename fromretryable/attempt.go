package fromretryable

// This file holds what go-retryablehttp does inside its HTTPClient, once
// per attempt, that resilient's options do not: RequestLogHook, and the
// cookie jar.

import (
	"net/http"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/resilient-http/resilient"
)

// eachAttempt is the base transport of a client whose go-retryablehttp
// client has a RequestLogHook or a Jar: before each attempt it runs the
// hook, numbered from 0, and adds the jar's cookies; after it, the jar
// keeps the cookies of the response, whatever its status, as an
// *http.Client with a Jar does for go-retryablehttp's attempts. It works
// on a copy of the attempt's request, so that the caller's is never
// changed, and is safe for concurrent use if the hook and the jar are.
type eachAttempt struct {
	next    http.RoundTripper
	request retryablehttp.RequestLogHook // nil: none
	logger  retryablehttp.Logger         // what the hook receives
	jar     http.CookieJar               // nil: none
}

func (t *eachAttempt) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if t.request != nil {
		// Before the jar's cookies, as go-retryablehttp calls it before
		// its HTTPClient adds them.
		t.request(t.logger, r, resilient.AttemptFromContext(r.Context())-1)
	}
	if t.jar != nil {
		for _, c := range t.jar.Cookies(r.URL) {
			r.AddCookie(c)
		}
	}
	resp, err := t.next.RoundTrip(r)
	if err == nil && t.jar != nil {
		if rc := resp.Cookies(); len(rc) > 0 {
			t.jar.SetCookies(r.URL, rc)
		}
	}
	return resp, err
}

// CloseIdleConnections closes the idle connections of the transport below,
// so that resilient.Close reaches them.
func (t *eachAttempt) CloseIdleConnections() {
	if ci, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}
