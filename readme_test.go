package resilient_test

// This file checks that the Go snippets in README.md are the bodies of the
// examples in example_test.go, so that the README shows only code that
// compiles (and, where the example has an Output comment, runs and prints
// what it says).
//
// In README.md, every ```go block is preceded by a marker naming its
// source:
//
//	<!-- snippet: Example_quickStart -->
//	```go
//	client := resilient.New()
//	...
//	```
//
// The block must equal the body of that function in example_test.go,
// dedented and without its "// Output:" comment, up to white space: runs of
// spaces and tabs count as one, and leading, trailing and repeated blank
// lines are ignored. To change a snippet, change the example, then copy its
// body into the README.

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestREADME_snippetsMatchExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := exampleBodies("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	blocks, problems := readmeSnippets(string(readme))
	if len(blocks) == 0 && len(problems) == 0 {
		t.Fatal("README.md: found no ```go block; if the README really has no Go code any more, delete this test")
	}
	problems = append(problems, compareSnippets(blocks, examples)...)
	for _, p := range problems {
		t.Error("README.md:" + p)
	}
}

// TestReadme_checkerCatchesDrift feeds the checker READMEs that are wrong
// in each way it must catch, so that a checker that always passes fails
// here.
func TestReadme_checkerCatchesDrift(t *testing.T) {
	examples := map[string]string{
		"ExampleNew": "client := resilient.New()\n\nresp, err := client.Get(url)",
	}
	tests := []struct {
		name   string
		readme string
		want   string // a substring of the problems reported; "" for none
	}{{
		name:   "matching block, other indentation and blank lines",
		readme: "# x\n\n<!-- snippet: ExampleNew -->\n```go\n    client  := resilient.New()\n\n\n  resp, err := client.Get(url)\n```\n",
	}, {
		name:   "edited block",
		readme: "<!-- snippet: ExampleNew -->\n```go\nclient := resilient.New(resilient.WithRetry(r))\n\nresp, err := client.Get(url)\n```\n",
		want:   "- client := resilient.New(resilient.WithRetry(r))",
	}, {
		name:   "block with a line more",
		readme: "<!-- snippet: ExampleNew -->\n```go\nclient := resilient.New()\n\nresp, err := client.Get(url)\nlog.Print(err)\n```\n",
		want:   "- log.Print(err)",
	}, {
		name:   "unmarked block",
		readme: "Text.\n\n```go\nclient := resilient.New()\n```\n",
		want:   "has no <!-- snippet: ExampleName --> marker",
	}, {
		name:   "marker a paragraph away",
		readme: "<!-- snippet: ExampleNew -->\n\n```go\nclient := resilient.New()\n\nresp, err := client.Get(url)\n```\n",
		want:   "has no <!-- snippet: ExampleName --> marker",
	}, {
		name:   "unknown example",
		readme: "<!-- snippet: ExampleGone -->\n```go\nclient := resilient.New()\n```\n",
		want:   "no function ExampleGone in example_test.go",
	}, {
		name:   "marker without a block",
		readme: "<!-- snippet: ExampleNew -->\nSome text.\n",
		want:   "is not followed by a ```go block",
	}, {
		name:   "unterminated block",
		readme: "<!-- snippet: ExampleNew -->\n```go\nclient := resilient.New()\n",
		want:   "is not closed",
	}, {
		name:   "other languages are not snippets",
		readme: "```sh\ngo run ./cmd/demo\n```\n\n```text\nrequest failed with status code 500\n```\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks, problems := readmeSnippets(tt.readme)
			problems = append(problems, compareSnippets(blocks, examples)...)
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Errorf("problems %q, want none", problems)
			case tt.want != "" && !strings.Contains(strings.Join(problems, "\n"), tt.want):
				t.Errorf("problems %q, want one containing %q", problems, tt.want)
			}
		})
	}
}

func TestReadme_exampleBodies(t *testing.T) {
	src := "package x_test\n\n" +
		"func ExampleA() {\n\tx := 1\n\n\tif x > 0 {\n\t\tfmt.Println(x)\n\t}\n\t// Output:\n\t// 1\n}\n\n" +
		"func ExampleB() {\n\tfmt.Println(2) // Output: is not a comment group of its own here\n\t// Output: 2\n}\n\n" +
		"func ExampleC() {\n\t// compiled only\n\tf()\n}\n"
	got, err := parseExampleBodies("x_test.go", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ExampleA": "x := 1\n\nif x > 0 {\n\tfmt.Println(x)\n}",
		"ExampleB": "fmt.Println(2) // Output: is not a comment group of its own here",
		"ExampleC": "// compiled only\nf()",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: body %q, want %q", name, got[name], w)
		}
	}
}

// snippet is one ```go block of the README.
type snippet struct {
	line   int    // line of the opening fence, from 1
	source string // the example named by its marker
	text   string // the block's lines, without the fences
}

var (
	snippetMarker = regexp.MustCompile(`^\s*<!--\s*snippet:\s*(\S+)\s*-->\s*$`)
	fence         = regexp.MustCompile("^ {0,3}```+\\s*([^`\\s]*)")
)

// readmeSnippets returns the README's ```go blocks and what is wrong with
// their markers: a block without one on the line before it, a marker
// without a block after it, a block that is never closed.
func readmeSnippets(readme string) (blocks []snippet, problems []string) {
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		if m := snippetMarker.FindStringSubmatch(lines[i]); m != nil {
			if i+1 >= len(lines) || !isGoFence(lines[i+1]) {
				problems = append(problems, fmt.Sprintf("%d: <!-- snippet: %s --> is not followed by a ```go block on the next line", i+1, m[1]))
			}
			continue
		}
		m := fence.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		start := i
		end := -1
		for j := i + 1; j < len(lines); j++ {
			if t := strings.TrimSpace(lines[j]); strings.HasPrefix(t, "```") && strings.Trim(t, "`") == "" {
				end = j
				break
			}
		}
		if end < 0 {
			problems = append(problems, fmt.Sprintf("%d: the ``` block opened here is not closed", start+1))
			return blocks, problems
		}
		i = end
		if !isGoFence(lines[start]) {
			continue
		}
		var source string
		if start > 0 {
			if mm := snippetMarker.FindStringSubmatch(lines[start-1]); mm != nil {
				source = mm[1]
			}
		}
		if source == "" {
			problems = append(problems, fmt.Sprintf("%d: ```go block has no <!-- snippet: ExampleName --> marker on the line before it; "+
				"every Go snippet must be the body of an example in example_test.go", start+1))
			continue
		}
		blocks = append(blocks, snippet{line: start + 1, source: source, text: strings.Join(lines[start+1:end], "\n")})
	}
	return blocks, problems
}

func isGoFence(line string) bool {
	m := fence.FindStringSubmatch(line)
	return m != nil && (strings.EqualFold(m[1], "go") || strings.EqualFold(m[1], "golang"))
}

// compareSnippets reports every block that differs from the body of the
// example it names, with a line diff.
func compareSnippets(blocks []snippet, examples map[string]string) []string {
	var problems []string
	for _, b := range blocks {
		body, ok := examples[b.source]
		if !ok {
			problems = append(problems, fmt.Sprintf("%d: <!-- snippet: %s -->: there is no function %s in example_test.go", b.line, b.source, b.source))
			continue
		}
		readme, example := normalize(b.text), normalize(body)
		if strings.Join(readme, "\n") == strings.Join(example, "\n") {
			continue
		}
		problems = append(problems, fmt.Sprintf("%d: the block marked <!-- snippet: %s --> differs from the body of %s in example_test.go "+
			"(- README, + example; copy the example's body into the README):\n%s", b.line, b.source, b.source, lineDiff(readme, example)))
	}
	return problems
}

// normalize folds white space: each line trimmed, with runs of spaces and
// tabs as one space; no blank line at either end, none repeated.
func normalize(s string) []string {
	var out []string
	blank := false
	for _, l := range strings.Split(s, "\n") {
		l = strings.Join(strings.Fields(l), " ")
		if l == "" {
			blank = len(out) > 0
			continue
		}
		if blank {
			out = append(out, "")
			blank = false
		}
		out = append(out, l)
	}
	return out
}

// lineDiff returns a minimal line diff of a and b (longest common
// subsequence): "- " before a's lines, "+ " before b's, and up to two
// common lines of context around each change.
func lineDiff(a, b []string) string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []string // each line prefixed "  ", "- " or "+ "
	for i, j := 0, 0; i < n || j < m; {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, "  "+a[i])
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, "- "+a[i])
			i++
		default:
			ops = append(ops, "+ "+b[j])
			j++
		}
	}
	const context = 2
	near := func(k int) bool {
		for d := max(0, k-context); d <= min(len(ops)-1, k+context); d++ {
			if ops[d][0] != ' ' {
				return true
			}
		}
		return false
	}
	var out strings.Builder
	skipped := false
	for k, op := range ops {
		if !near(k) {
			skipped = true
			continue
		}
		if skipped && out.Len() > 0 {
			out.WriteString("\t  ...\n")
		}
		skipped = false
		fmt.Fprintf(&out, "\t%s\n", op)
	}
	return out.String()
}

// exampleBodies returns the body of every function in the file at path,
// by name; see parseExampleBodies.
func exampleBodies(path string) (map[string]string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseExampleBodies(path, src)
}

// parseExampleBodies returns the source text between the braces of every
// function declared in src, dedented, without the "// Output:" (or
// "// Unordered output:") comment that ends an example, and without blank
// lines at either end.
func parseExampleBodies(name string, src []byte) (map[string]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	bodies := make(map[string]string)
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Body == nil || fn.Recv != nil {
			continue
		}
		start := fset.Position(fn.Body.Lbrace).Offset + 1
		end := fset.Position(fn.Body.Rbrace).Offset
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if c.Pos() <= fn.Body.Lbrace || c.End() > fn.Body.Rbrace || !isOutputComment(c.Text) {
					continue
				}
				// The output comment stands on lines of its own: a comment
				// after code on its line does not end the example.
				at := fset.Position(c.Pos()).Offset
				lineStart := bytes.LastIndexByte(src[:at], '\n') + 1
				if strings.TrimSpace(string(src[lineStart:at])) == "" {
					end = min(end, lineStart)
				}
			}
		}
		bodies[fn.Name.Name] = dedent(string(src[start:end]))
	}
	return bodies, nil
}

func isOutputComment(text string) bool {
	text = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(text, "//")))
	return strings.HasPrefix(text, "output:") || strings.HasPrefix(text, "unordered output:")
}

// dedent removes blank lines at both ends of s, the leading white space
// that all its other lines share, and trailing white space.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	prefix, first := "", true
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first {
			prefix, first = indent, false
			continue
		}
		for !strings.HasPrefix(indent, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimPrefix(l, prefix), " \t")
	}
	return strings.Join(lines, "\n")
}
