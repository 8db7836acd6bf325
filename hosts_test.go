package resilient

import (
	"net/url"
	"testing"
	"time"
)

func TestRegistry_aURLWrittenAsTheHostsAuthorityFindsItsHost(t *testing.T) {
	// registry.find matches the sole host by the URL's own Host string,
	// its authority; that string must name the same host as keyOf does,
	// and every other spelling of the host must still find it.
	for _, tc := range []struct{ url, authority string }{
		{"http://api.test/x", "api.test"},
		{"https://api.test/x", "api.test"},
		{"http://api.test:8080/x", "api.test:8080"},
		{"https://api.test:80/x", "api.test:80"},
		{"http://127.0.0.1:36219/x", "127.0.0.1:36219"},
		{"http://[::1]:8080/x", "[::1]:8080"},
		{"https://[2001:db8::1]/x", "[2001:db8::1]"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		k := keyOf(u)
		if got := k.authority(); got != tc.authority {
			t.Errorf("%s: authority %q, want %q", tc.url, got, tc.authority)
		}
		back, _ := url.Parse(k.scheme + "://" + k.authority() + "/")
		if keyOf(back) != k {
			t.Errorf("%s: authority %q names %v, want %v", tc.url, k.authority(), keyOf(back), k)
		}
	}

	tr := NewTransport(&memTransport{})
	defer tr.Close()
	now := time.Now()
	parse := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	h := tr.hosts.find(parse("http://api.test/a"), now)
	for _, s := range []string{"http://api.test/b", "http://API.test/c", "http://api.test:80/d"} {
		if got := tr.hosts.find(parse(s), now); got != h {
			t.Errorf("%s found another host than http://api.test/a", s)
		}
	}
	other := tr.hosts.find(parse("http://api.test:8080/"), now)
	if other == h || tr.hosts.only.Load() != nil {
		t.Errorf("a second host: same state %v, sole host still set %v", other == h, tr.hosts.only.Load() != nil)
	}
	if got := tr.hosts.find(parse("http://api.test/e"), now); got != h {
		t.Error("with two hosts, http://api.test/e found another host")
	}
}
