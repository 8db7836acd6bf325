// Package redact removes credentials from URLs and headers before they reach
// an error message, a log line or a span attribute.
package redact

import (
	"net/url"
	"strings"
)

// DefaultParams lists the query parameter names whose values are replaced by
// "REDACTED". A name matches when it holds an entry as a word: not preceded
// or followed by a letter or digit, case-insensitively. So "api_key",
// "x-api-key", "access_token", "user[password]" (Rails and PHP nesting) and
// "?key" (a doubled '?') all match, while "monkey" and "keyword" do not.
var DefaultParams = []string{
	"token", "key", "secret", "sig", "signature", "password", "passwd", "pwd",
	"access_token", "refresh_token", "id_token", "api_key", "apikey",
	"client_secret", "auth", "credential", "credentials", "session",
	"x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
}

// Redactor redacts URLs. The zero value redacts user info only; use New for
// the default parameter list. It is safe for concurrent use.
type Redactor struct {
	params []string // lower-case
}

// New returns a Redactor for DefaultParams plus extra.
func New(extra ...string) *Redactor {
	r := &Redactor{params: make([]string, 0, len(DefaultParams)+len(extra))}
	for _, p := range DefaultParams {
		r.params = append(r.params, strings.ToLower(p))
	}
	for _, p := range extra {
		if p = strings.TrimSpace(p); p != "" {
			r.params = append(r.params, strings.ToLower(p))
		}
	}
	return r
}

// Secret reports whether a query parameter named name holds a secret.
func (r *Redactor) Secret(name string) bool {
	if r == nil {
		return false
	}
	n := strings.ToLower(name)
	for _, p := range r.params {
		if containsWord(n, p) {
			return true
		}
	}
	return false
}

// containsWord reports whether p occurs in n with no ASCII letter or digit
// right before or right after it.
func containsWord(n, p string) bool {
	if p == "" {
		return false
	}
	for i := 0; i+len(p) <= len(n); {
		j := strings.Index(n[i:], p)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(p)
		if (j == 0 || !alnum(n[j-1])) && (end == len(n) || !alnum(n[end])) {
			return true
		}
		i = j + 1
	}
	return false
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// URL returns u as a string with user info removed and the values of secret
// query parameters replaced by "REDACTED". The fragment is dropped. A URL
// that lacks its "//" ("https:user:pw@host/") parses as opaque; the user
// info in it is removed too. A nil u gives "".
func (r *Redactor) URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" && u.Opaque == "" {
		return u.String()
	}
	c := *u
	c.User = nil
	c.Fragment, c.RawFragment = "", ""
	if c.RawQuery != "" {
		c.RawQuery = r.Query(c.RawQuery)
	}
	c.Opaque = opaqueWithoutUser(c.Opaque)
	return c.String()
}

// opaqueWithoutUser drops what looks like user info from an opaque URL:
// everything up to the last '@' before the first '/'.
func opaqueWithoutUser(o string) string {
	auth := o
	if i := strings.IndexByte(auth, '/'); i >= 0 {
		auth = auth[:i]
	}
	if i := strings.LastIndexByte(auth, '@'); i >= 0 {
		return o[i+1:]
	}
	return o
}

// String parses s as a URL and redacts it; a string that does not parse is
// replaced as a whole, since it may hold anything.
func (r *Redactor) String(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL redacted)"
	}
	return r.URL(u)
}

// Query redacts the secret values of a raw query string, keeping its order,
// its separators ('&', ';' and '?') and every parameter name. A parameter
// whose name does not unescape is redacted too, since it may hide anything.
func (r *Redactor) Query(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	for len(raw) > 0 {
		part, sep, rest := nextParam(raw)
		name, value, hasValue := strings.Cut(part, "=")
		b.WriteString(name)
		switch {
		case !hasValue:
		case r.secretName(name):
			b.WriteString("=REDACTED")
		default:
			b.WriteByte('=')
			b.WriteString(value)
		}
		if sep != 0 {
			b.WriteByte(sep)
		}
		raw = rest
	}
	return b.String()
}

// HasSecret reports whether Query would change raw, without allocating
// unless a name is escaped: the fast test before redacting.
func (r *Redactor) HasSecret(raw string) bool {
	for len(raw) > 0 {
		part, _, rest := nextParam(raw)
		if name, _, hasValue := strings.Cut(part, "="); hasValue && r.secretName(name) {
			return true
		}
		raw = rest
	}
	return false
}

// SecretValues returns the raw (still escaped) values of the parameters of
// raw that Query redacts, in order.
func (r *Redactor) SecretValues(raw string) []string {
	var vs []string
	for len(raw) > 0 {
		part, _, rest := nextParam(raw)
		if name, v, hasValue := strings.Cut(part, "="); hasValue && r.secretName(name) {
			vs = append(vs, v)
		}
		raw = rest
	}
	return vs
}

// nextParam splits the first parameter off a raw query: the parameter, the
// separator after it (0 at the end) and the rest.
func nextParam(raw string) (part string, sep byte, rest string) {
	i := strings.IndexAny(raw, "&;?")
	if i < 0 {
		return raw, 0, ""
	}
	return raw[:i], raw[i], raw[i+1:]
}

// secretName reports whether a raw (still escaped) parameter name holds a
// secret, or does not unescape and so may hide one.
func (r *Redactor) secretName(name string) bool {
	if strings.ContainsAny(name, "%+") {
		dec, err := url.QueryUnescape(name)
		if err != nil {
			return true
		}
		name = dec
	}
	return r.Secret(name)
}

// sensitiveHeaders are never copied into an error, a log line or a span.
var sensitiveHeaders = []string{
	"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
	"X-Api-Key", "X-Auth-Token", "X-Amz-Security-Token", "Proxy-Authenticate-Info",
}
