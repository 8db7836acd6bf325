package body

// This file cleans a status line for a message (StatusLine).

import (
	"strconv"
	"strings"
)

// StatusLine returns the status line s, for the status code, as
// ExcerptString(s, n) does, except that a line which only repeats its code
// is the code alone: Go's server sends "522 status code 522" for a status
// it has no text for, and HTTP/2, which has no reason phrase, gives "522 ".
// It allocates no more than ExcerptString.
func StatusLine(s string, code, n int) string {
	s = ExcerptString(s, n)
	var buf [20]byte
	c := strconv.AppendInt(buf[:0], int64(code), 10)
	if len(s) < len(c) || s[:len(c)] != string(c) {
		return s
	}
	rest := strings.TrimSpace(s[len(c):])
	const words = "status code "
	if rest == "" || rest == string(c) ||
		len(rest) == len(words)+len(c) && strings.EqualFold(rest[:len(words)], words) && rest[len(words):] == string(c) {
		return s[:len(c)]
	}
	return s
}
