package resilient

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTransport_RoundTrip_rejectsBadInputWithClearErrors(t *testing.T) {
	tr := NewTransport(nil)
	defer tr.Close()
	noHost, _ := http.NewRequest(http.MethodGet, "http:///path", nil)
	ftp, _ := http.NewRequest(http.MethodGet, "ftp://user:pw@example.com/file?token=t0k", nil)
	noURL := &http.Request{Method: http.MethodGet, Header: http.Header{}}
	cases := []struct {
		name string
		req  *http.Request
		want []string
	}{
		{"nil request", nil, []string{"request is nil"}},
		{"nil URL", noURL, []string{"no URL"}},
		{"no host", noHost, []string{"has no host"}},
		{"unsupported scheme", ftp, []string{`unsupported scheme "ftp"`, "use http or https"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tr.RoundTrip(tc.req)
			if resp != nil || !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("RoundTrip = %v, %v; want ErrInvalidRequest", resp, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "t0k") {
				t.Errorf("error %q leaks credentials", err)
			}
			if IsRetryable(err) {
				t.Error("an invalid request is reported retryable")
			}
		})
	}
}

// TestNew_invalidOptionsAreFoundBeforeAnyRequest: a misconfiguration is
// found when the client is built, not by a request in production: Validate
// returns it, and New and NewTransport panic with the same error, which
// names the field and what it accepts.
func TestNew_invalidOptionsAreFoundBeforeAnyRequest(t *testing.T) {
	cases := []struct {
		name string
		opt  Option
		want string
	}{
		{"negative Max", WithRetry(Retry{Max: -5}), "resilient: invalid option: Retry.Max is -5; use -1 to disable retries or 0 for the default"},
		{"negative wait", WithRetry(Retry{MinWait: -time.Second}), "must not be negative"},
		{"MinWait above MaxWait", WithRetry(Retry{MinWait: time.Minute, MaxWait: time.Second}), "above MaxWait"},
		{"ratio above 1", WithBreaker(Breaker{FailureRatio: 1.5}), "FailureRatio is 1.5"},
		{"negative budget", WithRetry(Retry{Budget: RetryBudget{Ratio: -1}}), "Budget"},
		{"negative timeout", WithTimeout(-time.Second), "timeout is -1s"},
		{"negative body limit", WithErrorBodyLimit(-1), "error body limit"},
		{"negative replay limit", WithReplayLimit(-1), "replay limit is -1"},
		{"bad hedging", WithHedging(Hedging{Quantile: 2}), "Hedging"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.opt)
			if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want ErrInvalidOption saying %q", err, tc.want)
			}
			for name, build := range map[string]func(){
				"New":          func() { New(tc.opt) },
				"NewTransport": func() { NewTransport(&memTransport{}, tc.opt) },
			} {
				got := recoverFrom(build)
				if e, ok := got.(error); !ok || e.Error() != err.Error() || !errors.Is(e, ErrInvalidOption) {
					t.Errorf("%s panicked with %v, want Validate's error %v", name, got, err)
				}
			}
		})
	}
	if err := Validate(WithRetry(Retry{Max: -1}), WithTimeout(time.Second), WithBreaker(Breaker{RampUp: -1}), nil); err != nil {
		t.Errorf("Validate of valid options = %v, want nil", err)
	}
	if err := Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}

// recoverFrom calls f and returns what it panicked with, or nil.
func recoverFrom(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

func TestTransport_Close_failsLaterRequests(t *testing.T) {
	srv := newServer(t, status(200, "ok"))
	c := New()
	if err := Close(c); err != nil {
		t.Fatal(err)
	}
	if err := Close(c); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("x"))
	body := &closeCounter{Reader: strings.NewReader("x")}
	req.Body = body
	_, err := c.Do(req)
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "resilient.New") {
		t.Errorf("err = %v, want ErrClosed saying what to do", err)
	}
	if srv.hits.Load() != 0 || body.closed == 0 {
		t.Errorf("closed client sent %d requests, closed the body %d times", srv.hits.Load(), body.closed)
	}
}

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestTransport_RoundTrip_getBodyFailureIsReported(t *testing.T) {
	srv := newServer(t, failThen(1, 503))
	c := newClient(t, WithRetry(fast))
	req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("x"))
	req.GetBody = func() (io.ReadCloser, error) { return nil, errors.New("disk gone") }
	_, err := c.Do(req)
	if err == nil || !strings.Contains(err.Error(), "disk gone") || srv.hits.Load() != 1 {
		t.Errorf("err = %v after %d requests", err, srv.hits.Load())
	}
}

func TestStatusError_Error_readsWellInsideURLError(t *testing.T) {
	se := &StatusError{StatusCode: 500, Status: "500 Internal Server Error", Attempts: 3,
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", RequestID: "7f3a", Body: []byte("{\"error\":\n\t\"db pool exhausted\"}\x00\x1b[31m")}
	ue := &url.Error{Op: "Get", URL: "https://api.example.com/orders/42", Err: se}
	want := `Get "https://api.example.com/orders/42": resilient: 500 Internal Server Error after 3 attempts (trace 4bf92f3577b34da6a3ce929d0e0e4736, request 7f3a): {"error": "db pool exhausted"} [31m`
	if got := ue.Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var got *StatusError
	if !errors.As(ue, &got) || got != se || StatusCode(ue) != 500 || Attempts(ue) != 3 || TraceID(ue) != se.TraceID {
		t.Error("accessors do not see through *url.Error")
	}
}

func TestClassify(t *testing.T) {
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code} }
	cases := []struct {
		resp *http.Response
		err  error
		want Outcome
	}{
		{resp(200), nil, Success},
		{resp(304), nil, Success},
		{resp(404), nil, Permanent},
		{resp(408), nil, Retryable},
		{resp(429), nil, Retryable},
		{resp(500), nil, Retryable},
		{resp(501), nil, Permanent},
		{resp(503), nil, Retryable},
		{resp(505), nil, Permanent},
		// Every 5xx but those saying the request is wrong or never done.
		{resp(506), nil, Permanent},
		{resp(507), nil, Retryable},
		{resp(508), nil, Permanent},
		{resp(509), nil, Retryable},
		{resp(510), nil, Permanent},
		{resp(511), nil, Permanent},
		{resp(520), nil, Retryable},
		{resp(521), nil, Retryable},
		{resp(522), nil, Retryable},
		{resp(523), nil, Retryable},
		{resp(524), nil, Retryable},
		{resp(529), nil, Retryable},
		{resp(530), nil, Retryable},
		{resp(598), nil, Retryable},
		{resp(599), nil, Retryable},
		{resp(600), nil, Permanent},
		{resp(999), nil, Permanent},
		{nil, errors.New("connection reset by peer"), Retryable},
		{nil, errors.New(`Get "/": stopped after 10 redirects`), Permanent},
		{nil, ErrAttemptTimeout, Retryable},
		{nil, ErrInvalidRequest, Permanent},
		{nil, &url.Error{Op: "Get", URL: "x", Err: errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority")}, Permanent},
	}
	for _, tc := range cases {
		if got := Classify(tc.resp, tc.err); got != tc.want {
			t.Errorf("Classify(%v, %v) = %v, want %v", tc.resp, tc.err, got, tc.want)
		}
	}
}

func TestIsIdempotent(t *testing.T) {
	for m, want := range map[string]bool{"GET": true, "HEAD": true, "OPTIONS": true, "TRACE": true, "PUT": true, "DELETE": true, "POST": false, "PATCH": false, "CONNECT": false} {
		r, _ := http.NewRequest(m, "http://x", nil)
		if got := IsIdempotent(r); got != want {
			t.Errorf("IsIdempotent(%s) = %v", m, got)
		}
		r.Header.Set("Idempotency-Key", "k")
		if !IsIdempotent(r) {
			t.Errorf("IsIdempotent(%s with key) = false", m)
		}
	}
}

func TestBackoff_isFullJitterCappedByMaxWait(t *testing.T) {
	for n := 0; n < 80; n++ {
		if got := Backoff(n, 100*time.Millisecond, 5*time.Second, 0.999999); got > 5*time.Second {
			t.Fatalf("Backoff(%d) = %s above MaxWait", n, got)
		}
	}
	if got := Backoff(3, 100*time.Millisecond, 5*time.Second, 0.5); got != 400*time.Millisecond {
		t.Errorf("Backoff(3, r=0.5) = %s, want half of 800ms", got)
	}
	if got := Backoff(0, 100*time.Millisecond, 5*time.Second, 0); got != 0 {
		t.Errorf("Backoff(r=0) = %s, want 0", got)
	}
}

func TestTransport_RoundTrip_scrubsSecretsQuotedByTheBaseTransport(t *testing.T) {
	tr := NewTransport(urlQuotingTransport{}, WithRetry(Retry{Max: -1}))
	defer tr.Close()
	c := &http.Client{Transport: tr}
	_, err := c.Get("http://api.test/v1?id=7&token=tok-SECRET")
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want *TransportError", err)
	}
	if msg := te.Error(); strings.Contains(msg, "SECRET") || !strings.Contains(msg, "connection reset by peer") {
		t.Errorf("Error() = %q: want the cause, without the token", msg)
	}
}
