// Package chaos injects faults into HTTP traffic, so that you can see how
// your code, and the services it calls, behave when things go wrong: slow
// answers, error statuses with Retry-After, connection resets, calls that
// hang, and responses that die or stall mid-body. It follows Polly's chaos
// strategies (a fault, an injection rate, an on/off switch) and
// Toxiproxy's toxics (latency with jitter, reset_peer, timeout).
//
// One [Injector] serves both sides of a call:
//
//   - [Injector.Transport] wraps an [http.RoundTripper]: the faults happen
//     in the client, before the request is sent, so your own code can be
//     tested without a server that misbehaves.
//   - [Injector.Handler] wraps an [http.Handler]: the faults happen in a
//     real server, on real connections, so a staging service can misbehave
//     on purpose during a game day.
//
// A sketch, 30% of the GETs to /orders answered 503 with Retry-After:
//
//	in, err := chaos.New(chaos.Config{
//		Seed: 1,
//		Rules: []chaos.Rule{{
//			Rate:  0.3,
//			Match: func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/orders") },
//			Fault: chaos.Fault{Status: 503, Header: http.Header{"Retry-After": {"1"}}},
//		}},
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	client := &http.Client{Transport: in.Transport(nil)}
//	// or, in a server:
//	http.ListenAndServe(":8080", in.Handler(mux))
//
// # Choosing the requests
//
// Each request that reaches an enabled injector draws one number u in
// [0, 1). The rules whose Match accepts the request stack their rates in
// order: with rates 0.3 and 0.1, the first rule takes u < 0.3 and the
// second 0.3 ≤ u < 0.4, so 30% and 10% of the requests. A rule of rate 1
// after others takes what they left. [Config.Phases] replaces the rules
// with a timetable ("10 s of 50% 503, then 5 s of resets"), read on
// [Config.Now], so that a test can drive it with a fake clock.
//
// The draws come from a random stream seeded with [Config.Seed]: calls made
// one after another meet the same faults on every run. Concurrent calls
// share the stream in the order they reach the injector, which the
// scheduler decides. When a request carries its own identity (a call
// number, a test case), [Config.Key] makes its draw a pure function of
// the seed and that key ([Draw]), the same whatever else runs: two
// clients compared on the same traffic then meet the same faults (common
// random numbers).
//
// # Game days
//
// [Injector.SetEnabled] turns injection off and on at run time; a disabled
// injector passes every request through at the cost of one atomic load.
// [Injector.Stats] counts the requests seen and the faults injected, for
// assertions in tests and for the game day's log.
package chaos
