package resilient

// Real network faults: the client talks to an httptest server through a
// Toxiproxy proxy (a real TCP proxy in another process; see
// internal/testpeers), and each toxic breaks the connection the way a
// network does. No mocks. The matrix asserts, for every toxic and method,
// what a user relies on:
//
//   - every call succeeds or returns a typed error within its deadline;
//   - a POST without an Idempotency-Key reaches the application at most once;
//   - a PUT body that the application reads to its end is the whole body;
//   - once the fault is gone, the next 100 calls succeed over a handful of
//     connections (the pool is healthy).
//
// TestFaults_matrix prints the matrix as a table (go test -v -run
// TestFaults_matrix), the source of the matrix in docs/testing.md
// ("Network faults: the Toxiproxy matrix").

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/resilient-http/resilient/internal/testpeers"
)

// Matrix parameters.
const (
	faultDeadline    = 3 * time.Second // each call's context deadline
	faultCallers     = 6               // concurrent callers per cell
	faultCallsEach   = 2               // calls per caller, one after the other (the second reuses the connection)
	faultAfterCalls  = 100             // calls after the fault is removed
	faultMaxNewConns = 4               // "a handful" of connections for those
	faultGetSize     = 16 << 10        // GET response body
	faultPutSize     = 32 << 10        // PUT request body
	// faultSlack is how late past its deadline a call may return: the
	// scheduler, the race detector and a loaded CI machine.
	faultSlack = 500 * time.Millisecond
)

// faultRetry is the matrix's retry policy: short waits, and an attempt
// timeout well inside the deadline so that hung attempts are retried.
var faultRetry = Retry{Max: 3, MinWait: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond, AttemptTimeout: 300 * time.Millisecond}

// faultBreaker is the breaker of the matrix's breaker column: it opens
// after 4 failures in a row and holds at most 200ms, so that it acts
// within a cell; no ramp-up, so that the calls after a cell all go.
var faultBreaker = Breaker{ConsecutiveFailures: 4, ProbeInterval: 50 * time.Millisecond, Cooldown: 200 * time.Millisecond, RampUp: -1}

// faultApp is the application behind the proxy. It counts, per call, how
// many times its handler ran, checks every PUT body against its hash, and
// counts the connections it accepts.
type faultApp struct {
	*httptest.Server
	getBody []byte
	getSum  string

	conns atomic.Int64

	mu      sync.Mutex
	hits    map[string]int // by X-Call
	putOK   map[string]int // by X-Cell: bodies read whole, hash matches
	putBad  map[string]int // by X-Cell: bodies read to their end that differ
	putCut  map[string]int // by X-Cell: bodies cut by the network (read error)
	byCells map[string]int // hits by X-Cell
}

func newFaultApp(t testing.TB) *faultApp {
	a := &faultApp{
		getBody: faultBytes(1, faultGetSize),
		hits:    map[string]int{}, putOK: map[string]int{}, putBad: map[string]int{}, putCut: map[string]int{}, byCells: map[string]int{},
	}
	a.getSum = faultSum(a.getBody)
	a.Server = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	a.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			a.conns.Add(1)
		}
	}
	a.Start()
	t.Cleanup(a.Close)
	return a
}

func (a *faultApp) serve(w http.ResponseWriter, r *http.Request) {
	cell, call := r.Header.Get("X-Cell"), r.Header.Get("X-Call")
	b, err := io.ReadAll(r.Body)
	a.mu.Lock()
	a.hits[call]++
	a.byCells[cell]++
	if r.Method == http.MethodPut {
		switch {
		case err != nil:
			a.putCut[cell]++
		case faultSum(b) == r.Header.Get("X-Body-Sha256") && len(b) == faultPutSize:
			a.putOK[cell]++
		default:
			a.putBad[cell]++
		}
	}
	a.mu.Unlock()
	if err != nil {
		return // the connection is gone
	}
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("Content-Length", strconv.Itoa(len(a.getBody)))
		w.Write(a.getBody)
	case http.MethodPut:
		io.WriteString(w, "stored")
	default:
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "created")
	}
}

func (a *faultApp) callHits(call string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hits[call]
}

func (a *faultApp) cellCounts(cell string) (hits, putOK, putBad, putCut int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byCells[cell], a.putOK[cell], a.putBad[cell], a.putCut[cell]
}

func faultBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func faultSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// toxic is one row of the matrix: a Toxiproxy toxic on one or both streams.
type faultToxic struct {
	name     string // as printed
	typ      string
	streams  []string
	toxicity float64
	attrs    map[string]any
}

func (x faultToxic) streamName() string { return strings.Join(x.streams, "+") }

var faultToxics = []faultToxic{
	{"reset_peer", "reset_peer", []string{"upstream"}, 0.5, map[string]any{"timeout": 0}},
	{"reset_peer", "reset_peer", []string{"downstream"}, 0.5, map[string]any{"timeout": 0}},
	{"timeout (black hole)", "timeout", []string{"upstream"}, 0.5, map[string]any{"timeout": 0}},
	{"timeout (black hole)", "timeout", []string{"downstream"}, 0.5, map[string]any{"timeout": 0}},
	{"latency 200±150ms", "latency", []string{"upstream", "downstream"}, 0.5, map[string]any{"latency": 200, "jitter": 150}},
	{"slow_close 500ms", "slow_close", []string{"downstream"}, 1, map[string]any{"delay": 500}},
	{"limit_data 300B", "limit_data", []string{"upstream"}, 0.5, map[string]any{"bytes": 300}},
	{"limit_data 100B", "limit_data", []string{"downstream"}, 0.5, map[string]any{"bytes": 100}},
	{"bandwidth 256KB/s", "bandwidth", []string{"upstream"}, 1, map[string]any{"rate": 256}},
	{"bandwidth 256KB/s", "bandwidth", []string{"downstream"}, 1, map[string]any{"rate": 256}},
}

// column is one column of the matrix: a method, with or without an
// Idempotency-Key, with or without the breaker.
type faultColumn struct {
	name    string
	method  string
	key     bool
	breaker bool
}

var faultColumns = []faultColumn{
	{"GET", http.MethodGet, false, false},
	{"PUT", http.MethodPut, false, false},
	{"POST", http.MethodPost, false, false},
	{"POST+key", http.MethodPost, true, false},
	{"GET+breaker", http.MethodGet, false, true},
}

// faultRetryLog counts the client's "retrying" log records per URL: a
// successful call made 1 + that many attempts.
type faultRetryLog struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *faultRetryLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *faultRetryLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *faultRetryLog) WithGroup(string) slog.Handler            { return h }
func (h *faultRetryLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "resilient: retrying" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "url" {
			h.mu.Lock()
			h.n[a.Value.String()]++
			h.mu.Unlock()
			return false
		}
		return true
	})
	return nil
}

func (h *faultRetryLog) retries(u string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[u]
}

// faultCell is what one cell of the matrix observed.
type faultCell struct {
	toxic    faultToxic
	col      faultColumn
	outcomes map[string]int
	attempts int
	hits     int
	elapsed  time.Duration // the slowest call
	putOK    int           // PUT bodies the application read whole
	putCut   int           // PUT bodies cut by the network (the application's read failed)
	newConns int64         // during the calls after the fault was removed
	afterOK  int
}

func (r faultCell) outcomeString() string {
	keys := make([]string, 0, len(r.outcomes))
	for k := range r.outcomes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if a == "ok" || b == "ok" {
			return strings.Compare(strings.Replace(a, "ok", "", 1), strings.Replace(b, "ok", "", 1))
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", r.outcomes[k], k)
	}
	return strings.Join(parts, ", ")
}

// faultOutcome names a call's result for the table: "ok", or the error's
// type, its cause and why retrying stopped early, if it did. An error that
// is none of ours is "UNTYPED", which fails the cell.
func faultOutcome(err error) string {
	var se *StatusError
	var te *TransportError
	var ce *CircuitOpenError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &se):
		if se.Stop != nil {
			return fmt.Sprintf("StatusError(%d; %s)", se.StatusCode, stopLabel(se.Stop))
		}
		return fmt.Sprintf("StatusError(%d)", se.StatusCode)
	case errors.As(err, &te):
		if te.Stop != nil && !errors.Is(te.Err, te.Stop) {
			return "TransportError(" + faultCause(te.Err) + "; " + stopLabel(te.Stop) + ")"
		}
		return "TransportError(" + faultCause(te.Err) + ")"
	case errors.As(err, &ce):
		return "CircuitOpenError"
	}
	return "UNTYPED: " + err.Error()
}

// stopLabel names why retrying stopped, in a few words, for the table.
func stopLabel(err error) string {
	var co *CircuitOpenError
	switch {
	case errors.As(err, &co):
		return "circuit breaker opened"
	case errors.Is(err, ErrNotIdempotent):
		return "not idempotent"
	case errors.Is(err, ErrRetryBudgetExhausted):
		return "retry budget exhausted"
	case errors.Is(err, ErrRetryAfterTooLong):
		return "server asked to wait too long"
	case errors.Is(err, ErrDeadline):
		return "deadline"
	case errors.Is(err, ErrBodyNotReplayable):
		return "request body too long to send again"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return err.Error()
}

// faultCause names a transport failure in a word or two.
func faultCause(err error) string {
	switch {
	case errors.Is(err, ErrCircuitOpen):
		return "circuit open"
	case errors.Is(err, ErrAttemptTimeout):
		return "attempt timeout"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, net.ErrClosed):
		return "connection closed"
	}
	return err.Error()
}

// TestFaults_matrix runs every toxic against every column. See the file
// comment for what each cell asserts.
func TestFaults_matrix(t *testing.T) {
	tp, err := testpeers.StartToxiproxy()
	testpeers.Need(t, err)
	t.Cleanup(func() { tp.Stop() })
	app := newFaultApp(t)
	listen, err := tp.CreateProxy("matrix", app.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var results []faultCell
	for _, x := range faultToxics {
		for _, col := range faultColumns {
			name := x.name + "/" + x.streamName() + "/" + col.name
			t.Run(name, func(t *testing.T) {
				results = append(results, runFaultCell(t, tp, app, listen, x, col, len(results)))
			})
		}
	}
	t.Logf("fault matrix: %d cells in %s\n%s", len(results), time.Since(start).Round(time.Second), faultTable(results))
	// RESILIENT_MATRIX_OUT=file writes both tables there, for the README.
	if path := os.Getenv("RESILIENT_MATRIX_OUT"); path != "" {
		out := faultPivot(results) + "\n" + faultTable(results)
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// runFaultCell runs one cell: the toxic on, faultCallers concurrent callers
// making faultCallsEach calls each, the toxic off, then faultAfterCalls
// calls one after the other with the same client.
func runFaultCell(t *testing.T, tp *testpeers.Toxiproxy, app *faultApp, listen string, x faultToxic, col faultColumn, id int) faultCell {
	cell := strconv.Itoa(id)
	res := faultCell{toxic: x, col: col, outcomes: map[string]int{}}
	logs := &faultRetryLog{n: map[string]int{}}
	opts := []Option{WithRetry(faultRetry), WithLogger(slog.New(logs))}
	if col.breaker {
		opts = append(opts, WithBreaker(faultBreaker))
	} else {
		opts = append(opts, WithBreaker(Breaker{Disabled: true}))
	}
	c := New(opts...)
	defer Close(c)

	for _, s := range x.streams {
		if err := tp.AddToxic("matrix", "fault-"+s, x.typ, s, x.toxicity, x.attrs); err != nil {
			t.Fatal(err)
		}
	}
	removed := false
	remove := func() {
		if removed {
			return
		}
		removed = true
		for _, s := range x.streams {
			if err := tp.RemoveToxic("matrix", "fault-"+s); err != nil {
				t.Error(err)
			}
		}
	}
	defer remove()

	type result struct {
		call    string
		out     string
		err     error
		elapsed time.Duration
		retries int
	}
	results := make([]result, faultCallers*faultCallsEach)
	var wg sync.WaitGroup
	for i := range faultCallers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range faultCallsEach {
				k := i*faultCallsEach + j
				call := cell + "-" + strconv.Itoa(k)
				out, u, el, err := faultCall(c, app, listen, col, cell, call)
				results[k] = result{call, out, err, el, logs.retries(u)}
			}
		}()
	}
	wg.Wait()

	for _, r := range results {
		res.outcomes[r.out]++
		if r.err != nil {
			res.attempts += Attempts(r.err)
		} else {
			res.attempts += 1 + r.retries
		}
		res.elapsed = max(res.elapsed, r.elapsed)
		if strings.HasPrefix(r.out, "UNTYPED") || r.out == "ok, body wrong" {
			t.Errorf("call %s: %s; want success or a typed error", r.call, r.out)
		}
		if r.elapsed > faultDeadline+faultSlack {
			t.Errorf("call %s returned after %s; its deadline was %s (%s)", r.call, r.elapsed, faultDeadline, r.out)
		}
		if col.method == http.MethodPost && !col.key {
			if n := app.callHits(r.call); n > 1 {
				t.Errorf("POST without Idempotency-Key %s reached the application %d times", r.call, n)
			}
		}
	}
	hits, putOK, putBad, putCut := app.cellCounts(cell)
	res.hits, res.putOK, res.putCut = hits, putOK, putCut
	if putBad > 0 {
		t.Errorf("%d PUT bodies arrived whole-looking but wrong", putBad)
	}

	// The fault is gone: the pool must serve the next calls over a
	// handful of connections.
	remove()
	time.Sleep(20 * time.Millisecond)
	if col.breaker {
		// An open breaker lets a probe through within its longest hold,
		// Cooldown plus 20% jitter.
		time.Sleep(faultBreaker.Cooldown * 3 / 2)
	}
	before := app.conns.Load()
	for i := range faultAfterCalls {
		call := cell + "-after-" + strconv.Itoa(i)
		out, _, _, err := faultCall(c, app, listen, col, cell+"-after", call)
		if err != nil || out != "ok" {
			t.Errorf("call %d after the fault was removed: %s", i, out)
			continue
		}
		res.afterOK++
	}
	res.newConns = app.conns.Load() - before
	if res.newConns > faultMaxNewConns {
		t.Errorf("%d calls after the fault opened %d connections; want at most %d", faultAfterCalls, res.newConns, faultMaxNewConns)
	}
	if _, _, putBad, _ := app.cellCounts(cell + "-after"); putBad > 0 {
		t.Errorf("%d PUT bodies arrived wrong after the fault", putBad)
	}
	return res
}

// faultCall makes one call of col's kind through the proxy and reads the
// response. It returns the outcome ("ok", "ok, body cut" when the body
// failed after a successful response, or the error's type), the URL as the
// client logs it, the error and the time taken.
func faultCall(c *http.Client, app *faultApp, listen string, col faultColumn, cell, call string) (string, string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
	defer cancel()
	u := "http://" + listen + "/" + strings.ToLower(col.method) + "?call=" + url.QueryEscape(call)
	var body io.Reader
	var putBody []byte
	switch col.method {
	case http.MethodPut:
		putBody = faultBytes(uint64(len(call))+7, faultPutSize)
		body = bytes.NewReader(putBody)
	case http.MethodPost:
		body = strings.NewReader(`{"order":"` + call + `"}`)
	}
	req, err := http.NewRequestWithContext(ctx, col.method, u, body)
	if err != nil {
		return "UNTYPED: " + err.Error(), u, 0, err
	}
	req.Header.Set("X-Cell", cell)
	req.Header.Set("X-Call", call)
	if putBody != nil {
		req.Header.Set("X-Body-Sha256", faultSum(putBody))
	}
	if col.key {
		req.Header.Set("Idempotency-Key", call)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return faultOutcome(err), u, time.Since(start), err
	}
	b, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	el := time.Since(start)
	switch {
	case rerr != nil:
		return "ok, body cut", u, el, nil
	case resp.StatusCode >= 300:
		return fmt.Sprintf("UNTYPED: status %d", resp.StatusCode), u, el, nil
	case col.method == http.MethodGet && faultSum(b) != app.getSum:
		return "ok, body wrong", u, el, nil
	}
	return "ok", u, el, nil
}

// faultTable renders the results as a Markdown table, one row per cell.
func faultTable(rs []faultCell) string {
	var b strings.Builder
	b.WriteString("| toxic | stream | toxicity | calls | outcomes | attempts | app hits | PUT bodies at the app | slowest | after removal: ok, new conns |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		puts := ""
		if r.col.method == http.MethodPut {
			puts = fmt.Sprintf("%d whole, %d cut, 0 wrong", r.putOK, r.putCut)
		}
		fmt.Fprintf(&b, "| %s | %s | %g | %s | %s | %d | %d | %s | %s | %d/%d, %d |\n",
			r.toxic.name, r.toxic.streamName(), r.toxic.toxicity, r.col.name, r.outcomeString(),
			r.attempts, r.hits, puts, r.elapsed.Round(10*time.Millisecond), r.afterOK, faultAfterCalls, r.newConns)
	}
	return b.String()
}

// startFaultProxy starts Toxiproxy and an application behind a proxy
// called name; it returns both and the proxy's address.
func startFaultProxy(t *testing.T, name string) (*testpeers.Toxiproxy, *faultApp, string) {
	t.Helper()
	tp, err := testpeers.StartToxiproxy()
	testpeers.Need(t, err)
	t.Cleanup(func() { tp.Stop() })
	app := newFaultApp(t)
	listen, err := tp.CreateProxy(name, app.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return tp, app, listen
}

// TestFaults_attemptTimeout: the timeout (black hole) and latency toxics
// hang attempts; each is abandoned after Retry.AttemptTimeout and retried
// within the call's deadline, and the call never outlives its deadline.
func TestFaults_attemptTimeout(t *testing.T) {
	tp, app, listen := startFaultProxy(t, "attempts")
	get := func(c *http.Client, deadline time.Duration, call string) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodGet, "http://"+listen+"/get", nil))
		req.Header.Set("X-Call", call)
		start := time.Now()
		resp, err := c.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return time.Since(start), err
	}
	client := func(t *testing.T) *http.Client {
		return newClient(t, WithRetry(faultRetry), WithBreaker(Breaker{Disabled: true}))
	}
	for _, x := range []faultToxic{
		{"timeout (black hole)", "timeout", []string{"downstream"}, 1, map[string]any{"timeout": 0}},
		{"latency 1s", "latency", []string{"downstream"}, 1, map[string]any{"latency": 1000}},
	} {
		t.Run(x.name+"/every attempt hangs", func(t *testing.T) {
			if err := tp.AddToxic("attempts", "hang", x.typ, x.streams[0], x.toxicity, x.attrs); err != nil {
				t.Fatal(err)
			}
			defer tp.RemoveToxic("attempts", "hang")
			el, err := get(client(t), faultDeadline, x.typ+"-all")
			var te *TransportError
			if !errors.As(err, &te) || !errors.Is(err, ErrAttemptTimeout) || !te.Timeout() {
				t.Fatalf("err = %v, want a *TransportError matching ErrAttemptTimeout", err)
			}
			// 4 attempts of 300ms and 3 waits of at most 50ms.
			if te.Attempts != 4 || el < 1200*time.Millisecond || el > 1350*time.Millisecond+faultSlack {
				t.Errorf("%d attempts in %s; want 4 in about 1.2-1.35s", te.Attempts, el)
			}
			if n := app.callHits(x.typ + "-all"); n != 4 {
				t.Errorf("the application saw %d of the 4 attempts", n)
			}
		})
		t.Run(x.name+"/the deadline comes first", func(t *testing.T) {
			if err := tp.AddToxic("attempts", "hang", x.typ, x.streams[0], x.toxicity, x.attrs); err != nil {
				t.Fatal(err)
			}
			defer tp.RemoveToxic("attempts", "hang")
			el, err := get(client(t), 700*time.Millisecond, x.typ+"-deadline")
			var te *TransportError
			if !errors.As(err, &te) || !te.Timeout() {
				t.Fatalf("err = %v, want a *TransportError that is a timeout", err)
			}
			if el > 700*time.Millisecond+faultSlack {
				t.Errorf("returned after %s; the deadline was 700ms", el)
			}
		})
		t.Run(x.name+"/the fault clears", func(t *testing.T) {
			if err := tp.AddToxic("attempts", "hang", x.typ, x.streams[0], x.toxicity, x.attrs); err != nil {
				t.Fatal(err)
			}
			timer := time.AfterFunc(450*time.Millisecond, func() { tp.RemoveToxic("attempts", "hang") })
			defer func() {
				if timer.Stop() {
					tp.RemoveToxic("attempts", "hang")
				}
			}()
			el, err := get(client(t), faultDeadline, x.typ+"-clears")
			if err != nil {
				t.Fatalf("err = %v after %s; want the attempt after the fault cleared to succeed", err, el)
			}
			if n := app.callHits(x.typ + "-clears"); n < 2 || el < 450*time.Millisecond {
				t.Errorf("the application saw %d attempts in %s; want the hung ones abandoned, then one more", n, el)
			}
		})
	}
}

// TestFaults_breakerOpensAndRecovers: connections reset on every response
// open the breaker, which then refuses calls without touching the network
// (how fast is BenchmarkRefused's business, not a timed assertion's), and
// closes again through a probe once the fault is gone.
func TestFaults_breakerOpensAndRecovers(t *testing.T) {
	tp, app, listen := startFaultProxy(t, "breaker")
	hold := 300 * time.Millisecond
	c := newClient(t, WithRetry(faultRetry),
		WithBreaker(Breaker{ConsecutiveFailures: 4, ProbeInterval: hold, Cooldown: hold, RampUp: -1}))
	get := func(call string) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
		defer cancel()
		req := must[*http.Request](t)(http.NewRequestWithContext(ctx, http.MethodGet, "http://"+listen+"/get", nil))
		req.Header.Set("X-Cell", "breaker")
		req.Header.Set("X-Call", call)
		start := time.Now()
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return time.Since(start), err
	}
	if err := tp.AddToxic("breaker", "reset", "reset_peer", "downstream", 1, map[string]any{"timeout": 0}); err != nil {
		t.Fatal(err)
	}
	_, err := get("first")
	var te *TransportError
	if !errors.As(err, &te) || te.Attempts != 4 || !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Fatalf("first call: err = %v, want a *TransportError after 4 attempts, reset", err)
	}
	hits, _, _, _ := app.cellCounts("breaker")
	for i := range 20 {
		_, err := get("open-" + strconv.Itoa(i))
		var ce *CircuitOpenError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCircuitOpen) || ce.Until.IsZero() {
			t.Fatalf("call %d while open: err = %v, want a *CircuitOpenError saying until when", i, err)
		}
	}
	if now, _, _, _ := app.cellCounts("breaker"); now != hits {
		t.Errorf("the application saw %d requests while the breaker was open", now-hits)
	}
	if err := tp.RemoveToxic("breaker", "reset"); err != nil {
		t.Fatal(err)
	}
	// The next probe goes within the hold (±20% jitter) and closes it.
	waitFor(t, "a probe to close the breaker", func() bool { _, err := get("probe-healed"); return err == nil })
	for i := range 20 {
		if _, err := get("closed-" + strconv.Itoa(i)); err != nil {
			t.Fatalf("call %d after the fault and the cooldown: %v", i, err)
		}
	}
}

// TestFaults_breakerOpeningDuringBackoffKeepsTheLastCause: a call's first
// attempt fails (the server closes the connection), and while it waits to
// retry, other calls open the breaker, which refuses its second attempt.
// The error must still say what happened on the network: Err is the last
// attempt's failure, Stop the breaker.
func TestFaults_breakerOpeningDuringBackoffKeepsTheLastCause(t *testing.T) {
	srv := newHostileServer(t, func(c net.Conn, br *bufio.Reader) { readHostileRequest(br) })
	c := newClient(t,
		WithRetry(Retry{Max: 3, MinWait: 300 * time.Millisecond, MaxWait: 300 * time.Millisecond, Budget: RetryBudget{Disabled: true}}),
		WithBreaker(Breaker{ConsecutiveFailures: 4, ProbeInterval: 10 * time.Second, Cooldown: 10 * time.Second}),
		withRand(func() float64 { return 0.99 })) // waits of about 300ms
	slow := make(chan error, 1)
	go func() {
		_, err := c.Get(srv.URL() + "/slow")
		slow <- err
	}()
	time.Sleep(50 * time.Millisecond) // the slow call failed once and waits
	for range 4 {
		req := must[*http.Request](t)(http.NewRequest(http.MethodPost, srv.URL()+"/open", strings.NewReader("x")))
		c.Do(req) // a POST is not retried: one failure each
	}
	err := <-slow
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a *TransportError", err)
	}
	if !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("err = %v, want it to match ErrCircuitOpen (why retrying stopped)", err)
	}
	// Usually 1 attempt; 2 or 3 when the machine is slow to open the breaker.
	if te.Attempts < 1 || te.Attempts > 3 || !errors.Is(te.Err, io.EOF) {
		t.Errorf("Attempts = %d, Err = %v; want fewer than 4 attempts and the last one's failure (EOF), not the breaker's refusal", te.Attempts, te.Err)
	}
}

// faultPivot renders the results as one row per toxic and one column per
// kind of call: successes, attempts and application hits, and the
// failures, all typed.
func faultPivot(rs []faultCell) string {
	var b strings.Builder
	b.WriteString("| toxic | stream |")
	for _, col := range faultColumns {
		b.WriteString(" " + col.name + " |")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(faultColumns)) + "\n")
	for i := 0; i < len(rs); i += len(faultColumns) {
		x := rs[i].toxic
		tox := x.name
		if x.toxicity < 1 {
			tox += fmt.Sprintf(" (%g%% of conns)", x.toxicity*100)
		}
		fmt.Fprintf(&b, "| %s | %s |", tox, x.streamName())
		for _, r := range rs[i:min(i+len(faultColumns), len(rs))] {
			calls := faultCallers * faultCallsEach
			fmt.Fprintf(&b, " %d/%d ok; %d att, %d hits", r.outcomes["ok"], calls, r.attempts, r.hits)
			var fails []string
			for k, n := range r.outcomes {
				if k != "ok" {
					fails = append(fails, fmt.Sprintf("%d %s", n, k))
				}
			}
			slices.Sort(fails)
			if len(fails) > 0 {
				b.WriteString("; " + strings.Join(fails, ", "))
			}
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	return b.String()
}
