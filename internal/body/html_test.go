package body

import (
	"strings"
	"testing"
)

func TestPageText(t *testing.T) {
	cases := []struct {
		name, page, known string
		n                 int
		want              string
	}{
		{"title and text", "<title>Oops</title><p>db pool exhausted</p>", "", 200,
			"Oops: db pool exhausted"},
		{"no title", "<html><body><p>db pool</p><p>exhausted</p></body></html>", "", 200,
			"db pool exhausted"},
		{"title only", "<title>Maintenance</title>", "", 200, "Maintenance"},
		{"scripts, styles, comments and the head's metadata dropped",
			`<!DOCTYPE html><!--[if IE]><p>old</p><![endif]--><head><meta charset=utf-8><style>p{color:red}</style>` +
				`<script>if (a < b) { document.write("<p>x</p>") }</script></head><body><noscript>enable js</noscript>` +
				`<template><p>t</p></template><svg><text>logo</text></svg><p>visible</p></body>`, "", 200,
			"visible"},
		{"entities decoded", "<p>Tom &amp; Jerry &lt;3 &bull; caf&eacute;</p>", "", 200, "Tom & Jerry <3 • café"},
		{"inline elements join, blocks separate", "<p><b>5</b>02 <i>Bad</i> Gateway</p><div>next</div>one<br>two", "", 200,
			"502 Bad Gateway next one two"},
		{"white space folded", "<p>\n\t  a \r\n  b\u00a0 c  </p>", "", 200, "a b c"},
		{"controls cleaned", "<p>red \x1b[31m\u202e text</p>", "", 200, "red [31m text"},
		{"title repeated by the status and the h1 (nginx)",
			"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.25.3</center></body></html>",
			"502 Bad Gateway", 200, "nginx/1.25.3"},
		{"heading that is part of the title (Apache)",
			"<title>502 Proxy Error</title><h1>Proxy Error</h1><p>Reason: Error reading from remote server</p>",
			"502 Proxy Error", 200, "Reason: Error reading from remote server"},
		{"title kept when the status does not say it",
			"<title>shop | 522: Connection timed out</title><h1><span>Connection timed out</span> <span>Error code 522</span></h1>",
			"522", 200, "shop | 522: Connection timed out: Error code 522"},
		{"the status again, later, with Error in front (Varnish)",
			"<title>503 Backend fetch failed</title><h1>Error 503 Backend fetch failed</h1><p>Backend fetch failed</p><p>XID: 1</p>",
			"503 Backend fetch failed", 200, "XID: 1"},
		{"a part of the title later on is kept",
			"<title>Server Error</title><p>Retry later</p><p>Error</p>", "", 200, "Server Error: Retry later Error"},
		{"a number inside the title is not a repetition",
			"<title>Error 502</title><p><b>5</b>0 left</p>", "", 200, "Error 502: 50 left"},
		{"title ending in a stop", "<title>Server error.</title><p>Try again</p>", "", 200, "Server error. Try again"},
		{"cut at n runes", "<title>T</title><p>abcdefghij</p>", "", 6, "T: abc…"},
		{"cut mid-tag", "<title>Down</title><p>for maint<di", "", 200, "Down: for maint"},
		{"unclosed script hides the rest", "<p>a</p><script>b<p>c</p>", "", 200, "a"},
		{"empty", "", "", 200, ""},
		{"not markup at all", "plain words", "", 200, "plain words"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := PageText([]byte(tc.page), tc.known, tc.n); got != tc.want {
				t.Errorf("PageText = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPageText_stopsReadingOnceItHasEnough(t *testing.T) {
	// Past the first n runes the page is not read: an unclosed comment
	// there, which would hide everything after it, changes nothing.
	head := "<title>T</title><p>" + strings.Repeat("word ", 100) + "</p>"
	a := PageText([]byte(head+"<p>more</p>"), "", 50)
	b := PageText([]byte(head+"<!-- <p>more</p>"), "", 50)
	if a != b || !strings.HasSuffix(a, "…") {
		t.Errorf("PageText = %q and %q, want the same cut text", a, b)
	}
}

func TestPageText_readsAtMostMaxPage(t *testing.T) {
	script := "<script>" + strings.Repeat("x", MaxPage) + "</script>"
	if got := PageText([]byte("<title>T</title>"+script+"<p>late words</p>"), "", 200); got != "T" {
		t.Errorf("PageText = %q, want the title alone: the words come after MaxPage", got)
	}
}

func TestIsHTML(t *testing.T) {
	cases := []struct {
		contentType, body string
		want              bool
	}{
		{"text/html", "", true},
		{"Text/HTML; charset=utf-8", "not really", true},
		{"application/xhtml+xml", "<html/>", true},
		{"", "<!DOCTYPE html><html>", true},
		{"", "\n  <html><body>x</body></html>", true},
		{"text/plain", "<html><body>502</body></html>", true},
		{"application/octet-stream", "<!doctype html>", true},
		{"text/plain", "upstream connect error or disconnect/reset before headers", false},
		{"", "Bad Gateway", false},
		{"application/json", "<html>", false},
		{"application/problem+json", "<html>", false},
		{"application/vnd.api+json; charset=utf-8", "<!DOCTYPE html>", false},
		{"", `{"error":"<b>x</b>"}`, false},
	}
	for _, tc := range cases {
		if got := IsHTML(tc.contentType, []byte(tc.body)); got != tc.want {
			t.Errorf("IsHTML(%q, %q) = %v, want %v", tc.contentType, tc.body, got, tc.want)
		}
	}
}

func TestStatusLine(t *testing.T) {
	cases := []struct {
		s    string
		code int
		want string
	}{
		{"502 Bad Gateway", 502, "502 Bad Gateway"},
		{"522 status code 522", 522, "522"},
		{"522 Status Code 522", 522, "522"},
		{"522 ", 522, "522"},
		{"522", 522, "522"},
		{"599 599", 599, "599"},
		{"522 Origin Connection Time-out", 522, "522 Origin Connection Time-out"},
		{"522 status code 523", 522, "522 status code 523"},
		{"5220 status code 5220", 522, "5220 status code 5220"},
		{"503\r\n  Service\tUnavailable", 503, "503 Service Unavailable"},
		{"", 500, ""},
	}
	for _, tc := range cases {
		if got := StatusLine(tc.s, tc.code, 80); got != tc.want {
			t.Errorf("StatusLine(%q, %d) = %q, want %q", tc.s, tc.code, got, tc.want)
		}
	}
}

func TestStatusLine_allocatesNoMoreThanExcerptString(t *testing.T) {
	for _, s := range []string{"503 Service Unavailable", "522 status code 522"} {
		if got, want := testing.AllocsPerRun(100, func() { StatusLine(s, 503, 80) }),
			testing.AllocsPerRun(100, func() { ExcerptString(s, 80) }); got > want {
			t.Errorf("StatusLine(%q) allocates %.0f, ExcerptString %.0f", s, got, want)
		}
	}
}

// page64KiB returns a 64 KiB error page (DefaultErrorBodyLimit): a title,
// filler (style and script, which PageText skips, or text, where it can
// stop early), then the words.
func page64KiB(filler string) []byte {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html><html><head><title>example.com | 522: Connection timed out</title><style>")
	if filler == "markup" {
		for b.Len() < 32<<10 {
			b.WriteString(".cf-error-details{margin:0 auto;padding:1em}\n")
		}
		b.WriteString("</style><script>")
		for b.Len() < 63<<10 {
			b.WriteString("(function(){var a=document.getElementById('cf-footer');if(a<b){a.x=1}})();\n")
		}
		b.WriteString("</script></head><body>")
	} else {
		b.WriteString("</style></head><body>")
		for b.Len() < 63<<10 {
			b.WriteString("<div class=\"row\"><span>The origin web server timed out</span> <b>again</b></div>\n")
		}
	}
	b.WriteString("<h1>Connection timed out</h1><p>Error code 522</p></body></html>")
	for b.Len() < 64<<10 {
		b.WriteString(" ")
	}
	return []byte(b.String()[:64<<10])
}

// BenchmarkPageText measures the words of a 64 KiB error page: "markup"
// must read it all (64 KiB of style and script before the words), "text"
// stops after the first 200 runes.
func BenchmarkPageText(b *testing.B) {
	for _, filler := range []string{"markup", "text"} {
		page := page64KiB(filler)
		b.Run(filler, func(b *testing.B) {
			b.SetBytes(int64(len(page)))
			b.ReportAllocs()
			for b.Loop() {
				PageText(page, "522", 200)
			}
		})
	}
}

// BenchmarkExcerpt_64KiB is the plain excerpt of the same page, for
// comparison.
func BenchmarkExcerpt_64KiB(b *testing.B) {
	page := page64KiB("markup")
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		Excerpt(page, 200)
	}
}
