package redact

import "net/http"

// StripHeader deletes the credential-bearing headers from h in place and
// returns it: for a header the caller owns and will not send or read again,
// such as that of a response being turned into an error. Header copies
// instead.
func StripHeader(h http.Header) http.Header {
	if len(h) <= len(sensitiveHeaders) {
		// One pass over a short header costs less than a delete per name.
		for k := range h {
			if sensitive(k) {
				delete(h, k)
			}
		}
		return h
	}
	for _, k := range sensitiveHeaders {
		delete(h, k)
	}
	return h
}

// sensitive reports whether k, a canonical key, is in sensitiveHeaders.
func sensitive(k string) bool {
	switch k {
	case "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
		"X-Api-Key", "X-Auth-Token", "X-Amz-Security-Token", "Proxy-Authenticate-Info":
		return true
	}
	return false
}
