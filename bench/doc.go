// Package bench measures resilient side by side with its peers: bare
// net/http, otelhttp, go-retryablehttp (Client and StandardClient),
// failsafe-go's failsafehttp, and resty, on the same transport and the same
// in-process server.
//
// It is a module of its own so that the peers never become dependencies of
// the library. It holds three kinds of measurement here, and the scenario
// matrix in package bench/scenario (run by bench/cmd/scenarios):
//
//   - BenchmarkPeers: the cost per request (ns/op, B/op, allocs/op, process
//     CPU per request and new connections per request) of GET 200, PUT 1 KiB,
//     GET 500 without retries and parallel GET, over loopback and over an
//     in-memory transport that is free of network noise.
//   - TestPeers_*: facts about each peer's behaviour, asserted for resilient
//     and recorded for the others: does it retry a POST on 500, does the
//     caller get the last response's body, does it leak connections or
//     goroutines on retries.
//   - TestOutage (run when RESILIENT_BENCH_OUTAGE is set): what each peer
//     at its defaults does to a server that fails every request for a while.
//
// bench/run.sh runs them all and writes bench/RESULTS.md, bench/SCENARIOS.md
// and docs/bench.svg.
package bench
