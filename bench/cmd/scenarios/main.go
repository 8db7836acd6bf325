// Command scenarios runs the scenario matrix (package scenario): the same
// seeded open-loop traffic through plain net/http, resilient, failsafe-go
// and go-retryablehttp, each against its own server with the same fault
// schedule, and prints a markdown report. From the repository root:
//
//	go run ./bench/cmd/scenarios                  # full matrix and sick backend, about 6 minutes
//	go run ./bench/cmd/scenarios -short           # phases of 2–3 s, about 2 minutes
//	go run ./bench/cmd/scenarios -clients plain,resilient -scenarios 5,6 -o out.md -json out.json
//	go run ./bench/cmd/scenarios -sick only      # one sick backend behind an L4 balancer, about 1–2 minutes
//
// After the matrix it runs the sick-backend scenario (scenario.RunSick)
// with the same clients, unless -sick off.
//
// It exits 1 when -strict is set and a target of the issue fails for
// resilient against plain, 2 on an error, 0 otherwise. A run whose calls
// started further behind their schedule than scenario.DefaultSchedule
// allows is not a measurement: the report and stderr say so, and with
// -strict it is an error (exit 2), not a target's failure.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/resilient-http/resilient/bench/scenario"
	"github.com/resilient-http/resilient/internal/testpeers"
)

func main() {
	failed, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scenarios:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// run runs the matrix as the flags say, and reports whether -strict is set
// and a target failed.
func run() (failed bool, err error) {
	var (
		short     = flag.Bool("short", false, "short phases (scenario.ShortTiming) for a quick look")
		rate      = flag.Float64("rate", 200, "calls started per second, per client")
		seed      = flag.Uint64("seed", 1, "seed of the fault draws")
		deadline  = flag.Duration("deadline", 0, "per-call deadline (0: the timing's, 2s)")
		lead      = flag.Duration("lead", 0, "healthy lead-in of each faulty scenario (0: the timing's)")
		fault     = flag.Duration("fault", 0, "length of each faulty phase of scenarios 2, 3, 4, 7, 8 (0: the timing's)")
		outage    = flag.Duration("outage", 0, "length of scenario 5's outage (0: the timing's)")
		flap      = flag.Duration("flap", 0, "length of scenario 6's flapping (0: the timing's)")
		healed    = flag.Duration("healed", 0, "healed tail of each faulty scenario (0: the timing's)")
		clients   = flag.String("clients", "", "comma-separated clients (default: plain,resilient,failsafe,retryablehttp)")
		scenarios = flag.String("scenarios", "", "comma-separated scenario numbers 1-14 (default: all)")
		out       = flag.String("o", "", "also write the markdown report to this file")
		jsonOut   = flag.String("json", "", "write the machine-readable result (scenario.Result) to this file")
		strict    = flag.Bool("strict", false, "exit 1 when a target of the issue fails")
		rev       = flag.String("rev", "", "the revision of resilient measured, for the report")
		redisAddr = flag.String("redis", "", "host:port of the Redis of scenario 13 (default: start redis-server on a free port)")
		sick      = flag.String("sick", "on", "the sick-backend scenario: on (after the matrix), off, or only")
	)
	flag.Parse()

	t := scenario.DefaultTiming
	if *short {
		t = scenario.ShortTiming
	}
	t.Rate = *rate
	for _, o := range []struct {
		flag *time.Duration
		dst  *time.Duration
	}{{deadline, &t.Deadline}, {lead, &t.LeadIn}, {fault, &t.Fault}, {outage, &t.Outage}, {flap, &t.Flap}, {healed, &t.Healed}} {
		if *o.flag > 0 {
			*o.dst = *o.flag
		}
	}
	if *sick != "on" && *sick != "off" && *sick != "only" {
		return false, fmt.Errorf("-sick %q: want on, off or only", *sick)
	}
	opts := scenario.Options{Timing: t, Seed: *seed}
	if *clients != "" {
		cs, err := scenario.SelectClients(strings.Split(*clients, ","))
		if err != nil {
			return false, err
		}
		opts.Clients = cs
	}
	sickOpts := scenario.SickOptions{Timing: scenario.DefaultSickTiming, Clients: opts.Clients}
	if *short {
		sickOpts.Timing = scenario.ShortSickTiming
	}
	if *scenarios != "" {
		for _, s := range strings.Split(*scenarios, ",") {
			id, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return false, fmt.Errorf("-scenarios: %v", err)
			}
			opts.Scenarios = append(opts.Scenarios, id)
		}
	}

	if *redisAddr == "" && *sick != "only" && (opts.Scenarios == nil || slices.Contains(opts.Scenarios, 13)) {
		r, err := testpeers.StartRedis()
		if err != nil {
			return false, fmt.Errorf("scenario 13 needs a Redis (-redis, or redis-server on PATH): %w", err)
		}
		defer r.Stop()
		*redisAddr = r.Addr
	}
	opts.Redis = *redisAddr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	res := &scenario.Result{Timing: t, Seed: *seed, GoVersion: runtime.Version(), Procs: runtime.GOMAXPROCS(0)}
	if *sick != "only" {
		if res, err = scenario.Run(ctx, opts); err != nil {
			return false, err
		}
	} else {
		for _, c := range orAll(opts.Clients) {
			res.Clients = append(res.Clients, scenario.ClientInfo{Name: c.Name, About: c.About})
		}
	}
	if *sick != "off" {
		if res.Sick, err = scenario.RunSick(ctx, sickOpts); err != nil {
			return false, err
		}
	}
	fmt.Fprintf(os.Stderr, "scenarios: ran in %v\n", time.Since(start).Round(time.Second))
	res.Rev = *rev
	late := res.CheckSchedule(scenario.DefaultSchedule)
	if late != nil && !*strict {
		fmt.Fprintln(os.Stderr, "scenarios:", late)
	}

	var w io.Writer = os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return false, err
		}
		defer f.Close()
		w = io.MultiWriter(os.Stdout, f)
	}
	if err := scenario.Markdown(w, res, scenario.IssueLimits); err != nil {
		return false, err
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return false, err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return false, err
		}
	}
	if *strict && late != nil {
		return false, late
	}
	if *strict {
		for _, v := range append(scenario.Check(res, scenario.IssueLimits), scenario.CheckSick(res.Sick, scenario.IssueSickLimits)...) {
			failed = failed || !v.Pass
		}
	}
	return failed, nil
}

// orAll returns cs, or every client of the matrix when cs is nil.
func orAll(cs []scenario.Client) []scenario.Client {
	if cs == nil {
		return scenario.Clients()
	}
	return cs
}
