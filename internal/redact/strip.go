package redact

import "net/http"

// StripHeader deletes the credential-bearing headers from h in place and
// returns it: for a header the caller owns and will not send or read again,
// such as that of a response being turned into an error. Header copies
// instead.
func StripHeader(h http.Header) http.Header {
	for _, k := range sensitiveHeaders {
		delete(h, k)
	}
	return h
}
