package redact

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRedactor_String(t *testing.T) {
	r := New("session_id")
	cases := []struct{ in, want string }{
		{"https://api.example.com/orders/42", "https://api.example.com/orders/42"},
		{"https://user:pw@api.example.com/x", "https://api.example.com/x"},
		{"https://api.example.com/x?token=abc&page=2", "https://api.example.com/x?token=REDACTED&page=2"},
		{"https://api.example.com/x?Access_Token=abc", "https://api.example.com/x?Access_Token=REDACTED"},
		{"https://api.example.com/x?x-api-key=abc&X-Amz-Signature=def", "https://api.example.com/x?x-api-key=REDACTED&X-Amz-Signature=REDACTED"},
		{"https://api.example.com/x?%74oken=abc", "https://api.example.com/x?%74oken=REDACTED"},
		{"https://api.example.com/x?session_id=abc", "https://api.example.com/x?session_id=REDACTED"},
		{"https://api.example.com/x?monkey=banana", "https://api.example.com/x?monkey=banana"},
		{"https://api.example.com/x?flag&token", "https://api.example.com/x?flag&token"},
		{"https://api.example.com/x?bad%zz=abc", "https://api.example.com/x?bad%zz=REDACTED"},
		{"https://api.example.com/x#access_token=abc", "https://api.example.com/x"},
		// ';' separates parameters for some servers: redact as if it did.
		{"https://api.example.com/x?a=1;token=abc", "https://api.example.com/x?a=1;token=REDACTED"},
		// A URL missing its "//" parses as opaque: its user info is still
		// user info to whoever reads the message.
		{"https:user:pw@api.example.com/x", "https:api.example.com/x"},
		{"https:user@api.example.com/x?token=abc", "https:api.example.com/x?token=REDACTED"},
		{"urn:isbn:0451450523", "urn:isbn:0451450523"},
		{"https://api.example.com/x?a=1&", "https://api.example.com/x?a=1&"},
		{"https://api.example.com/x?&&token=abc;;", "https://api.example.com/x?&&token=REDACTED;;"},
		{"http://[::1", "(unparseable URL redacted)"},
		// Nested names (Rails, PHP) and a doubled '?' hold the word too.
		{"https://h/x?user[password]=pw&user[name]=ann", "https://h/x?user[password]=REDACTED&user[name]=ann"},
		{"https://h/x?auth%5Btoken%5D=t", "https://h/x?auth%5Btoken%5D=REDACTED"},
		{"https://h/x?key[]=a&key[]=b", "https://h/x?key[]=REDACTED&key[]=REDACTED"},
		{"https://h/x??key=abc", "https://h/x??key=REDACTED"},
		{"https://h/x?=?key=abc", "https://h/x?=?key=REDACTED"},
		{"https://h/login?next=/cb?token=abc&x=1", "https://h/login?next=/cb?token=REDACTED&x=1"},
		// A word inside another is not that word.
		{"https://h/x?keyword=go&monkey=1&tokens=2", "https://h/x?keyword=go&monkey=1&tokens=2"},
	}
	for _, tc := range cases {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactor_URL_nilAndZero(t *testing.T) {
	if got := New().URL(nil); got != "" {
		t.Errorf("URL(nil) = %q", got)
	}
	var zero Redactor
	u, _ := url.Parse("https://u:p@h/x?token=t")
	if got := zero.URL(u); got != "https://h/x?token=t" {
		t.Errorf("zero Redactor URL = %q, want user info removed only", got)
	}
	var nilR *Redactor
	if nilR.Secret("token") {
		t.Error("nil Redactor reports a secret")
	}
}

func TestRedactor_URL_doesNotModifyItsArgument(t *testing.T) {
	u, _ := url.Parse("https://u:p@h/x?token=t#frag")
	before := *u
	New().URL(u)
	if *u != before {
		t.Errorf("URL modified its argument: %+v", u)
	}
}

func TestStripHeader_dropsCredentialsInPlace(t *testing.T) {
	h := http.Header{
		"Authorization": {"Bearer x"}, "Cookie": {"a=b"}, "Set-Cookie": {"c=d"},
		"X-Api-Key": {"k"}, "Content-Type": {"text/plain"},
	}
	got := StripHeader(h)
	if len(got) != 1 || got.Get("Content-Type") != "text/plain" {
		t.Errorf("StripHeader = %v, want only Content-Type", got)
	}
	if h.Get("Authorization") != "" {
		t.Error("StripHeader left the credentials in the header it was given")
	}
	if StripHeader(nil) != nil {
		t.Error("StripHeader(nil) is not nil")
	}
}

// planted is the secret value FuzzRedactURL plants in URLs; no fuzzed part
// may contain it, so any occurrence in the output is a leak.
const planted = "S3CR3TV4LU3"

// FuzzRedactURL plants a secret in a URL whose other parts are fuzzed, in
// the places a secret sits (a query parameter named like a secret, in any
// case, with any prefix and any percent-encoding of its name; user info;
// user info of a URL missing its "//"), and checks that the redacted URL
// never holds it.
func FuzzRedactURL(f *testing.F) {
	f.Add("api.example.com", "/v1/orders", "page=2", "sort=asc", "", uint8(0), uint16(0), uint8(0))
	f.Add("h", "/", "", "", "x", uint8(1), uint16(0xffff), uint8(1))
	f.Add("h:8080", "/a;b", "a=1", "b", "my", uint8(9), uint16(5), uint8(2))
	f.Add("[::1]:80", "/p%20q", "x=%zz", "y=1#frag", "aws", uint8(19), uint16(3), uint8(3))
	f.Add("h", "/", "", "", "", uint8(4), uint16(0), uint8(4))
	f.Fuzz(func(t *testing.T, host, path, before, after, prefix string, pick uint8, mangle uint16, form uint8) {
		for _, s := range []string{host, path, before, after, prefix} {
			if strings.Contains(strings.ToUpper(s), planted) {
				t.Skip()
			}
		}
		name := secretName(DefaultParams[int(pick)%len(DefaultParams)], prefix, mangle)
		// Separators may be '&' or ';', and the value may be followed by a
		// fragment or another parameter.
		sep := "&"
		if mangle&1 != 0 {
			sep = ";"
		}
		var raw string
		switch form % 5 {
		case 0: // secret query parameter
			raw = "https://" + host + path + "?" + before + sep + name + "=" + planted + sep + after
		case 1: // user info
			raw = "https://user:" + planted + "@" + host + path + "?" + before
		case 2: // user info without the "//"
			raw = "https:user:" + planted + "@" + host + path + "?" + before
		case 3: // user name alone
			raw = "http://" + planted + "@" + host + path
		case 4: // first parameter, no path
			raw = "https://" + host + "?" + name + "=" + planted + "#" + after
		}
		r := New()
		out := r.String(raw)
		if strings.Contains(out, planted) {
			t.Fatalf("String(%q) = %q: leaks the secret", raw, out)
		}
		if u, err := url.Parse(raw); err == nil {
			if out := r.URL(u); strings.Contains(out, planted) {
				t.Fatalf("URL(%q) = %q: leaks the secret", raw, out)
			}
		}
	})
}

// secretName dresses a secret parameter name as URLs in the wild do: an
// optional prefix joined by '_', '-' or '.', nesting in brackets, letters in
// any case, and some characters percent-encoded, as chosen by the bits of
// mangle.
func secretName(param, prefix string, mangle uint16) string {
	var p strings.Builder
	for _, c := range prefix {
		if c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			p.WriteRune(c)
		}
	}
	name := param
	if p.Len() > 0 {
		name = p.String() + string("_-."[int(mangle>>1)%3]) + param
	}
	switch mangle >> 14 {
	case 1: // Rails and PHP nesting
		name = "user[" + name + "]"
	case 2: // PHP arrays
		name += "[]"
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		bit := mangle >> (3 + i%13) & 1
		switch {
		case bit == 1 && c >= 'a' && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
		case bit == 1:
			fmt.Fprintf(&b, "%%%02X", c)
		case i%5 == 4 && mangle&(1<<2) != 0:
			fmt.Fprintf(&b, "%%%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func TestStripHeader_onePassMatchesTheList(t *testing.T) {
	for _, k := range sensitiveHeaders {
		if !sensitive(k) {
			t.Errorf("sensitive(%q) = false", k)
		}
		h := http.Header{k: {"secret"}, "Content-Type": {"text/plain"}}
		if StripHeader(h); len(h) != 1 || h.Get("Content-Type") == "" {
			t.Errorf("StripHeader left %v", h)
		}
	}
}
