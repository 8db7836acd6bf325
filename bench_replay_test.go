package resilient

// The benchmark of the replay of request bodies without GetBody
// (replay.go): what the copy costs on a PUT that succeeds at once, against
// the same body with GetBody (streamed, never copied) and bare net/http.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// BenchmarkPUTReplay is a successful PUT of 1 KiB, 64 KiB and 1 MiB over
// an in-memory transport that reads the whole body. The body is an
// io.Reader with no WriterTo, so that every client copies it the same way.
func BenchmarkPUTReplay(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		p := bytes.Repeat([]byte("x"), size)
		newReq := func(getBody bool) *http.Request {
			req, _ := http.NewRequest(http.MethodPut, "http://api.test/blobs/1", io.NopCloser(struct{ io.Reader }{bytes.NewReader(p)}))
			req.ContentLength = int64(size)
			if getBody {
				req.GetBody = func() (io.ReadCloser, error) {
					return io.NopCloser(struct{ io.Reader }{bytes.NewReader(p)}), nil
				}
			}
			return req
		}
		run := func(b *testing.B, c *http.Client, getBody bool) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Do(newReq(getBody))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		b.Run(fmt.Sprintf("size=%dKiB/client=bare", size>>10), func(b *testing.B) {
			run(b, &http.Client{Transport: &memTransport{}}, false)
		})
		b.Run(fmt.Sprintf("size=%dKiB/client=resilient-getbody", size>>10), func(b *testing.B) {
			t := NewTransport(&memTransport{})
			defer t.Close()
			run(b, &http.Client{Transport: t}, true)
		})
		b.Run(fmt.Sprintf("size=%dKiB/client=resilient-replay", size>>10), func(b *testing.B) {
			t := NewTransport(&memTransport{})
			defer t.Close()
			run(b, &http.Client{Transport: t}, false)
		})
	}
}
