package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/resilient-http/resilient"
)

// Config is what one run does. Its zero value is not usable: set Phase (or
// URL and Duration), Rate and Concurrency.
type Config struct {
	Phase time.Duration // length of each of the four phases of the embedded outage
	// Down, when not 0, is the length of the down phase instead of Phase:
	// the test lets the outage outlast the breaker's quick probes.
	Down        time.Duration
	Rate        float64 // calls per second made through each client
	Concurrency int     // most calls in flight per client; further calls wait
	Seed        uint64  // seeds the embedded servers' draws (failures, latency, request IDs)

	// URL, when set, sends the calls of both clients to a real service for
	// Duration instead of the embedded servers; phases do not apply, and
	// server requests are counted as the clients send them.
	URL      string
	Duration time.Duration

	// TracerProvider is given to the resilient client with
	// resilient.WithTracerProvider. nil means an SDK provider without an
	// exporter, so that errors carry trace IDs without a collector.
	TracerProvider trace.TracerProvider
	// Options are more options for the resilient client, applied after the
	// demo's own (tracer provider, logger). The demo itself passes none:
	// the client runs with its defaults.
	Options []resilient.Option

	Live io.Writer // where the live view goes; nil means none
	TTY  bool      // Live is a terminal: refresh a table in place
}

// Summary is what a run measured.
type Summary struct {
	Scenario    Scenario
	Rate        float64
	Concurrency int
	Seed        uint64
	Width       time.Duration // the span of one entry of ClientReport.Seconds

	Plain     ClientReport // the plain *http.Client
	Resilient ClientReport // resilient.New() with its defaults
	Host      string       // the breaker's host: scheme://host:port of the resilient client's target

	// Transitions are the resilient client's breaker transitions, as its
	// logger reported them.
	Transitions []Transition

	// PlainError is what the plain client's caller typically reports: the
	// bare status, nothing else.
	PlainError string
	// StatusError is the most telling *resilient.StatusError of the run;
	// nil when there was none. StatusErrorText is the whole error it came
	// in (a *url.Error) and StatusErrorWhy the text of its Err, both taken
	// when it happened; StatusPhase is the phase it happened in.
	StatusError     *resilient.StatusError
	StatusErrorText string
	StatusErrorWhy  string
	StatusPhase     string
	// CircuitOpen is a refusal by the open breaker, and CircuitOpenText the
	// whole error it came in; nil when there was none.
	CircuitOpen     *resilient.CircuitOpenError
	CircuitOpenText string
}

// ClientReport is what one client did, per phase, in total and per second.
type ClientReport struct {
	Name    string
	Phases  []Counts // index: Scenario.Phases
	Total   Counts
	Seconds []Counts // index: time since start / Summary.Width
}

// Opened reports whether the breaker opened during the run.
func (s *Summary) Opened() bool { return s.indexTo("open", 0) >= 0 }

// Closed reports whether the breaker closed again after opening.
func (s *Summary) Closed() bool {
	i := s.indexTo("open", 0)
	return i >= 0 && s.indexTo("closed", i+1) >= 0
}

func (s *Summary) indexTo(state string, from int) int {
	for i := from; i < len(s.Transitions); i++ {
		if s.Transitions[i].To == state {
			return i
		}
	}
	return -1
}

// bucket is the span of one entry of the per-second counts.
const bucket = time.Second

// Run plays the scenario: it drives the same traffic through a plain
// *http.Client and through resilient.New(), side by side, each against a
// server of its own, and returns what they did. It returns early with
// ctx's error when ctx is done.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if cfg.Rate <= 0 || cfg.Concurrency <= 0 {
		return nil, errors.New("rate and concurrency must be positive")
	}
	sc := newScenario(cfg.Phase, cfg.Down)
	if cfg.URL != "" {
		sc = remoteScenario(cfg.Duration)
	}
	if sc.Duration() <= 0 {
		return nil, errors.New("the run has no duration")
	}
	tp := cfg.TracerProvider
	if tp == nil {
		sdk, err := newTracerProvider(ctx, "")
		if err != nil {
			return nil, err
		}
		defer sdk.Shutdown(context.Background())
		tp = sdk
	}

	start := time.Now()
	blog := newBreakerLog(start)
	plainTr := http.DefaultTransport.(*http.Transport).Clone()
	defer plainTr.CloseIdleConnections()
	opts := append([]resilient.Option{
		resilient.WithTracerProvider(tp),
		resilient.WithLogger(slog.New(blog)),
	}, cfg.Options...)
	rc := resilient.New(opts...)
	defer resilient.Close(rc)

	ex := &examples{}
	plain := &target{Name: "plain", Client: &http.Client{Transport: plainTr}, rec: newRecorder(sc, start, bucket), ex: ex}
	res := &target{Name: "resilient", Client: rc, rec: newRecorder(sc, start, bucket), ex: ex}
	for _, t := range []*target{plain, res} {
		if cfg.URL != "" {
			t.URL, t.Exact, t.sent = cfg.URL, true, t.rec.serverRequest
			continue
		}
		srv, err := startServer(sc, start, cfg.Seed, t.rec.serverRequest)
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		t.URL = srv.URL
	}
	host := breakerHost(res.URL)

	l := load{rate: cfg.Rate, inFlight: cfg.Concurrency, start: start, end: start.Add(sc.Duration()), grace: 15 * time.Second}
	var wg sync.WaitGroup
	for _, t := range []*target{plain, res} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.drive(ctx, t)
		}()
	}
	if cfg.Live != nil {
		v := &liveView{w: cfg.Live, tty: cfg.TTY, sc: sc}
		stop := make(chan struct{})
		viewDone := make(chan struct{})
		go func() {
			defer close(viewDone)
			v.run(start, stop, func(i int) liveFrame {
				return liveFrame{
					Second: i, Phase: sc.At(time.Duration(i) * bucket),
					Plain: plain.rec.second(i), Resilient: res.rec.second(i),
					Breaker: blog.State(host),
				}
			})
		}()
		wg.Wait()
		close(stop)
		<-viewDone
	} else {
		wg.Wait()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	s := &Summary{
		Scenario: sc, Rate: cfg.Rate, Concurrency: cfg.Concurrency, Seed: cfg.Seed,
		Width: bucket, Host: host,
		Transitions: blog.Transitions(),
		PlainError:  ex.plain,
		StatusError: ex.status, StatusErrorText: ex.statusText, StatusErrorWhy: ex.statusWhy, StatusPhase: ex.statusPhase,
		CircuitOpen: ex.open, CircuitOpenText: ex.openText,
	}
	s.Plain = report(plain)
	s.Resilient = report(res)
	return s, nil
}

func report(t *target) ClientReport {
	r := ClientReport{Name: t.Name}
	r.Phases, r.Total, r.Seconds = t.rec.report()
	return r
}

// breakerHost names the breaker that guards rawURL as the client's log
// records do: scheme://host:port, the port made explicit.
func breakerHost(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	h := strings.ToLower(u.Hostname())
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return fmt.Sprintf("%s://%s:%s", u.Scheme, h, port)
}
