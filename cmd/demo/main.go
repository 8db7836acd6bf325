// Command demo shows, in about half a minute and without network, what
// package resilient changes when a service fails. It starts an embedded
// server that goes healthy, flaky (30% 503 with Retry-After), down (every
// request 500 with problem details) and healed, its faults injected by
// package chaos (scenario.go holds the timetable), and drives the same
// traffic through a plain *http.Client and through resilient.New() with its
// defaults, side by side. It shows a live view while it runs and, at the
// end, the difference in numbers and the errors each client returns.
//
// Usage, from the repository root:
//
//	go run ./cmd/demo [-duration 32s] [-rate 100] [-concurrency 200] [-seed 1]
//	                  [-chart out.svg] [-url https://service/path] [-otlp localhost:4318]
//
// go run ./cmd/demo -h prints every flag with its default; cmd/demo/README.md
// describes them and shows a run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line flags, checked.
type options struct {
	duration    time.Duration
	rate        float64
	concurrency int
	seed        uint64
	chart       string
	url         string
	otlp        string
}

// parseFlags reads and checks args. Its errors are one line.
func parseFlags(args []string, usage io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.DurationVar(&o.duration, "duration", 32*time.Second, "length of the run; each of the four phases lasts a quarter of it")
	fs.Float64Var(&o.rate, "rate", 100, "calls per second made through each client")
	fs.IntVar(&o.concurrency, "concurrency", 200, "most calls in flight per client; further calls wait")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the embedded servers' failures, latencies and request IDs, for a reproducible run")
	fs.StringVar(&o.chart, "chart", "", "write a chart of the run to this `file` (.svg or .png)")
	fs.StringVar(&o.url, "url", "", "call this real service instead of the embedded one (both clients GET it; phases do not apply)")
	fs.StringVar(&o.otlp, "otlp", "", "export the resilient client's traces over OTLP/HTTP to this `endpoint` (host:port or URL), so the trace IDs can be looked up")
	fs.Usage = func() {} // a bad flag gets one line, not the whole usage
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(usage, "Usage: go run ./cmd/demo [flags]\n\n"+
				"Plays an outage (healthy, flaky, down, healed) against a plain http.Client\n"+
				"and resilient.New(), side by side, and shows the difference.\n\nFlags:\n")
			fs.SetOutput(usage)
			fs.PrintDefaults()
			return o, flag.ErrHelp
		}
		return o, fmt.Errorf("%v (see -h)", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q; every setting is a flag, see -h", fs.Arg(0))
	}
	switch {
	case o.duration < 4*time.Second || o.duration > time.Hour:
		return o, fmt.Errorf("-duration %s: use between 4s and 1h", o.duration)
	case !(o.rate > 0 && o.rate <= 10000):
		return o, fmt.Errorf("-rate %g: use between 0 and 10000 calls per second", o.rate)
	case o.concurrency < 1 || o.concurrency > 10000:
		return o, fmt.Errorf("-concurrency %d: use between 1 and 10000", o.concurrency)
	}
	if o.chart != "" {
		if _, err := chartFormat(o.chart); err != nil {
			return o, err
		}
	}
	if o.url != "" {
		u, err := url.Parse(o.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("-url %q: want an http or https URL such as https://api.example.com/health", o.url)
		}
	}
	if o.otlp != "" {
		if _, err := otlpOptions(o.otlp); err != nil {
			return o, err
		}
	}
	return o, nil
}

// run is the command: it returns the exit code, 0 on success, 2 for bad
// flags, 1 when the run failed.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if o.url != "" {
		if err := checkReachable(ctx, o.url, 5*time.Second); err != nil {
			fmt.Fprintf(stderr, "demo: %v\n", err)
			return 1
		}
	}
	var exportErr firstError
	if o.otlp != "" {
		if err := checkCollector(ctx, o.otlp, 5*time.Second); err != nil {
			fmt.Fprintf(stderr, "demo: %v\n", err)
			return 1
		}
		// Export failures are reported once, at the end, not in the live view.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(exportErr.set))
	}
	tp, err := newTracerProvider(ctx, o.otlp)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}

	tty := isTerminal(stdout)
	cfg := Config{
		Phase: o.duration / 4, Rate: o.rate, Concurrency: o.concurrency, Seed: o.seed,
		URL: o.url, Duration: o.duration, TracerProvider: tp,
		Live: stdout, TTY: tty,
	}
	fmt.Fprintln(stdout, intro(cfg))
	s, err := Run(ctx, cfg)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := tp.Shutdown(shutdownCtx); serr != nil {
		exportErr.set(serr)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "demo: interrupted")
			return 130
		}
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	s.Print(stdout)

	code := 0
	if o.otlp != "" {
		if err := exportErr.get(); err != nil {
			fmt.Fprintf(stderr, "demo: exporting traces to %s failed: %v\n", o.otlp, err)
			code = 1
		} else if s.StatusError != nil && s.StatusError.TraceID != "" {
			fmt.Fprintf(stdout, "\nTraces were exported to %s: look up trace %s.\n", o.otlp, s.StatusError.TraceID)
		}
	}
	if o.chart != "" {
		if err := writeChart(o.chart, s); err != nil {
			fmt.Fprintf(stderr, "demo: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "\nChart written to %s\n", o.chart)
	}
	return code
}

// firstError keeps the first error set. It is safe for concurrent use.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// intro says what the run is about to do.
func intro(cfg Config) string {
	var b strings.Builder
	if cfg.URL != "" {
		fmt.Fprintf(&b, "Calling %s for %s through a plain http.Client and resilient.New(), %g calls/s each.\n",
			cfg.URL, cfg.Duration, cfg.Rate)
		return b.String()
	}
	fmt.Fprintf(&b, "Two embedded servers on 127.0.0.1 play the same outage, one for each client, %s per phase:\n", cfg.Phase)
	for _, p := range newScenario(cfg.Phase, cfg.Down).Phases {
		fmt.Fprintf(&b, "  %-8s %s\n", p.Name, p.About)
	}
	fmt.Fprintf(&b, "The same traffic, %g calls/s, goes through a plain http.Client and through resilient.New() with its defaults.\n", cfg.Rate)
	return b.String()
}

// isTerminal reports whether w is a character device such as a terminal,
// where the live view can redraw in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
