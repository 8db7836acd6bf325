package resilient

// Fuzz tests for what the root package builds from untrusted input: RFC
// 9457 problem details, and the *StatusError (fields and message) built
// from whatever response a server sends. The parsers of internal/ have
// their own: internal/headers (Retry-After, RateLimit, request IDs),
// internal/body (body excerpts) and internal/redact (URLs).

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParseProblem: any Content-Type and body. parseProblem never panics,
// accepts only a JSON object sent as application/problem+json, keeps only
// string members as strings and a plausible status, and never puts a
// standard member among the extras.
func FuzzParseProblem(f *testing.F) {
	f.Add("application/problem+json", []byte(`{"type":"https://example.com/probs/db","title":"Database unavailable","status":503,"detail":"pool exhausted","instance":"/orders/42","retryable":true}`))
	f.Add("application/problem+json; charset=utf-8", []byte(`{"title":42,"detail":null,"status":"503","errors":[{"field":"qty"}]}`))
	f.Add("APPLICATION/PROBLEM+JSON", []byte(`{"status":99.5}`))
	f.Add("application/problem+json; charset", []byte(`{"title": "broken`))
	f.Add("application/json", []byte(`{"title":"not a problem"}`))
	f.Add("application/problem+json", []byte(`null`))
	f.Add("application/problem+json", []byte(`[{"title":"array"}]`))
	f.Add("application/problem+json", []byte(`{"title":"a\u0000b\nc\u001b[2J","title":"dup"}`))
	f.Add("application/problem+json", []byte(`{"status":1e400}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		p := parseProblem(contentType, body)
		mt, _, err := mime.ParseMediaType(contentType)
		isProblem := err == nil && mt == "application/problem+json"
		var raw map[string]json.RawMessage
		isObject := json.Unmarshal(body, &raw) == nil && raw != nil
		if p == nil {
			// Media types are case-insensitive (RFC 9110, section 8.3.1).
			if isProblem && isObject {
				t.Fatalf("no problem parsed from Content-Type %q and the JSON object %q", contentType, clip(string(body), 200))
			}
			return
		}
		if !isProblem {
			t.Fatalf("parsed a problem from Content-Type %q", contentType)
		}
		if !isObject {
			t.Fatalf("parsed a problem from a body that is not a JSON object: %q", clip(string(body), 200))
		}
		if p.Status != 0 && (p.Status < 100 || p.Status > 999) {
			t.Fatalf("Status = %d", p.Status)
		}
		for _, k := range []string{"type", "title", "status", "detail", "instance"} {
			if _, ok := p.Extras[k]; ok {
				t.Fatalf("standard member %q among the extras", k)
			}
		}
		for k, dst := range map[string]string{"type": p.Type, "title": p.Title, "detail": p.Detail, "instance": p.Instance} {
			var s string
			if v, ok := raw[k]; ok && json.Unmarshal(v, &s) == nil && s != dst {
				t.Fatalf("member %q = %q, parsed as %q", k, s, dst)
			}
		}
		// The error built on it reads as one clean line.
		e := &StatusError{StatusCode: 503, Status: "503 Service Unavailable", Problem: p, Body: body}
		checkErrorMessage(t, e.Error())
	})
}

// fuzzResponse is the response FuzzStatusError's transport answers with.
type fuzzResponse struct {
	code        int
	reason      string
	contentType string
	requestID   string
	retryAfter  string
	body        []byte
}

type fuzzResponseKey struct{}

// fuzzTransport answers every request with the fuzzResponse in its context,
// as net/http's client would have parsed it.
type fuzzTransport struct{}

func (fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	fr := r.Context().Value(fuzzResponseKey{}).(*fuzzResponse)
	h := http.Header{}
	for k, v := range map[string]string{"Content-Type": fr.contentType, "X-Request-Id": fr.requestID, "Retry-After": fr.retryAfter} {
		if v != "" {
			h[k] = []string{v}
		}
	}
	return &http.Response{
		StatusCode: fr.code, Status: strconv.Itoa(fr.code) + " " + fr.reason,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: io.NopCloser(strings.NewReader(string(fr.body))), ContentLength: int64(len(fr.body)), Request: r,
	}, nil
}

// fuzzBodyLimit is small, so that the fuzzer meets truncated bodies often.
const fuzzBodyLimit = 256

// FuzzStatusError: any final error response, as net/http's client can
// deliver it (a reason phrase is anything but a line feed; header values
// hold no ASCII controls but any other byte), goes through the whole
// transport. The result is a *StatusError whose fields are bounded and
// whose message is one short line of printable UTF-8 that never holds the
// request's secrets.
func FuzzStatusError(f *testing.F) {
	f.Add(uint16(3), "Service Unavailable", "application/problem+json", "7f3a9c", "120", []byte(`{"title":"Database unavailable","detail":"pool exhausted"}`))
	f.Add(uint16(0), "Internal Server Error", "text/html", "", "", []byte("<html>\n<body>oops</body></html>"))
	f.Add(uint16(4), "Too Many Requests", "", "req\u202e-1", "Wed, 21 Oct 2015 07:28:00 GMT", []byte("slow down"))
	f.Add(uint16(1), "Bad Gateway \x1b[31mred\x1b[0m\r\x00\xff", "text/plain", "\xc2\x85id", "-5", []byte("\x1b[2Jcleared"))
	f.Add(uint16(2), strings.Repeat("x", 1000), "application/problem+json; charset", "", "1e12", []byte(`{"title":"`+strings.Repeat("é", 300)+`"}`))
	codes := []int{500, 502, 503, 504, 429, 501, 505, 599}
	tr := NewTransport(fuzzTransport{}, WithRetry(Retry{Max: -1}), WithBreaker(Breaker{Disabled: true}),
		WithErrorBodyLimit(fuzzBodyLimit))
	defer tr.Close()
	const secret = "S3CR3TT0K3N"
	f.Fuzz(func(t *testing.T, code uint16, reason, contentType, requestID, retryAfter string, body []byte) {
		fr := &fuzzResponse{
			code:        codes[int(code)%len(codes)],
			reason:      strings.ReplaceAll(reason, "\n", ""),
			contentType: fuzzHeaderValue(contentType),
			requestID:   fuzzHeaderValue(requestID),
			retryAfter:  fuzzHeaderValue(retryAfter),
			body:        body,
		}
		ctx := context.WithValue(context.Background(), fuzzResponseKey{}, fr)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://user:"+secret+"@api.example.com/v1/orders?id=42&access_token="+secret, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tr.RoundTrip(req)
		var se *StatusError
		if !errors.As(err, &se) {
			t.Fatalf("RoundTrip = %v, %v; want a *StatusError", resp, err)
		}
		if se.StatusCode != fr.code || se.Attempts != 1 || se.Method != http.MethodGet {
			t.Fatalf("StatusError = {%d, %d attempts, %s}", se.StatusCode, se.Attempts, se.Method)
		}
		if len(se.Body) > fuzzBodyLimit || se.Truncated != (len(body) > fuzzBodyLimit) || string(se.Body) != string(body[:len(se.Body)]) {
			t.Fatalf("Body is %d bytes of %d, Truncated %v", len(se.Body), len(body), se.Truncated)
		}
		if se.RetryAfter < 0 {
			t.Fatalf("RetryAfter = %s", se.RetryAfter)
		}
		if se.Problem != nil && !strings.Contains(strings.ToLower(contentType), "problem+json") {
			t.Fatalf("Problem parsed from Content-Type %q", contentType)
		}
		if len(se.RequestID) > 128+utf8.UTFMax {
			t.Fatalf("RequestID is %d bytes", len(se.RequestID))
		}
		msg := err.Error()
		if strings.Contains(msg, secret) || strings.Contains(se.URL, secret) {
			t.Fatalf("the error leaks the secret: %q", msg)
		}
		checkErrorMessage(t, msg)
	})
}

// headerValue drops what net/http's client refuses in a header value: ASCII
// control characters other than tab, and surrounding white space.
func fuzzHeaderValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.Trim(s, " \t")
}

// fuzzMaxMessage bounds an error message built from a server's response: the
// status (a few dozen bytes), the IDs (about 200) and the excerpt (200
// runes).
const fuzzMaxMessage = 1200

// checkMessage fails t unless msg is one line of printable, valid UTF-8 of
// bounded length.
func checkErrorMessage(t *testing.T, msg string) {
	t.Helper()
	if !strings.HasPrefix(msg, "resilient: ") {
		t.Fatalf("message %q does not start with \"resilient: \"", clip(msg, 300))
	}
	if !utf8.ValidString(msg) {
		t.Fatalf("message is not valid UTF-8: %q", clip(msg, 300))
	}
	for _, r := range msg {
		if r != ' ' && !unicode.IsPrint(r) {
			t.Fatalf("message holds %U: %q", r, clip(msg, 300))
		}
	}
	if len(msg) > fuzzMaxMessage {
		t.Fatalf("message is %d bytes: %q", len(msg), clip(msg, 300))
	}
}
