// Package body reads response bodies that are not the caller's to read: the
// bodies of failed attempts and of final errors. Every read is bounded in
// size and in time, and the connection is returned to the pool when that
// costs little.
package body

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrReadTimeout reports that the server stopped sending the body before it
// ended and the read was abandoned.
var ErrReadTimeout = errors.New("server stopped sending the body")

// Capture reads at most limit bytes of rc. truncated is true when the body
// holds more. The read is abandoned after timeout (when > 0) by closing rc,
// so that a server that hangs mid-body cannot hang the caller; err is then
// ErrReadTimeout. Capture does not close rc otherwise.
func Capture(rc io.ReadCloser, limit int64, timeout time.Duration) (b []byte, truncated bool, err error) {
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
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(rc, limit+1))
	if n > limit {
		truncated = true
		buf.Truncate(int(limit))
	}
	if fired.Load() {
		err = ErrReadTimeout
	}
	return buf.Bytes(), truncated, err
}

// Discard reads and drops up to max bytes of rc so that its connection can
// be reused, then closes rc. A body longer than max is closed unread: one
// lost connection costs less than reading a huge body. The read is abandoned
// after timeout (when > 0).
func Discard(rc io.ReadCloser, max int64, timeout time.Duration) {
	if rc == nil {
		return
	}
	if timeout > 0 {
		t := time.AfterFunc(timeout, func() { rc.Close() })
		defer t.Stop()
	}
	io.Copy(io.Discard, io.LimitReader(rc, max))
	rc.Close()
}

// Replay returns a ReadCloser that yields prefix and then the rest of rc, and
// closes rc. It gives a caller back a body of which a prefix was captured.
func Replay(prefix []byte, rc io.ReadCloser) io.ReadCloser {
	return &replay{Reader: io.MultiReader(bytes.NewReader(prefix), rc), c: rc}
}

type replay struct {
	io.Reader
	c io.Closer
}

func (r *replay) Close() error { return r.c.Close() }

// Excerpt returns at most n runes of b as one clean line for an error
// message: invalid UTF-8 and control characters become spaces, runs of white
// space fold into one, and a cut is marked with "…".
func Excerpt(b []byte, n int) string {
	var sb strings.Builder
	space := false
	count := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) || !unicode.IsPrint(r) {
			space = sb.Len() > 0
			continue
		}
		if count >= n {
			sb.WriteString("…")
			return sb.String()
		}
		if space {
			sb.WriteByte(' ')
			count++
			space = false
		}
		sb.WriteRune(r)
		count++
	}
	return sb.String()
}
