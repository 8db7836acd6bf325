package testpeers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// TestBalancer_pinsConnections: the balancer hands each new connection to
// the next backend, round robin, and every request of a keep-alive
// connection reaches the backend its connection was handed to.
func TestBalancer_pinsConnections(t *testing.T) {
	var hits [2]int
	var backends []string
	for i := range 2 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits[i]++ }))
		defer srv.Close()
		backends = append(backends, srv.Listener.Addr().String())
	}
	lb, err := NewBalancer(backends...)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()

	get := func(c *http.Client) {
		resp, err := c.Get("http://" + lb.Addr() + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	keep := &http.Transport{}
	defer keep.CloseIdleConnections()
	for range 5 {
		get(&http.Client{Transport: keep}) // one connection, pinned to backends[0]
	}
	get(noKeepAlive) // a new connection: backends[1]
	get(noKeepAlive) // and around: backends[0]
	if want := [2]int{6, 1}; hits != want {
		t.Errorf("backends saw %v requests, want %v", hits, want)
	}
	if got := lb.Conns(); !slices.Equal(got, []int64{2, 1}) {
		t.Errorf("Conns() = %v, want [2 1]", got)
	}
}
