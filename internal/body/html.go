package body

// This file turns an HTML error page, as proxies, load balancers and CDNs
// send them, into the words a person would read on it (PageText), and
// says which bodies are such pages (IsHTML).

import (
	"bytes"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// MaxPage is how much of an HTML page PageText reads: 64 KiB, as much as
// a *StatusError keeps by default. A page whose first words come later is
// not one a person reads either.
const MaxPage = 64 << 10

// IsHTML reports whether an error body is an HTML page: contentType (the
// response's Content-Type) says text/html or application/xhtml+xml, or it
// names no JSON type and b looks like HTML to http.DetectContentType (a
// page sent as text/plain or with no type at all).
func IsHTML(contentType string, b []byte) bool {
	mt := contentType
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml":
		return true
	case strings.HasSuffix(mt, "json"):
		return false
	}
	return strings.HasPrefix(http.DetectContentType(b), "text/html")
}

// PageText returns what a person reads on the HTML page b, as one clean
// line of at most n runes (see Excerpt): the title, ": ", then the visible
// text, without markup, comments, scripts or styles, entities decoded.
// Text that only repeats the title or known (the status line the message
// already shows; see repeats) is left out, and so is a title that known
// already says: nginx's 502 page after the status "502 Bad Gateway"
// reads "nginx/1.25.3".
//
// It reads at most the first MaxPage bytes of b, however long the error
// body limit lets b be, and stops as soon as it has n runes of text.
func PageText(b []byte, known string, n int) string {
	b = b[:min(len(b), MaxPage)]
	p := page{known: fold([]byte(known)), n: n}
	p.read(b)
	title := ""
	if !containsWords(p.known, fold(p.title)) {
		title = Excerpt(p.title, n)
	}
	switch {
	case title == "":
		return Excerpt(p.text, n)
	case len(p.text) == 0:
		return title
	}
	sep := ": "
	if strings.ContainsRune(".!?:", rune(title[len(title)-1])) {
		sep = " "
	}
	return Excerpt(append(append([]byte(title), sep...), p.text...), n)
}

// page is the state of one PageText.
type page struct {
	known string // the status line, folded (see fold)
	n     int    // runes wanted

	title    []byte // the <title>'s text
	titleKey string // the title folded (see fold), to compare text with
	text     []byte // visible text so far, white space folded
	runes    int    // runes in text

	skip    string // the element whose content is not shown (script, style, ...), or ""
	inTitle bool
	kept    bool // some text was kept: repetition is no longer dropped
	gap     bool // an element boundary that separates words comes before the next text
}

// read tokenizes b until its end or until enough text is found.
func (p *page) read(b []byte) {
	z := html.NewTokenizer(bytes.NewReader(b))
	for p.runes <= p.n {
		switch tt := z.Next(); tt {
		case html.ErrorToken:
			return
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			p.open(string(name), tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			name, _ := z.TagName()
			p.close(string(name))
		case html.TextToken:
			if p.skip != "" {
				continue
			}
			if p.inTitle {
				p.title = append(p.title, z.Text()...)
				continue
			}
			p.add(z.Text())
		}
	}
}

// open handles a start tag.
func (p *page) open(name string, selfClosing bool) {
	if p.skip != "" {
		return
	}
	switch name {
	case "title":
		if len(p.title) > 0 {
			p.title = append(p.title, ' ')
		}
		p.inTitle = !selfClosing
	case "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "textarea", "select":
		if !selfClosing {
			p.skip = name
		}
	}
	if !inline(name) {
		p.gap = true
	}
}

// close handles an end tag.
func (p *page) close(name string) {
	switch {
	case p.skip != "":
		if name == p.skip {
			p.skip = ""
		}
		return
	case name == "title":
		p.inTitle = false
		p.titleKey = fold(p.title)
	}
	if !inline(name) {
		p.gap = true
	}
}

// add appends a run of visible text, folding its white space, unless it
// only repeats the title or the status: is part of them, before any text
// was kept (an <h1> that says the title again), or all of one of them.
func (p *page) add(s []byte) {
	if t := fold(s); t == "" || p.repeats(t, p.titleKey) || p.repeats(t, p.known) {
		p.gap = true
		return
	}
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		s = s[size:]
		if unicode.IsSpace(r) {
			p.gap = true
			continue
		}
		if p.gap && len(p.text) > 0 {
			p.text = append(p.text, ' ')
			p.runes++
		}
		p.gap = false
		p.text = utf8.AppendRune(p.text, r)
		p.runes++
		p.kept = true
	}
}

// repeats reports whether the folded text t only says key (the folded
// title or status line) again: all of it, or all but its leading status
// code, with or without "error" in front ("Error 503 Backend fetch failed"
// after "503 Backend fetch failed"); or, before any text was kept, a part
// of it (the <h1> "Proxy Error" under the title "502 Proxy Error").
func (p *page) repeats(t, key string) bool {
	if key == "" {
		return false
	}
	if !p.kept && containsWords(key, t) {
		return true
	}
	t = strings.TrimPrefix(t, "error ")
	if t == key {
		return true
	}
	i := 0
	for i < len(key) && key[i] >= '0' && key[i] <= '9' {
		i++
	}
	return i > 0 && strings.TrimLeft(key[i:], " -:") == t
}

// fold returns s in lower case with its runs of white space folded into
// single spaces, none at either end: the form in which PageText compares
// texts.
func fold(s []byte) string {
	return strings.ToLower(strings.Join(strings.Fields(string(s)), " "))
}

// containsWords reports whether s holds sub as whole words: not inside a
// longer word or number.
func containsWords(s, sub string) bool {
	if sub == "" {
		return false
	}
	for i := 0; ; {
		j := strings.Index(s[i:], sub)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(sub)
		before, _ := utf8.DecodeLastRuneInString(s[:start])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if !wordRune(before) && !wordRune(after) {
			return true
		}
		i = start + 1
	}
}

// wordRune reports whether r is part of a word; utf8.RuneError, which
// the start or end of a string decodes to, is not.
func wordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// inline reports whether the element named is laid out inside a line, so
// that text on either side of its tags runs on without a space: "<b>5</b>02"
// reads "502", "<p>a</p><p>b</p>" reads "a b".
func inline(name string) bool {
	switch name {
	case "a", "abbr", "b", "bdi", "bdo", "big", "button", "cite", "code", "data", "dfn", "em",
		"font", "i", "kbd", "label", "mark", "nobr", "q", "s", "samp", "small", "span",
		"strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr":
		return true
	}
	return false
}
