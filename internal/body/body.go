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
	"unicode"
	"unicode/utf8"
)

// ErrReadTimeout reports that the server stopped sending the body before it
// ended and the read was abandoned.
var ErrReadTimeout = errors.New("server stopped sending the body")

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

// ExcerptString is Excerpt for a string. A string that is one clean line
// of at most n bytes already (printable ASCII, single spaces inside, none
// at either end), as a status line usually is, is returned as it is.
func ExcerptString(s string, n int) string {
	if len(s) <= n && cleanLine(s) {
		return s
	}
	return Excerpt([]byte(s), n)
}

// cleanLine reports whether Excerpt would return s unchanged, for s of at
// most n bytes.
func cleanLine(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c > '~' || c == ' ' && s[i-1] == ' ' {
			return false
		}
	}
	return true
}

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
		// The folded space before r counts towards n too.
		need := 1
		if space {
			need = 2
		}
		if count+need > n {
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
