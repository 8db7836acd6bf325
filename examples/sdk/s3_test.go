package sdk

// The AWS SDK for Go v2 under resilient: smithy-go sends request bodies
// without GetBody, which resilient replays from a bounded copy; the SDK's
// own retries are off, so resilient's are the only ones.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/resilient-http/resilient"
)

// s3Attempt is what the fake S3 saw of one attempt.
type s3Attempt struct {
	auth, contentSHA string
	bodySHA          [32]byte
	size             int64
}

// fakeS3 answers PutObject: the first fails attempts with a 503 SlowDown
// in S3's XML error form, the others 200 with an ETag.
type fakeS3 struct {
	*httptest.Server
	mu       sync.Mutex
	attempts []s3Attempt
}

func newFakeS3(t *testing.T, fails int) *fakeS3 {
	t.Helper()
	f := &fakeS3{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		f.mu.Lock()
		f.attempts = append(f.attempts, s3Attempt{
			auth: r.Header.Get("Authorization"), contentSHA: r.Header.Get("X-Amz-Content-Sha256"),
			bodySHA: [32]byte(h.Sum(nil)), size: n,
		})
		k := len(f.attempts)
		f.mu.Unlock()
		if k <= fails {
			w.Header().Set("Content-Type", "application/xml")
			w.Header().Set("X-Amz-Request-Id", "4442587FB7D0A2F9")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>`)
			return
		}
		w.Header().Set("ETag", `"6805f2cfc46c0f04559748bb039d69ae"`)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeS3) seen() []s3Attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]s3Attempt(nil), f.attempts...)
}

// newS3 returns an S3 client for the fake, configured as docs/sdks.md
// says: static credentials, hc as its HTTP client, its own retries off.
func newS3(t *testing.T, url string, hc *http.Client) *s3.Client {
	t.Helper()
	// With a CA bundle set, LoadDefaultConfig refuses an *http.Client it
	// cannot add the CA to (docs/sdks.md); the fake needs none.
	t.Setenv("AWS_CA_BUNDLE", "")
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "")),
		config.WithHTTPClient(hc),
		// resilient retries; the SDK must not retry on top of it.
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	)
	if err != nil {
		t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(url)
		o.UsePathStyle = true
	})
}

var sigV4 = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-east-1/s3/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`)

func TestS3_PutObject_retriedWithTheSameBodyAndSignature(t *testing.T) {
	p := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	want := sha256.Sum256(p)
	srv := newFakeS3(t, 2)
	hc := resilient.New(resilient.WithRetry(resilient.Retry{MinWait: time.Millisecond, MaxWait: 10 * time.Millisecond}))
	defer resilient.Close(hc)

	out, err := newS3(t, srv.URL, hc).PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("photos"),
		Key:    aws.String("2026/11/cat.jpg"),
		Body:   bytes.NewReader(p),
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if aws.ToString(out.ETag) != `"6805f2cfc46c0f04559748bb039d69ae"` {
		t.Errorf("ETag = %q", aws.ToString(out.ETag))
	}
	seen := srv.seen()
	if len(seen) != 3 {
		t.Fatalf("the fake saw %d attempts; want 3 (two 503s, then 200)", len(seen))
	}
	for i, a := range seen {
		if a.bodySHA != want || a.size != int64(len(p)) {
			t.Errorf("attempt %d: %d bytes that differ from the object", i+1, a.size)
		}
		if !sigV4.MatchString(a.auth) {
			t.Errorf("attempt %d: Authorization %q is not a SigV4 signature", i+1, a.auth)
		}
		if a.contentSHA != seen[0].contentSHA || a.auth != seen[0].auth {
			t.Errorf("attempt %d was signed differently from the first: %q", i+1, a.auth)
		}
		// Over plain HTTP the SDK signs the payload's hash.
		if a.contentSHA != hex.EncodeToString(want[:]) {
			t.Errorf("attempt %d: X-Amz-Content-Sha256 %q is not the body's hash", i+1, a.contentSHA)
		}
	}
	t.Logf("%d attempts, each %d bytes, X-Amz-Content-Sha256 %s, Authorization %s", len(seen), seen[0].size, seen[0].contentSHA, seen[0].auth)
}

// Without pass-through, the SDK gets resilient's *StatusError, which it
// cannot parse: its smithy.APIError, if any, has no S3 error code. With
// WithPassThrough5xx, resilient still retries, then hands the final 503
// to the SDK, which parses its own error.
func TestS3_PutObject_final5xx(t *testing.T) {
	put := func(hc *http.Client, srv *fakeS3) error {
		_, err := newS3(t, srv.URL, hc).PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("photos"), Key: aws.String("k"), Body: bytes.NewReader([]byte("hello")),
		})
		return err
	}
	fast := resilient.WithRetry(resilient.Retry{Max: 2, MinWait: time.Millisecond, MaxWait: 10 * time.Millisecond})

	t.Run("as resilient's error", func(t *testing.T) {
		srv := newFakeS3(t, 100)
		hc := resilient.New(fast)
		defer resilient.Close(hc)
		err := put(hc, srv)
		var se *resilient.StatusError
		if !errors.As(err, &se) || se.StatusCode != 503 || se.Attempts != 3 || se.RequestID != "4442587FB7D0A2F9" {
			t.Fatalf("err = %v; want a *StatusError for the 503 after 3 attempts", err)
		}
		var api smithy.APIError
		code := ""
		if errors.As(err, &api) {
			code = api.ErrorCode()
		}
		if code != "" {
			t.Errorf("smithy.APIError code %q; the SDK never saw the response, so it should have none", code)
		}
		if n := len(srv.seen()); n != 3 {
			t.Errorf("the fake saw %d attempts; want 3", n)
		}
		t.Logf("error: %v", err)
	})
	t.Run("passed through to the SDK", func(t *testing.T) {
		srv := newFakeS3(t, 100)
		hc := resilient.New(fast, resilient.WithPassThrough5xx())
		defer resilient.Close(hc)
		err := put(hc, srv)
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "SlowDown" {
			t.Fatalf("err = %v; want the SDK's smithy.APIError with code SlowDown", err)
		}
		var se *resilient.StatusError
		if errors.As(err, &se) {
			t.Errorf("a *StatusError came through with pass-through on: %v", se)
		}
		if n := len(srv.seen()); n != 3 {
			t.Errorf("the fake saw %d attempts; want 3: pass-through still retries", n)
		}
		t.Logf("error: %v", err)
	})
}
