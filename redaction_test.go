package resilient

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/resilient-http/resilient/internal/redact"
)

// Planted secrets: each is unique, so that finding it anywhere is a leak.
const (
	secretUser     = "alice-u53r"
	secretPassword = "pa55-Hunter2-pw"
	secretToken    = "tok-8c1f0e77d2"
	secretAPIKey   = "key-5ab9e1f0c3"
	secretBearer   = "bearer-77aa01ce99"
	secretCookie   = "cookie-e4d2b8a610"
)

var plantedSecrets = []string{secretUser, secretPassword, secretToken, secretAPIKey, secretBearer, secretCookie}

// secretRequest builds a GET to base whose URL, query and headers carry
// every planted secret.
func secretRequest(t *testing.T, base string) *http.Request {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(secretUser, secretPassword)
	u.Path = "/orders/42"
	u.RawQuery = "token=" + secretToken + "&page=2&x-api-key=" + secretAPIKey
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secretBearer)
	req.Header.Set("Cookie", "session="+secretCookie+"; theme=dark")
	return req
}

// leaks returns the planted secrets found in s, in their plain and
// URL-escaped forms.
func leaks(s string) []string {
	var found []string
	for _, secret := range plantedSecrets {
		if strings.Contains(s, secret) || strings.Contains(s, url.QueryEscape(secret)) {
			found = append(found, secret)
		}
	}
	return found
}

// exportedSpans returns every ended span as the JSON an exporter would see
// (stdouttrace writes the same stubs): names, attributes, events, status,
// links.
func exportedSpans(t *testing.T, rec *tracetest.SpanRecorder) string {
	t.Helper()
	b, err := json.Marshal(tracetest.SpanStubsFromReadOnlySpans(rec.Ended()))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// urlQuotingTransport fails every attempt with the *url.Error that an
// *http.Client used as a base transport would return: it quotes the whole
// URL, user info and query included.
type urlQuotingTransport struct{}

func (urlQuotingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, &url.Error{Op: "Get", URL: r.URL.String(), Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection reset by peer")}}
}

func TestTelemetry_spansAndLogsCarryNoSecrets(t *testing.T) {
	for _, tc := range []struct {
		name string
		base http.RoundTripper // nil: the default transport, to a real server
		addr func(t *testing.T) string
	}{
		{name: "5xx from the server", addr: func(t *testing.T) string {
			return newTelServer(t, telFail(1000)).URL
		}},
		{name: "connection refused", addr: func(t *testing.T) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			return "http://" + ln.Addr().String()
		}},
		{name: "base transport error quoting the URL", base: urlQuotingTransport{}, addr: func(*testing.T) string {
			return "http://api.example.test"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTelEnv(t)
			opts := []Option{
				WithTracerProvider(e.tp), WithMeterProvider(e.mp), WithLogger(e.log),
				WithRetry(Retry{Max: 2}), withRand(func() float64 { return 0 }),
			}
			rt := NewTransport(tc.base, opts...)
			t.Cleanup(func() { rt.Close() })
			c := &http.Client{Transport: rt}

			req := secretRequest(t, tc.addr(t))
			_, err := c.Do(req)
			if err == nil {
				t.Fatal("want an error")
			}
			spans := exportedSpans(t, e.rec)
			logical, attempts := callSpans(e.rec)
			if len(logical) != 1 || len(attempts) != 3 {
				t.Fatalf("got %d logical and %d attempt spans, want 1 and 3", len(logical), len(attempts))
			}
			if got := leaks(spans); len(got) > 0 {
				t.Errorf("spans carry secrets %q:\n%s", got, spans)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, "resilient: request failed") {
				t.Fatalf("no failure line in the log:\n%s", logs)
			}
			if got := leaks(logs); len(got) > 0 {
				t.Errorf("log lines carry secrets %q:\n%s", got, logs)
			}
			// *http.Client wraps our error in a *url.Error quoting the
			// caller's own URL (password masked); ours must not add to it.
			var ue *url.Error
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a *url.Error from *http.Client", err)
			}
			if got := leaks(ue.Err.Error()); len(got) > 0 {
				t.Errorf("resilient's error carries secrets %q: %v", got, ue.Err)
			}
			// What is kept is useful: the path and the harmless parameter,
			// with the secret ones marked.
			for _, s := range append(attempts, logical...) {
				u, _ := spanAttr(s, "url.full")
				if !strings.Contains(u.AsString(), "/orders/42?token=REDACTED&page=2&x-api-key=REDACTED") {
					t.Errorf("span %s url.full = %q", s.Name(), u.AsString())
				}
			}
		})
	}
}

func TestCall_scrub(t *testing.T) {
	tr := NewTransport(nil)
	defer tr.Close()
	req := secretRequest(t, "http://api.example.test")
	c := &call{t: tr, req: req}
	for _, msg := range []string{
		`Get "` + req.URL.String() + `": EOF`,
		"password " + secretPassword + " rejected",
		"bad token " + url.QueryEscape(secretToken),
		"cookie " + secretCookie + " and bearer " + secretBearer,
	} {
		got := c.scrub(msg)
		if l := leaks(got); len(l) > 0 {
			t.Errorf("scrub(%q) = %q, still holding %q", msg, got, l)
		}
		if !strings.Contains(got, "REDACTED") {
			t.Errorf("scrub(%q) = %q, marks nothing", msg, got)
		}
	}
	if got := c.scrub(`Get "` + req.URL.String() + `": EOF`); got != `Get "http://api.example.test/orders/42?token=REDACTED&page=2&x-api-key=REDACTED": EOF` {
		t.Errorf("the URL is not replaced by its redacted form: %q", got)
	}
	// Parameters split on ';' or a second '?' are read as the redactor reads them.
	semi, _ := http.NewRequest(http.MethodGet, "http://api.example.test/a?page=2;sig=sigvalue123&next=/cb?token=nestedtok99", nil)
	sc := &call{t: tr, req: semi}
	if got := sc.scrub("rejected sigvalue123 and nestedtok99"); strings.Contains(got, "sigvalue123") || strings.Contains(got, "nestedtok99") {
		t.Errorf("scrub kept a secret from a ';' or '?' separated parameter: %q", got)
	}
	// Nothing to hide: the message is returned as is, without work.
	plainReq, _ := http.NewRequest(http.MethodGet, "http://api.example.test/a", nil)
	plain := &call{t: tr, req: plainReq}
	if got := plain.scrub("dial tcp: connection refused"); got != "dial tcp: connection refused" {
		t.Errorf("scrub changed a message without secrets: %q", got)
	}
}

// rawServer answers every connection with the bytes of resp and closes it.
func rawServer(t *testing.T, resp string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			conn.Read(buf) // the request head; small enough for one read here
			conn.Write([]byte(resp))
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return "http://" + ln.Addr().String()
}

func TestTelemetry_hostileStatusLineIsCleanInSpansAndLogs(t *testing.T) {
	status := "503 \x1b[2J\x1b[31mPWNED\x1b[0m\rfake: ok\x00\xff " + strings.Repeat("A", 5000)
	addr := rawServer(t, "HTTP/1.1 "+status+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	e := newTelEnv(t)
	c := e.client(t, WithRetry(Retry{Max: 1}))
	if _, err := c.Get(addr); StatusCode(err) != 503 {
		t.Fatalf("err = %v, want a 503", err)
	}
	logical, _ := callSpans(e.rec)
	if len(logical) != 1 {
		t.Fatalf("%d logical spans", len(logical))
	}
	retries := eventsNamed(logical[0], "resilient.retry")
	if len(retries) != 1 {
		t.Fatalf("events %+v, want one resilient.retry", logical[0].Events())
	}
	reason, _ := attrOf(retries[0].Attributes, "resilient.reason")
	for what, s := range map[string]string{"retry reason": reason.AsString(), "log": e.logs.String()} {
		if strings.ContainsAny(s, "\x1b\x00\r") || !utf8.ValidString(s) {
			t.Errorf("%s holds control characters or invalid UTF-8: %q", what, s)
		}
	}
	if n := utf8.RuneCountInString(reason.AsString()); n > maxText+1 || !strings.HasPrefix(reason.AsString(), "503 [2J [31mPWNED") {
		t.Errorf("retry reason is %d runes: %.80q", n, reason.AsString())
	}
}

func TestQueryHasSecret(t *testing.T) {
	r := redact.New("session_hint")
	for q, want := range map[string]bool{
		"":                           false,
		"page=2":                     false,
		"page=2&sort=asc;limit=10":   false,
		"flag&page":                  false,
		"token=abc":                  true,
		"page=2&access_token=abc":    true,
		"page=2;sig=abc":             true,
		"next=/cb?token=abc":         true,
		"x-api-key=abc":              true,
		"X-Amz-Signature=abc":        true,
		"%74oken=abc":                true, // "token", escaped
		"bad%zzname=1":               true, // the redactor hides names that do not unescape
		"session_hint=abc":           true, // WithRedactedParams
		"monkey=banana&keyboard=qwe": false,
	} {
		if got := r.HasSecret(q); got != want {
			t.Errorf("HasSecret(%q) = %v, want %v", q, got, want)
		}
		if changed := r.Query(q) != q; changed != want {
			t.Errorf("Query and HasSecret disagree on %q: Query gives %q", q, r.Query(q))
		}
	}
}

// FuzzQueryHasSecret checks that whenever the redactor would change a
// query, HasSecret says so: otherwise an attempt span would keep
// otelhttp's unredacted url.full.
func FuzzQueryHasSecret(f *testing.F) {
	for _, q := range []string{"page=2", "token=abc", "a=1&b=2;c=3?d=4", "%74oken=x", "bad%zz=1", "api+key=1", "key", "=x"} {
		f.Add(q)
	}
	r := redact.New()
	f.Fuzz(func(t *testing.T, q string) {
		if r.Query(q) != q && !r.HasSecret(q) {
			t.Errorf("Query(%q) = %q, but HasSecret says there is nothing to redact", q, r.Query(q))
		}
	})
}
