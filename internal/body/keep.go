package body

import (
	"io"
	"math"
	"sync/atomic"
	"time"
)

// Keep reads up to limit bytes of a response body that the caller will not
// see, then reads and drops up to drain more so that the connection can be
// reused, and closes rc. size is the Content-Length (-1 if unknown); when
// it fits in limit the buffer is allocated once, at that size. One timer
// bounds the whole read: after timeout (when > 0) rc is closed, the read
// ends, and err is ErrReadTimeout. truncated is true when the body was
// longer than limit or its read ended early.
func Keep(rc io.ReadCloser, size, limit, drain int64, timeout time.Duration) (b []byte, truncated bool, err error) {
	if rc == nil {
		return nil, false, nil
	}
	var fired atomic.Bool
	if timeout > 0 {
		t := time.AfterFunc(timeout, func() {
			fired.Store(true)
			rc.Close()
		})
		defer t.Stop()
	}
	defer rc.Close()
	limit = max(limit, 0)
	// past is the read bound: one byte past the limit tells a longer body
	// from one of exactly limit bytes; at math.MaxInt64 there is no byte
	// past it (and limit+1 would overflow).
	past := limit
	if past < math.MaxInt64 {
		past++
	}
	n := limit
	if size >= 0 && size < limit {
		n = size
	}
	buf := make([]byte, 0, min(n, 64<<10)+1)
	for int64(len(buf)) <= limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		var m int
		m, err = rc.Read(buf[len(buf):min(int64(cap(buf)), past)])
		buf = buf[:len(buf)+m]
		if err != nil {
			break
		}
	}
	if int64(len(buf)) > limit {
		truncated = true
		buf = buf[:limit]
	}
	if err == io.EOF {
		err = nil
	} else if err == nil && drain > 0 {
		var rest int64
		rest, err = io.Copy(io.Discard, io.LimitReader(rc, drain))
		_ = rest
	}
	if fired.Load() {
		err = ErrReadTimeout
	}
	if err != nil {
		truncated = true
	}
	return buf, truncated, err
}
