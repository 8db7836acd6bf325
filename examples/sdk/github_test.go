package sdk

// go-github under resilient: go-github builds requests with GetBody and
// returns net/http's *url.Error as it is, so retries need nothing from the
// user and *resilient.StatusError is reachable with errors.As.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-github/v75/github"

	"github.com/resilient-http/resilient"
)

const githubToken = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"

// fakeGitHub answers GET /repos/octo/hello: the first fails requests with
// code, then the repository. It counts the requests that carried the token.
func fakeGitHub(t *testing.T, fails int64, code int) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var hits, authed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if r.Header.Get("Authorization") == "Bearer "+githubToken {
			authed.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Github-Request-Id", "C0DE:1234:56789")
		if n <= fails {
			w.WriteHeader(code)
			io.WriteString(w, `{"message":"Server Error"}`)
			return
		}
		io.WriteString(w, `{"id":1296269,"name":"hello","full_name":"octo/hello"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits, &authed
}

func newGitHub(t *testing.T, srvURL string, hc *http.Client) *github.Client {
	t.Helper()
	gh := github.NewClient(hc).WithAuthToken(githubToken)
	u, err := url.Parse(srvURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	gh.BaseURL = u
	return gh
}

// fastRetry retries twice, quickly. The retry budget is off: it would
// refuse some of the retries of these back-to-back calls to one host.
var fastRetry = resilient.WithRetry(resilient.Retry{
	Max: 2, MinWait: time.Millisecond, MaxWait: 10 * time.Millisecond,
	Budget: resilient.RetryBudget{Disabled: true},
})

func TestGitHub_Repositories_Get_retriesA502(t *testing.T) {
	srv, hits, authed := fakeGitHub(t, 1, http.StatusBadGateway)
	hc := resilient.New(fastRetry)
	defer resilient.Close(hc)

	repo, _, err := newGitHub(t, srv.URL, hc).Repositories.Get(context.Background(), "octo", "hello")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if repo.GetFullName() != "octo/hello" || hits.Load() != 2 || authed.Load() != 2 {
		t.Errorf("%q after %d requests, %d with the token; want octo/hello after 2, both with it", repo.GetFullName(), hits.Load(), authed.Load())
	}
}

func TestGitHub_Repositories_Get_final5xx(t *testing.T) {
	t.Run("as resilient's error", func(t *testing.T) {
		srv, hits, _ := fakeGitHub(t, 100, http.StatusServiceUnavailable)
		hc := resilient.New(fastRetry)
		defer resilient.Close(hc)
		_, resp, err := newGitHub(t, srv.URL, hc).Repositories.Get(context.Background(), "octo", "hello")
		var se *resilient.StatusError
		if !errors.As(err, &se) || se.StatusCode != 503 || se.Attempts != 3 || se.RequestID != "C0DE:1234:56789" {
			t.Fatalf("err = %v; want a *StatusError for the 503 after 3 attempts", err)
		}
		if resp != nil {
			t.Errorf("go-github returned a response with the error: %+v", resp)
		}
		if strings.Contains(err.Error(), githubToken) || hits.Load() != 3 {
			t.Errorf("%d requests; error %q", hits.Load(), err)
		}
		t.Logf("error: %v", err)
	})
	t.Run("passed through to go-github", func(t *testing.T) {
		srv, hits, _ := fakeGitHub(t, 100, http.StatusServiceUnavailable)
		hc := resilient.New(fastRetry, resilient.WithPassThrough5xx())
		defer resilient.Close(hc)
		_, _, err := newGitHub(t, srv.URL, hc).Repositories.Get(context.Background(), "octo", "hello")
		var ge *github.ErrorResponse
		if !errors.As(err, &ge) || ge.Response.StatusCode != 503 || ge.Message != "Server Error" || hits.Load() != 3 {
			t.Fatalf("err = %v after %d requests; want go-github's *ErrorResponse for the 503 after 3", err, hits.Load())
		}
	})
}
