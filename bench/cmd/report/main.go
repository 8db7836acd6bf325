// Command report turns the output of bench/run.sh into bench/RESULTS.md
// and the chart docs/bench.svg. It reads, from the -in directory:
//
//	peers.csv    benchstat -format csv -col /peer of BenchmarkPeers
//	cost.csv     benchstat -format csv -col /variant of BenchmarkResilientCost
//	facts.json   the facts recorded by TestPeers_*
//	outage.json  the results of TestOutage
//	instr.txt    instructions per request counted under valgrind (optional)
//
// Usage:
//
//	go run ./cmd/report -in out -results RESULTS.md -chart ../docs/bench.svg \
//	    -rev "$(git rev-parse --short HEAD)" -runs 6 -benchtime 1s
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/resilient-http/resilient/bench"
)

// meta describes the run.
type meta struct {
	Date      string
	CPU       string
	Cores     int
	Go        string
	OS        string
	Rev       string
	Runs      string
	Benchtime string
	Versions  map[string]string // module path → version, of the peers
}

func main() {
	in := flag.String("in", "out", "directory with peers.csv, cost.csv, facts.json, outage.json")
	results := flag.String("results", "RESULTS.md", "Markdown summary to write")
	chart := flag.String("chart", "", "SVG chart to write; empty: none")
	rev := flag.String("rev", "", "the resilient revision measured")
	runs := flag.String("runs", "", "interleaved runs (-count) per benchmark")
	benchtime := flag.String("benchtime", "", "go test -benchtime of each run")
	gomod := flag.String("gomod", "go.mod", "bench/go.mod, for the peers' versions")
	scenarios := flag.String("scenarios", "", "SCENARIOS.md, whose verdicts and totals RESULTS.md repeats; empty: none")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("report: ")

	m := meta{
		Date: time.Now().UTC().Format("2006-01-02"), CPU: cpuModel(), Cores: runtime.NumCPU(),
		Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Rev: *rev, Runs: *runs, Benchtime: *benchtime, Versions: versions(*gomod),
	}
	peers, err := readStats(*in + "/peers.csv")
	if err != nil {
		log.Fatal(err)
	}
	cost, err := readStats(*in + "/cost.csv")
	if err != nil {
		log.Print(err, " (skipping the cost breakdown)")
	}
	ins, err := readInstr(*in + "/instr.txt")
	if err != nil {
		log.Print(err, " (skipping instruction counts)")
	}
	var facts []bench.Fact
	if err := bench.ReadJSON(*in+"/facts.json", &facts); err != nil {
		log.Print(err, " (skipping the facts)")
	}
	var outage []bench.OutageResult
	if err := bench.ReadJSON(*in+"/outage.json", &outage); err != nil {
		log.Print(err, " (skipping the outage)")
	}

	var matrix string
	if *scenarios != "" {
		if raw, err := os.ReadFile(*scenarios); err != nil {
			log.Print(err, " (skipping the scenario matrix)")
		} else {
			matrix = matrixSummary(string(raw))
		}
	}

	var b strings.Builder
	writeResults(&b, m, peers, cost, ins, facts, outage)
	b.WriteString(matrix)
	if err := os.WriteFile(*results, []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	if *chart != "" {
		if err := writeChart(*chart, m, peers, outage); err != nil {
			log.Fatal(err)
		}
	}
}

// cpuModel returns the CPU's model name from /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// peerModules are the modules whose versions the report names.
var peerModules = []string{
	"github.com/hashicorp/go-retryablehttp",
	"github.com/failsafe-go/failsafe-go",
	"github.com/go-resty/resty/v2",
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
	"go.opentelemetry.io/otel/sdk",
	"github.com/sony/gobreaker/v2",
}

// versions returns the versions of peerModules: those this program was
// built with (the benchmarks' own, as both build from bench/go.mod), and
// for the modules it does not link, those required by go.mod.
func versions(gomod string) map[string]string {
	v := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if slices.Contains(peerModules, d.Path) {
				v[d.Path] = d.Version
			}
		}
	}
	b, err := os.ReadFile(gomod)
	if err != nil {
		return v
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && v[f[0]] == "" && slices.Contains(peerModules, f[0]) {
			v[f[0]] = f[1]
		}
	}
	return v
}

// cases names the benchmark cases in table order, with their titles.
var cases = []struct{ name, title string }{
	{"GET200", "GET, 200"},
	{"PUT1KiB", "PUT with a 1 KiB body, 200"},
	{"GET500", "GET, 500, retries off and breakers held closed"},
	{"GETParallel8", "GET, 200, 8 goroutines in parallel"},
}

var transports = []struct{ name, title string }{
	{"mem", "in-memory transport"},
	{"loopback", "loopback"},
}

func rowName(c, tr string) string { return "Peers/case=" + c + "/transport=" + tr }

// fmtNs formats nanoseconds with a unit that suits them.
func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e4:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

// fmtSignedNs formats a difference in nanoseconds.
func fmtSignedNs(ns float64) string {
	if ns < 0 {
		return "−" + fmtNs(-ns)
	}
	return "+" + fmtNs(ns)
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func vsBase(c cell) string {
	switch {
	case c.Delta == "":
		return "base"
	case c.Delta == "~":
		return "~"
	}
	return c.Delta
}
