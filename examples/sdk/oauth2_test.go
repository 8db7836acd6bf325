package sdk

// golang.org/x/oauth2 over resilient: oauth2.Transport sets the token on
// its copy of the request and hands it to its Base, here resilient, so
// every attempt carries the token, and resilient's errors never do.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"

	"github.com/resilient-http/resilient"
)

const accessToken = "ya29.a0AfB_byC-secret-access-token"

func TestOAuth2_Transport_sendsTheTokenOnEveryAttempt(t *testing.T) {
	var hits, authed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if r.Header.Get("Authorization") == "Bearer "+accessToken {
			authed.Add(1)
		}
		if n <= 2 || r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "try again")
			return
		}
		io.WriteString(w, `{"email":"ada@example.com"}`)
	}))
	defer srv.Close()

	base := resilient.NewTransport(nil, fastRetry)
	defer base.Close()
	client := &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken, TokenType: "Bearer"}),
		Base:   base,
	}}

	resp, err := client.Get(srv.URL + "/userinfo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hits.Load() != 3 || authed.Load() != 3 {
		t.Errorf("%d attempts, %d with the token; want 3, all with it", hits.Load(), authed.Load())
	}

	hits.Store(0)
	authed.Store(0)
	_, err = client.Get(srv.URL + "/down")
	var se *resilient.StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 || se.Attempts != 3 || authed.Load() != 3 {
		t.Fatalf("err = %v, %d attempts with the token; want a *StatusError after 3, all with it", err, authed.Load())
	}
	if strings.Contains(err.Error(), accessToken) {
		t.Errorf("the token leaked into the error: %v", err)
	}
	t.Logf("error: %v", err)
}

// The token endpoint is called through the *http.Client in the context.
// A token request is a POST without Idempotency-Key: resilient retries it
// only when it never reached the server (a refused connection), not on a
// 5xx, and its *StatusError carries neither the client secret nor the
// password.
func TestOAuth2_Config_tokenRequestsThroughResilient(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	hc := resilient.New(fastRetry)
	defer resilient.Close(hc)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	conf := &oauth2.Config{ClientID: "app", ClientSecret: "client-secret-value", Endpoint: oauth2.Endpoint{
		TokenURL:  srv.URL + "/token",
		AuthStyle: oauth2.AuthStyleInHeader, // else a failure is tried again with the secret in the form
	}}

	_, err := conf.PasswordCredentialsToken(ctx, "ada", "hunter2-password")
	var se *resilient.StatusError
	if !errors.As(err, &se) || se.Attempts != 1 || hits.Load() != 1 {
		t.Fatalf("err = %v after %d requests; want one attempt's *StatusError", err, hits.Load())
	}
	for _, secret := range []string{"client-secret-value", "hunter2-password"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error carries a secret: %v", err)
		}
	}
	t.Logf("error: %v", err)
}
