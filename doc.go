// Package resilient is an HTTP client for services that fail. It retries
// what is safe to retry, stops sending to a host that is down, and, when a
// call still fails, returns an error that says what happened: the status,
// the server's own words, the trace and request IDs to look up, how many
// attempts were made, how long they took, and why retrying stopped. Where
// a plain client reports
//
//	request failed with status code 500
//
// this one reports
//
//	Get "https://api.example.com/orders/42": resilient: 503 Service Unavailable after 4 attempts in 1.42s (trace 4bf92f3577b34da6a3ce929d0e0e4736, request 7f3a9c): Database unavailable: pool exhausted
//
// and the error is a [*StatusError] that holds each of those parts.
//
// [New] returns a plain *http.Client, so it drops in wherever one is
// accepted, http.DefaultClient included:
//
//	client := resilient.New()
//	resp, err := client.Get("https://api.example.com/orders/42")
//	var se *resilient.StatusError
//	if errors.As(err, &se) {
//		log.Printf("orders: %d after %d attempts, trace %s: %s",
//			se.StatusCode, se.Attempts, se.TraceID, se.Body)
//	}
//
// [NewTransport] gives the same machinery as an [http.RoundTripper], for a
// client you build yourself. Both are safe for concurrent use. Policies are
// plain structs passed through one option each ([WithRetry],
// [WithBreaker]); a zero field keeps its default. An invalid value
// (Retry{Max: -5}) makes New panic, so that a misconfiguration shows when
// the program starts, not in its first request in production; [Validate]
// returns the same error for options read from configuration.
//
// A program that configures a go-retryablehttp client switches with
// fromretryable.New (package github.com/resilient-http/resilient/fromretryable),
// which keeps its RetryMax, waits, CheckRetry, Backoff, logger, hooks and
// inner client; docs/migrating.md says what maps to what and what
// differs. This package does not import go-retryablehttp.
//
// # What happens to a request
//
// A call through the client goes through these steps, the same for every
// attempt:
//
//  1. The request is checked: a nil request, a URL without a host or an
//     unsupported scheme fails at once with [ErrInvalidRequest]. The
//     caller's request is never modified: an attempt is sent as that
//     request itself or as a copy with another context or body
//     ([http.Request.WithContext], or [http.Request.Clone] for a hedge).
//     Its body is read and closed, as by any [http.RoundTripper].
//  2. The host's circuit breaker admits the attempt or refuses it without
//     touching the network ([*CircuitOpenError]). There is one breaker per
//     scheme, host and port.
//  3. The attempt is sent through the base transport. [Retry].AttemptTimeout
//     bounds the wait for its response headers; a hung attempt is abandoned
//     and counts as a retryable failure.
//  4. The outcome is classified, as [Classify] does: success; retryable
//     (network failures before a response, timeouts, 408, 429, and every
//     5xx, Cloudflare's 520-524 and 530 and a proxy's 598 and 599
//     included, as go-retryablehttp and failsafe-go retry them); or
//     permanent (other 4xx; 501, 505, 506, 508, 510 and 511, which say the
//     request itself is wrong or will never be carried out; certificate
//     errors, too many redirects). Only retryable failures of the server or
//     the network count against the breaker: 4xx (429 included) and the
//     caller's own cancellation never do. Such a failure also retires the
//     connection it came on (see "A connection is part of the host's
//     health" below).
//  5. A retryable failure is retried when the request is safe to send again
//     (see below), retries are left ([Retry].Max), the host's retry budget
//     allows one, and the wait fits: the backoff, or what the server asked
//     for with Retry-After or RateLimit, never shortened. The client waits,
//     then goes back to step 2.
//  6. The last outcome is shaped into what the caller gets: the response,
//     or one of the errors below, inside the *url.Error that *http.Client
//     wraps around transport errors.
//
// Which requests are sent again: GET, HEAD, OPTIONS, TRACE, PUT and DELETE
// (the idempotent methods of RFC 9110); POST and PATCH only when the
// request carries an Idempotency-Key header, or when the failure proves the
// server never processed the request: the connection was refused, the
// HTTP/2 server refused the stream (REFUSED_STREAM) or left it above the
// last stream of its GOAWAY, or the server closed a kept-alive HTTP/1.1
// connection before the request was written on it. A request body is sent
// again from GetBody, which http.NewRequest sets for a *bytes.Buffer,
// *bytes.Reader or *strings.Reader. A body without GetBody, as the AWS SDK
// and io.Pipe send, is rewound when it is an io.Seeker, and otherwise sent
// again from a copy of what was sent, up to [DefaultReplayLimit] (2 MiB,
// [WithReplayLimit]); a longer one is sent once, and its error matches
// [ErrBodyNotReplayable].
//
// # Defaults
//
// Every default is a named value ([DefaultRetry], [DefaultBreaker],
// [DefaultErrorBodyLimit]) and every field's doc comment says what its zero
// value means. A client built with no options:
//
//   - retries up to 3 times after the first attempt ([Retry].Max; -1 turns
//     retries off);
//   - waits with exponential backoff and full jitter, from 100 ms and never
//     above 5 s ([Retry].MinWait, [Retry].MaxWait; [Retry].Backoff replaces
//     it). A server that asks for a longer wait than MaxWait (or
//     [Retry].MaxServerWait, when set: [ErrRetryAfterTooLong]), or than
//     the time left before the context deadline ([ErrDeadline]: the
//     deadline stopped it), ends the retries at once, and the error carries its
//     RetryAfter, so the caller knows when to come back. It never sleeps
//     past the context deadline;
//   - abandons an attempt that has no response headers after 10 s
//     ([Retry].AttemptTimeout);
//   - retries freely while a host shows no sign that load hurts it, and
//     holds retries to 10% of the calls made to it over a rolling second
//     (or 3, when that is more) while it does ([RetryBudget]; see
//     "Retries follow the host's room" below);
//   - admits calls per host ([Breaker]) so as never to be worse than a
//     plain client: while a host answers some calls, nothing is refused.
//     A run of failures that is improbable at the host's recent success
//     rate (25 in a row for a healthy host) opens its circuit breaker,
//     which then refuses calls in microseconds with [ErrCircuitOpen]
//     (but for a host that was already failing some calls: there a call
//     that may be retried waits for its quick probes, 10 ms apart, for
//     as long as its retries' backoffs could take: 700 ms),
//     sparing the server, and probes it after holds of a quarter of the
//     outage's age, from 10 ms to 250 ms, or as long as its Retry-After
//     asks. A successful probe closes it, and after an outage of a second
//     or more traffic ramps from half to all within 250 ms. In a total
//     outage the server gets about 4% of a plain client's requests (4.3%
//     in the scenario matrix); after it heals, the first call succeeds
//     within about 150 ms on average (the next probe is up to 300 ms
//     away) and full traffic is back within about 400 ms
//     (bench/SCENARIOS.md measures both side by side with a plain
//     client);
//   - turns a final 5xx, or a 429 after retries, into a [*StatusError] that
//     keeps up to 64 KiB of the body ([WithErrorBodyLimit]); other 4xx
//     responses come back as plain responses, so code that checks for 404
//     keeps working ([WithPassThrough5xx] returns 5xx responses as they are,
//     too);
//   - has no total timeout beyond the request's context ([WithTimeout] sets
//     one over all attempts and waits);
//   - traces and measures through the OpenTelemetry global providers, so
//     nothing is produced until a program sets them up, and logs nothing
//     ([WithLogger]);
//   - replays a body without GetBody from a copy of up to 2 MiB
//     ([WithReplayLimit]), and does not hedge ([WithHedging]).
//
// Each feature is turned off where its settings live: Retry.Max -1 (or
// Policy.NoRetry for one call), Retry.AttemptTimeout -1, RetryBudget
// and Breaker's Disabled, Breaker.RampUp -1, WithReplayLimit(0), and
// Hedging.MaxAttempts 1 (for a Policy; a client without WithHedging does
// not hedge). Zero values mean the defaults everywhere else.
//
// # One call, another policy
//
// A call can follow a policy of its own, without a second client: put a
// [Policy] in its context with [ContextWithPolicy].
//
//	ctx := resilient.ContextWithPolicy(ctx, resilient.Policy{NoRetry: true})
//	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
//
// Policy.NoRetry sends the call once; Policy.Retry changes Max, MinWait or
// MaxWait for it; Policy.Idempotent lets a POST or PATCH be retried like a
// GET, as an Idempotency-Key header does; Policy.SkipBreaker sends it
// whatever the host's breaker says and keeps it out of the breaker's
// counts (a health check, an operator's probe); Policy.Hedging turns
// hedging on or off for it. A call without a policy pays one context
// lookup for the feature.
//
// # Hedged requests
//
// [WithHedging] cuts the tail of the latency: an attempt that has not
// answered within a delay gets a second one (a hedge) to the same host,
// and the first answer that is not a retryable failure wins; the other is
// canceled and its body closed. It is off by default. Only calls that may
// be sent twice are hedged (idempotent, with a body that GetBody can
// give again). The delay is fixed ([Hedging].Delay) or the host's recent
// latency at a quantile (95th by default, once 100 calls were timed).
// Hedges are extra load, not answers to failures: they are always held to
// the host's retry budget share, Budget.Ratio of the calls (or MinRetries
// per window, when that is more), the window's retries counted in it; no hedge
// goes to a host whose admission refuses it. Each hedge is an attempt
// span with resilient.hedge=true, and the metrics resilient.hedges,
// resilient.hedges.won and resilient.hedges.refused count them.
// bench/HEDGING.md measures it against failsafe-go and resty.
//
// # Retries follow the host's room
//
// Random failures (a share of 5xx, connection resets, a flapping host) cost
// the server nothing other calls need, and retrying them is what gets calls
// through; a capacity-bound server in overload is another matter: its
// queue grows, answers come later, attempts time out while it still works
// on them, and every retry takes the place of another call or adds to the
// backlog, which keeps it overloaded after the cause has gone (a retry
// storm, a metastable failure). So the retry budget refuses nothing while a
// host shows no sign that load hurts it (Retry.Max bounds each call, the
// breaker an outage), and holds retries to RetryBudget.Ratio of the calls
// (10%, or MinRetries per second) while it does: for 2 s after an attempt
// timed out or was answered 429 (RetryBudget.Hold), and while the mean
// latency of its answered calls over the last second is above twice its own
// baseline, a one-minute average (RetryBudget.Latency, Baseline), and 20 ms
// or more above it: a queue building, as TCP Vegas and Netflix's Gradient2
// read it; then the share shrinks further as the queue grows (times twice
// the baseline over the recent latency). A 503 with Retry-After is honoured
// by waiting, not held back.
// HostState.RetriesPerCall and RetryHeldBack, and the
// resilient.retry_budget.share gauge, say which holds for each host. A server that rejects at a cost but
// shows neither latency, timeouts nor 429s looks like random 503s to it.
// bench/SCENARIOS.md measures both kinds of fault.
//
// # A connection is part of the host's health
//
// Behind an L4 load balancer (kube-proxy, an AWS NLB, IPVS), or a name with
// several addresses, each connection is pinned to one backend, and net/http
// hands out the connection returned last. So the connection of an attempt
// that failed against its host (what counts against the breaker: a 5xx, a
// reset, a timeout) is retired, alone: the retry, the next calls and the
// breaker's probes take another idle connection or dial one, and so reach
// another backend; the breaker judges the host, not one connection, and an
// open breaker never keeps a sick connection alive. No pool is ever
// emptied, this host's or another's, and a failed attempt costs at most one
// new connection. With one sick backend of four, which got the first
// connection, a plain client got none of 300 calls in a row answered, and
// 65 to 81% of eight goroutines' calls over HTTP/1 (none over HTTP/2);
// this client got 100% in each case, with at most 1.01 requests per call
// and its breaker closed, where it got 0 to 10% before (go test -run
// SickBackend -v prints both side by side; 2-core machine, 2026-12-08).
//
// Where the client builds the transport ([New], or [NewTransport] with a
// nil base, on a clone of http.DefaultTransport or of [WithTransport]'s):
//
//   - an HTTP/1 connection writes no other request from the moment its
//     attempt failed, and is closed once the failed response's body, which
//     the error keeps, has been read;
//   - an HTTP/2 connection takes no new stream: new calls open another,
//     the streams in flight on it finish, and it closes after the last; one
//     that went silent, whose attempts time out, is retired the same way.
//     HTTP/2 goes through golang.org/x/net/http2 there, whose connection
//     pool tells which connection each attempt got;
//   - the connection that replaces a retired one tries the name's other
//     addresses first, for 30 s, unless the transport dials with a
//     DialContext of yours.
//
// Over a transport of yours ([NewTransport] with a base), an HTTP/1
// attempt's connection is learnt through net/http's httptrace, for any
// *http.Transport, wrapped or not, and closed once the failed body was
// read. What cannot be done there: stop net/http from handing that
// connection to another request in the microseconds between the end of the
// body and the close (that request then fails on a closed connection, and
// net/http sends it again itself when it may: an idempotent request with
// no body or one that GetBody gives again); retire an HTTP/2 connection,
// which would reset the other streams on it; choose the address a new
// connection goes to. A base that is not net/http tells nothing, and is
// not asked again. To have it all with a TLS configuration, proxy or
// limits of your own, pass your *http.Transport to [WithTransport].
//
// Learning an attempt's connection costs four allocations, so it is done
// only on a host that failed within the last 30 s: the first failure on a
// host that had been healthy is not seen, and its connection may carry one
// more attempt, whose failure is.
//
// # Deciding what is retryable
//
// [WithClassifier] replaces [Classify] with a [Classifier] of yours, to
// retry more (a 409 whose body says "try again", an error of your own) or
// less, or to end a call with an error of your own, which errors.Is then
// finds in the call's error. The retry decision follows it; so does the
// breaker, wherever it disagrees with Classify. It may read the response
// body, bounded by the error body limit, and what it read is given back to
// the caller and the *StatusError. [Retry].Backoff gives waits of your
// own, and [WithPrepareRetry] changes the request of each retry (to sign
// it again, say); [AttemptFromContext] tells a base transport, or a
// Classifier, which attempt it sees.
//
// # Errors
//
// The errors come back inside the *url.Error that *http.Client wraps around
// transport errors; errors.As and errors.Is find them there. Each message
// is one line, written for a person on call: what happened, in words; the
// attempts and how long the call took; why retrying stopped, when it
// stopped early; what the server asked; the trace and request IDs; and the
// server's words or Go's cause. It begins "resilient: " once, whatever it
// wraps:
//
//	resilient: 503 Service Unavailable after 1 attempt in 12ms; not retried because a POST without an Idempotency-Key header is not idempotent (request 7f3a9c): db down
//	resilient: 429 Too Many Requests after 2 attempts in 1.01s; retrying stopped by the call's deadline, too close to wait the 1s the server asked for: slow down
//	resilient: connection closed by the server before any response, after 4 attempts in 12ms: EOF
//	resilient: no response headers within the attempt timeout of 10s, after 4 attempts in 40.5s
//	resilient: refused without sending: http://10.0.0.7:8080 is recovering from an outage, admitting 50% of calls while traffic ramps up; all admitted in 120ms
//
// The types and sentinels:
//
//   - [*StatusError]: the final response was a 5xx, or a 429 after retries.
//     It carries StatusCode, Status, Method, URL (redacted), Header (without
//     cookies), Body (bounded) and Truncated, Problem (RFC 9457 problem
//     details, when the body is application/problem+json), TraceID,
//     RequestID (X-Request-Id and its kin), Attempts, RetryAfter, Elapsed
//     (how long the call took, on the Transport's clock), and Stop: why
//     retrying stopped early, when it did. Its message quotes the
//     server's words: the problem details' title and detail; for an HTML
//     page, such as the error pages of nginx, load balancers and CDNs, what
//     a person reads on it (the title and visible text, without markup,
//     scripts, styles, and text that only repeats the status), so nginx's
//     502 reads "resilient: 502 Bad Gateway after 4 attempts in 310ms:
//     nginx/1.25.3"; otherwise the start of the body. Body keeps the bytes
//     as sent. A status line that only repeats its code ("522 status code
//     522") shows the code once.
//   - [*TransportError]: the last attempt got no response (refused, reset,
//     timed out, malformed). Its message says so in words, then gives the
//     cause as Go reported it. Err is that cause, so errors.Is(err,
//     syscall.ECONNREFUSED), errors.Is(err, io.EOF), net.Error's Timeout
//     and errors.Is(err, [ErrAttemptTimeout]) keep working; Elapsed and
//     Stop are as in *StatusError.
//   - [*CircuitOpenError]: the host's breaker refused the call without
//     touching the network; it matches [ErrCircuitOpen] and says in which
//     [BreakerState] (State), why (Reason), until when (Until) and whether
//     another instance opened it (Remote). Its message says why in words:
//     the host is failing, the server asked to wait, a probe is in flight,
//     or the host is recovering and this call was not among the share
//     admitted while traffic ramps up (when gobreaker's state is already
//     closed: the message never calls a refusal "closed").
//   - [ErrInvalidRequest] and [ErrClosed] for a request that cannot be
//     sent and a client used after [Close]; [ErrInvalidOption] for a call
//     with an invalid [Policy]. An invalid client option makes New and
//     NewTransport panic with an error matching ErrInvalidOption, which
//     [Validate] returns instead.
//
// Why retrying stopped early is matched by [ErrNotIdempotent] (the
// request may not be sent twice: a POST or PATCH without an
// Idempotency-Key header), [ErrDeadline] (the call's deadline, whoever
// asked for the wait that did not fit; a deadline that passed during an
// attempt or a wait matches context.DeadlineExceeded too),
// [ErrRetryAfterTooLong] (the server asked for more than MaxWait),
// [ErrRetryBudgetExhausted], [ErrBodyNotReplayable], [ErrCircuitOpen] or
// context.Canceled. Accessors answer the common questions without a type
// switch: [StatusCode], [Attempts], [TraceID], [RequestID], [RetryAfter]
// (what the server asked for, or when an open breaker probes next) and
// [IsRetryable] (whether the failure may pass, whatever the method).
//
// The client's own texts (Error(), URL fields, log lines, spans) are
// redacted; the *url.Error around them is net/http's and prints the request
// URL as given, query string included. Log the unwrapped error when your
// URLs carry secrets.
//
// # Callbacks and host state
//
// [WithOnRetry] calls a function before every retry ([RetryEvent]: the
// attempt about to go, its wait, why the last one failed and its status),
// and [WithOnBreakerChange] after every change of a host's breaker
// ([BreakerChange]: from, to, and the counts from before the change).
// They run outside any lock, on one goroutine per Transport that lives
// only while events wait, in order; a slow callback never stalls a
// request: past 1024 waiting events, new ones are dropped and counted
// ([Transport.DroppedCallbacks]).
//
// [Hosts] (or [Transport.Hosts]) reads, for a health endpoint or an admin
// page, each host's [HostState]: its breaker's state and counts, the
// share of calls admitted, until when and why calls are refused, and its
// retry budget's figures. During an outage it says what a reader needs
// where gobreaker's counts, cleared when the breaker opens, say nothing:
// the counts that opened it (TripCounts: TripCounts.ConsecutiveFailures
// is the run of failures) and since when (OpenedAt); RetriesPerCall is
// the retries the host may get per call, a ratio (3 with the defaults,
// 0.1 while the budget holds them back).
//
// # Tracing
//
// Give the client a tracer provider ([WithTracerProvider], or the otel
// global one) and every error names a trace that shows each attempt, the
// wait before it and why retrying stopped; Example (Tracing) exports it
// over OTLP. One call makes one INTERNAL span named "resilient GET" (the
// method varies; "resilient HTTP" for a method the conventions do not
// know), the child of the span in the request's context if there is one,
// and under it one CLIENT span per attempt, made by otelhttp and named by
// the method:
//
//	resilient GET                  INTERNAL
//	├── GET                        CLIENT   attempt 1, 500
//	├── event resilient.retry      attempt=2 wait_seconds=0.087 reason="500 Internal Server Error"
//	├── GET                        CLIENT   http.request.resend_count=1, 500
//	├── event resilient.retry      attempt=3 wait_seconds=0.113 reason="500 Internal Server Error"
//	└── GET                        CLIENT   http.request.resend_count=2, 500
//
// So all attempts of one call share one trace ID, even when the caller had
// no span, and the error can name it.
//
// The call's span has http.request.method, resilient.attempts and the final
// http.response.status_code. When the call failed it also has url.full
// (redacted), server.address, server.port, error.type, status Error with
// the error's message for description (without the server's words and the
// IDs, redacted: "503 Service Unavailable after 4 attempts in 1.42s"), and
// resilient.request_id when the server sent one; error.type is the status
// code ("500"), "resilient.circuit_open", "timeout", "canceled", or the
// cause's type ("*net.OpError"). On success the attempts' spans say where
// the call went.
//
// Each attempt's span follows the HTTP client semantic conventions:
// url.full (redacted), server.address, server.port,
// http.response.status_code, and http.request.resend_count on every resend
// (1, 2, ...; the first attempt has none). A status of 400 or more, or a
// failure without a response, sets status Error and error.type. When the
// server is traced, its span sits under the attempt that reached it.
//
// Events on the call's span explain the waits and the stops:
//
//   - resilient.retry, just before a wait: resilient.attempt (the attempt
//     about to be sent), resilient.wait_seconds (the jittered backoff, or
//     what the server asked for) and resilient.reason (the status line,
//     "timeout", or the error).
//   - resilient.retry_budget_exhausted: retries to that host already add
//     their allowed share of its traffic.
//   - resilient.circuit_open: the breaker refused an attempt, with
//     resilient.breaker.state, resilient.breaker.reason (why, in a few
//     words), resilient.breaker.until (when the refusal ends) and
//     resilient.breaker.remote (opened by another instance). A call the
//     breaker refused outright is a call span with no attempt under it,
//     this event, and error.type resilient.circuit_open.
//   - resilient.wait_for_probe: after such a refusal, the call waits
//     resilient.wait_seconds for the breaker's next quick probe and tries
//     again (a host that was already failing some calls; see Breaker).
//   - resilient.retry_after_too_long: the server asked for
//     resilient.retry_after_seconds, more than resilient.max_wait_seconds.
//   - resilient.deadline_too_close: the next wait would cross the context
//     deadline.
//   - resilient.not_idempotent: a retryable failure was not retried, the
//     request not being safe to send twice (ErrNotIdempotent).
//   - resilient.body_not_replayable: the request body, without GetBody,
//     was longer than resilient.replay_limit bytes (WithReplayLimit).
//   - resilient.hedge: a hedge was sent (WithHedging): resilient.attempt
//     and resilient.hedge.delay_seconds; its attempt span carries
//     resilient.hedge=true. resilient.hedge_won: that hedge answered the
//     call. resilient.hedge_refused: no hedge went, by
//     resilient.hedge.refusal (budget or breaker).
//
// Every attempt carries the headers of the global propagator
// (otel.SetTextMapPropagator). When none was installed, the client sends
// W3C Trace Context (traceparent) anyway, so that the server can join the
// trace with no setup on the client's side; install an empty
// propagation.NewCompositeTextMapPropagator() to send nothing.
//
// When no provider records (no option, no global one) no span is made. If
// the request's context carries a span context (from an incoming request's
// traceparent, say), its trace ID goes into the errors and the traceparent
// header, so the server and your logs still share it. If it carries none,
// errors have no trace ID, no header is sent, and the client does not enter
// otelhttp at all: deciding so costs nanoseconds and no allocation
// (BenchmarkTelemetry_instrumentedOff). With the SDK, the call's own span
// costs a few allocations and about a microsecond beyond otelhttp's
// attempt spans (BenchmarkTelemetry_logicalSpan; bench/RESULTS.md).
//
// # Metrics
//
// With a meter provider ([WithMeterProvider], or the otel global one) the
// client records, per host:
//
//   - http.client.request.duration (histogram, s): every attempt, as
//     otelhttp records it, with http.response.status_code or error.type.
//   - resilient.retries (counter, {retry}): retries decided after a
//     retryable failure; each is sent after its wait unless the call ends
//     first.
//   - resilient.retry_budget.refusals (counter, {retry}): retries not sent
//     because the host's retry budget was spent.
//   - resilient.retry_budget.share (gauge, 1): the share of the calls that
//     retries may add to each host now: Retry.Max while retries are free,
//     RetryBudget.Ratio while the host shows that load hurts it.
//   - resilient.breaker.refusals (counter, {attempt}): attempts, first or
//     retry, that the host's breaker refused.
//   - resilient.breaker.transitions (counter, {transition}): breaker state
//     changes, by resilient.breaker.from and resilient.breaker.to.
//   - resilient.breaker.state (up-down counter, {breaker}): the breakers in
//     each resilient.breaker.state (closed, open, half-open); each host
//     counts 1 in its current state.
//   - resilient.admission (gauge, 1): the share of attempts each host's
//     breaker lets through: 1 when closed, 0 when open (probes aside),
//     between the two while traffic returns after an outage.
//   - resilient.hedges, resilient.hedges.won, resilient.hedges.refused
//     (counters, {hedge}): hedges sent, those that answered the call, and
//     hedges not sent, by resilient.hedge.refusal (budget or breaker).
//
// The resilient.* metrics carry server.address and server.port; the retry
// and refusal counters and resilient.admission also url.scheme.
//
// # Logs
//
// [WithLogger] turns on log lines; without it the client logs nothing.
//
//   - Debug "resilient: retrying": method, url (redacted), attempt, wait,
//     reason, and trace_id when the call is traced (no empty one).
//   - Warn "resilient: circuit breaker open" when a closed breaker opens,
//     and "resilient: circuit breaker closed" when it closes: host, from,
//     to. The flips between open and half-open around each probe are
//     logged the same way at Debug.
//   - Warn "resilient: circuit breaker opened by another instance": host,
//     until (see [WithSharedBreakers]).
//   - Warn "resilient: request failed": method, url, status, attempts,
//     error, and trace_id and request_id when there are some. A call the
//     breaker refused before any attempt logs
//     it at Info: those come in floods while a host is down, and the
//     opening was logged at Warn already.
//
// # Secrets
//
// No error, span, event, status description or log line carries the
// request's Authorization, Proxy-Authorization or Cookie headers, the
// URL's user info, or the values of query parameters named like secrets
// (token, key, secret, sig, password and more; [WithRedactedParams] adds
// names). URLs are written redacted (?token=REDACTED&page=2), and texts the
// client did not write (a base transport's error quoting the URL, a
// server's status line) are scrubbed of those values and cut to one clean
// line before they reach a span or a log.
//
// # Sharing breaker state
//
// [WithSharedBreakers] lets the instances of a service warn one another
// when a host's breaker opens, so that the fleet stops sending to a failing
// dependency as soon as one instance has seen it fail. Package
// [github.com/resilient-http/resilient/redisstore] implements the
// [BreakerStore] on Redis. Each instance's own breaker still decides every
// call, no request waits for the store, and a store that is slow or down
// leaves each instance with its local breakers. A breaker opened by another
// instance refuses calls with a [*CircuitOpenError] whose Remote field is
// true; it behaves as if it had opened itself, without spending the 25
// failures to find out: it probes after at most a Cooldown, ramps up after
// it closes, and probes at once when another instance reports the host
// healed. The Redis store logs one Warn line when Redis becomes unreachable
// and one Info line when it answers again, and records, through its
// Options.MeterProvider (default: the otel global), with
// resilient.redisstore.service when Options.Service is set:
//
//   - resilient.redisstore.connected (gauge): 1 while Redis answers and
//     breaker state is shared, 0 while the breakers are local only.
//   - resilient.redisstore.errors (counter, {error}): failed Redis
//     operations, by resilient.redisstore.operation (publish, subscribe).
//   - resilient.redisstore.events (counter, {event}): transitions sent to
//     and received from Redis, by resilient.redisstore.direction (sent,
//     received).
//   - resilient.redisstore.dropped (counter, {event}): transitions lost to
//     a full queue or a closed store.
package resilient
