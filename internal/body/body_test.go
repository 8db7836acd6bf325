package body

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/goleak"
)

// TestMain fails the package if a Keep timer goroutine, or a
// reader left blocked, outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// hangingBody yields prefix, then blocks until it is closed, like a server
// that stops sending mid-body.
type hangingBody struct {
	r      *io.PipeReader
	w      *io.PipeWriter
	closed chan struct{}
}

func newHangingBody(prefix string) *hangingBody {
	r, w := io.Pipe()
	h := &hangingBody{r: r, w: w, closed: make(chan struct{})}
	go func() {
		w.Write([]byte(prefix))
		<-h.closed
	}()
	return h
}

func (h *hangingBody) Read(p []byte) (int, error) { return h.r.Read(p) }

func (h *hangingBody) Close() error {
	select {
	case <-h.closed:
	default:
		close(h.closed)
		h.r.CloseWithError(errors.New("read on closed body"))
	}
	return nil
}

// failingBody yields prefix, then fails, like a connection reset mid-body.
type failingBody struct {
	r   io.Reader
	err error
}

func (f *failingBody) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}
func (f *failingBody) Close() error { return nil }

func TestKeep_limits(t *testing.T) {
	reset := errors.New("connection reset by peer")
	cases := []struct {
		name          string
		body          io.ReadCloser
		limit         int64
		want          string
		wantTruncated bool
		wantErr       error
	}{
		{"nil body", nil, 10, "", false, nil},
		{"shorter than the limit", io.NopCloser(strings.NewReader("hello")), 10, "hello", false, nil},
		{"exactly the limit", io.NopCloser(strings.NewReader("0123456789")), 10, "0123456789", false, nil},
		{"longer than the limit", io.NopCloser(strings.NewReader("0123456789abc")), 10, "0123456789", true, nil},
		{"zero limit, empty body", io.NopCloser(strings.NewReader("")), 0, "", false, nil},
		{"zero limit, some body", io.NopCloser(strings.NewReader("x")), 0, "", true, nil},
		{"largest limit does not overflow", io.NopCloser(strings.NewReader("hello")), math.MaxInt64, "hello", false, nil},
		// A body cut short by the network is incomplete: the server meant
		// more than Body holds.
		{"cut mid-way", &failingBody{strings.NewReader("par"), reset}, 10, "par", true, reset},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, truncated, err := Keep(tc.body, -1, tc.limit, 0, time.Second)
			if string(b) != tc.want || truncated != tc.wantTruncated || !errors.Is(err, tc.wantErr) {
				t.Errorf("Keep = %q, %v, %v; want %q, %v, %v", b, truncated, err, tc.want, tc.wantTruncated, tc.wantErr)
			}
		})
	}
}

func TestKeep_drainIsBounded(t *testing.T) {
	r := &countingReader{r: strings.NewReader(strings.Repeat("x", 10000))}
	Keep(io.NopCloser(r), -1, 10, 100, time.Second)
	if r.n > 10+1+100 {
		t.Errorf("Keep read %d bytes; the limit (10, and one byte to see more) plus the drain (100) is 111", r.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReplay_givesBackPrefixThenRestAndCloses(t *testing.T) {
	h := &closeRecorder{Reader: strings.NewReader(" world")}
	rc := Replay([]byte("hello"), h)
	b, err := io.ReadAll(rc)
	if err != nil || string(b) != "hello world" {
		t.Fatalf("ReadAll = %q, %v", b, err)
	}
	rc.Close()
	if !h.closed {
		t.Error("Replay did not close the underlying body")
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestExcerpt(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"", 10, ""},
		{"db pool exhausted", 100, "db pool exhausted"},
		{"  leading and trailing  \n", 100, "leading and trailing"},
		{"line one\r\nline two\tend", 100, "line one line two end"},
		{"ansi \x1b[31mred\x1b[0m", 100, "ansi [31mred [0m"},
		{"bad \xff\xfe utf8", 100, "bad utf8"},
		{"nul\x00byte", 100, "nul byte"},
		{"bidi \u202egnp.exe", 100, "bidi gnp.exe"},
		{"c1 \u0085next", 100, "c1 next"},
		{"abcdef", 3, "abc…"},
		{"日本語のテキスト", 3, "日本語…"},
		// The cut counts the folded spaces: never more than n runes kept.
		{"a b c d", 2, "a…"},
		{"ab cd ef", 3, "ab…"},
		{"ab cd ef", 5, "ab cd…"},
		{"ab cd", 5, "ab cd"},
		{"abc", 0, "…"},
		{"abc", -1, "…"},
		{"   ", 0, ""},
	}
	for _, tc := range cases {
		if got := Excerpt([]byte(tc.in), tc.n); got != tc.want {
			t.Errorf("Excerpt(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// FuzzExcerpt checks what an error message relies on, for any body a server
// can send: one clean line of valid UTF-8, without control or invisible
// format characters, at most n runes plus the cut mark, and the whole text
// (folded) when it fits. The same body read as an HTML page (PageText, the
// status line being its first line) is a clean line of at most n runes
// plus the cut mark too.
func FuzzExcerpt(f *testing.F) {
	f.Add([]byte("db pool exhausted"), 200)
	f.Add([]byte("<html>\n<body>\r\n502 Bad Gateway</body></html>"), 20)
	f.Add([]byte("a b c d"), 2)
	f.Add([]byte("\x1b[2J\x1b[H\u202e\u0085\xff"), 5)
	f.Add([]byte{}, 0)
	f.Add([]byte("502 Bad Gateway\n<html><head><title>502 Bad Gateway</title><style>p{}</style></head>"+
		"<body><h1>502 Bad Gateway</h1><!-- c --><script>x<y</script><p>nginx&amp;co<b>5</b>02</p><hr>\x1b\u202e</body>"), 30)
	f.Add([]byte("<title>a</title><title>b</title><svg><title>c</title></svg><textarea>d<p>e"), 10)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		n %= 1 << 12 // n is ours, not the server's: keep it to sensible sizes
		orig := bytes.Clone(b)
		known, _, _ := bytes.Cut(b, []byte("\n"))
		page := PageText(b, StatusLine(string(known), 502, 80), n)
		IsHTML("text/plain", b)
		out := Excerpt(b, n)
		if !bytes.Equal(b, orig) {
			t.Fatal("Excerpt or PageText modified its input")
		}
		if !utf8.ValidString(page) || strings.HasPrefix(page, " ") || strings.HasSuffix(page, " ") || strings.Contains(page, "  ") {
			t.Fatalf("PageText = %q: not one clean line", page)
		}
		for _, r := range page {
			if r != ' ' && !unicode.IsPrint(r) || r == utf8.RuneError {
				t.Fatalf("PageText = %q: holds %U", page, r)
			}
		}
		if c := utf8.RuneCountInString(strings.TrimSuffix(page, "…")); c > max(n, 0) {
			t.Fatalf("PageText(_, %d) = %q: %d runes", n, page, c)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("Excerpt = %q: invalid UTF-8", out)
		}
		for _, r := range out {
			if r != ' ' && !unicode.IsPrint(r) || r == utf8.RuneError {
				t.Fatalf("Excerpt = %q: holds %U", out, r)
			}
		}
		if strings.HasPrefix(out, " ") || strings.Contains(out, "  ") {
			t.Fatalf("Excerpt = %q: white space not folded", out)
		}
		// Either the whole text, folded, or as many of its first runes as
		// fit (at most n), without a dangling space, and the cut mark.
		full := Excerpt(b, len(b))
		if strings.HasSuffix(full, " ") {
			t.Fatalf("Excerpt = %q: white space not trimmed", full)
		}
		if utf8.RuneCountInString(full) > len(b) {
			t.Fatalf("Excerpt(_, %d) = %q: longer than its input", len(b), full)
		}
		if utf8.RuneCountInString(full) <= max(n, 0) {
			if out != full {
				t.Fatalf("Excerpt(_, %d) = %q, want the whole excerpt %q", n, out, full)
			}
			return
		}
		want := strings.TrimSuffix(string([]rune(full)[:max(n, 0)]), " ") + "…"
		if out != want {
			t.Fatalf("Excerpt(_, %d) = %q, want %q", n, out, want)
		}
	})
}

func TestKeep(t *testing.T) {
	reset := errors.New("connection reset by peer")
	long := strings.Repeat("x", 100)
	cases := []struct {
		name          string
		body          string
		fail          error // after body
		size          int64
		limit, drain  int64
		want          string
		wantTruncated bool
		wantRead      int // bytes read from the body, kept and drained
	}{
		{"short, size known", "hello", nil, 5, 10, 0, "hello", false, 5},
		{"short, size unknown", "hello", nil, -1, 10, 0, "hello", false, 5},
		{"size lies (shorter)", "hello", nil, 2, 10, 0, "hello", false, 5},
		{"exactly the limit", "0123456789", nil, 10, 10, 0, "0123456789", false, 10},
		{"longer, drained", long, nil, 100, 10, 1000, long[:10], true, 100},
		{"longer, drain bounded", long, nil, 100, 10, 20, long[:10], true, 31},
		{"zero limit", "x", nil, 1, 0, 0, "", true, 1},
		{"negative limit", "x", nil, 1, -5, 0, "", true, 1},
		{"largest limit does not overflow", "hello", nil, -1, math.MaxInt64, 0, "hello", false, 5},
		{"largest limit, size known", "hello", nil, 5, math.MaxInt64, math.MaxInt64, "hello", false, 5},
		{"cut mid-way", "par", reset, 10, 10, 100, "par", true, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &countingReader{r: strings.NewReader(tc.body)}
			var rc io.ReadCloser = &closeRecorder{Reader: r}
			if tc.fail != nil {
				rc = &closeRecorder{Reader: &failingBody{r, tc.fail}}
			}
			b, truncated, err := Keep(rc, tc.size, tc.limit, tc.drain, time.Second)
			if string(b) != tc.want || truncated != tc.wantTruncated || !errors.Is(err, tc.fail) {
				t.Errorf("Keep = %q, %v, %v; want %q, %v, %v", b, truncated, err, tc.want, tc.wantTruncated, tc.fail)
			}
			if r.n != tc.wantRead {
				t.Errorf("read %d bytes of the body, want %d", r.n, tc.wantRead)
			}
			if !rc.(*closeRecorder).closed {
				t.Error("Keep did not close the body")
			}
		})
	}
}

func TestKeep_abandonsABodyThatStopsMidWay(t *testing.T) {
	for _, limit := range []int64{1 << 10, 3} { // hangs while keeping, and while draining
		h := newHangingBody("partial")
		start := time.Now()
		b, truncated, err := Keep(h, 1000, limit, 1<<20, 100*time.Millisecond)
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("Keep took %s with a 100ms timeout", el)
		}
		if want := "partial"[:min(7, limit)]; string(b) != want || !truncated || !errors.Is(err, ErrReadTimeout) {
			t.Errorf("limit %d: Keep = %q, %v, %v; want %q, truncated, ErrReadTimeout", limit, b, truncated, err, want)
		}
	}
}

func TestExcerptString_sameAsExcerpt(t *testing.T) {
	for _, s := range []string{"", "500 Internal Server Error", " lead", "trail ", "two  spaces", "tab\there",
		"nul\x00", "héllo", "\u202eevil", strings.Repeat("x", 90), "~!", "a b c"} {
		if got, want := ExcerptString(s, 80), Excerpt([]byte(s), 80); got != want {
			t.Errorf("ExcerptString(%q) = %q, Excerpt = %q", s, got, want)
		}
	}
}
