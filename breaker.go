package resilient

import (
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"

	"github.com/resilient-http/resilient/internal/budget"
)

// hostKey names the host a breaker and a budget guard. Its fields are
// substrings of the request URL, so building it allocates nothing.
type hostKey struct {
	scheme, host, port string
}

func keyOf(u *url.URL) hostKey {
	k := hostKey{scheme: u.Scheme, host: u.Hostname(), port: u.Port()}
	if k.port == "" {
		switch k.scheme {
		case "https":
			k.port = "443"
		case "http":
			k.port = "80"
		}
	}
	k.host = strings.ToLower(k.host) // no allocation when already lower case
	return k
}

// String returns scheme://host:port, the host's name in errors and metrics.
func (k hostKey) String() string {
	h := k.host
	if strings.IndexByte(h, ':') >= 0 {
		h = "[" + h + "]"
	}
	return k.scheme + "://" + h + ":" + k.port
}

// breakerState mirrors gobreaker's states in the order of its constants.
var stateNames = [...]string{gobreaker.StateClosed: "closed", gobreaker.StateHalfOpen: "half-open", gobreaker.StateOpen: "open"}

// Failure reports given to gobreaker's done callback: errFailure counts
// against the breaker, errExcluded is neither success nor failure (the
// caller's own cancellation).
var (
	errFailure  = errors.New("retryable failure")
	errExcluded = errors.New("excluded")
)

// host holds what the client keeps per scheme+host+port: the breaker, the
// retry budget, and when it was last used.
type host struct {
	key    hostKey
	name   string // key.String(), computed once
	cb     *gobreaker.TwoStepCircuitBreaker[struct{}]
	budget *budget.Budget

	lastUsed    atomic.Int64  // unix nanos
	openUntil   atomic.Int64  // unix nanos; when the local breaker will admit probes
	remoteUntil atomic.Int64  // unix nanos; until when another instance's open is in force
	tripping    atomic.Bool   // a remote open is being applied: do not publish it back
	state       atomic.Int32  // last gobreaker.State reported by OnStateChange
	attrs       attribute.Set // metric attributes: server.address, server.port, url.scheme
}

// openError converts gobreaker's refusal into a *CircuitOpenError.
func (h *host) openError(err error) *CircuitOpenError {
	now := time.Now()
	e := &CircuitOpenError{Host: h.name, State: "open", at: now, Remote: now.UnixNano() < h.remoteUntil.Load()}
	if errors.Is(err, gobreaker.ErrTooManyRequests) {
		e.State = "half-open"
	} else if u := h.openUntil.Load(); u != 0 {
		e.Until = time.Unix(0, u)
	}
	return e
}

// openNow reports whether the breaker is known to refuse calls now, read
// from what OnStateChange recorded, without taking gobreaker's lock. It
// reads the clock only when the breaker is open.
func (h *host) openNow() bool {
	return gobreaker.State(h.state.Load()) == gobreaker.StateOpen && time.Now().UnixNano() < h.openUntil.Load()
}

// registry is the bounded set of per-host states of one transport. It is
// safe for concurrent use.
type registry struct {
	t *Transport

	mu        sync.RWMutex
	hosts     map[hostKey]*host
	lastSweep time.Time
}

func newRegistry(t *Transport) *registry {
	return &registry{t: t, hosts: make(map[hostKey]*host)}
}

// get returns the state for k, creating it on first use.
func (r *registry) get(k hostKey, now time.Time) *host {
	r.mu.RLock()
	h := r.hosts[k]
	r.mu.RUnlock()
	if h != nil {
		h.lastUsed.Store(now.UnixNano())
		return h
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if h = r.hosts[k]; h != nil {
		h.lastUsed.Store(now.UnixNano())
		return h
	}
	r.evictLocked(now)
	h = r.t.newHost(k)
	h.lastUsed.Store(now.UnixNano())
	r.hosts[k] = h
	return h
}

// lookup returns the state for k or nil, without creating it.
func (r *registry) lookup(k hostKey) *host {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.hosts[k]
}

// evictLocked drops idle hosts and, when the registry is still full, the
// least recently used one. Hosts whose breaker is open are kept while idle
// ones remain. r.mu must be held.
func (r *registry) evictLocked(now time.Time) {
	max := r.t.cfg.breaker.MaxHosts
	ttl := r.t.cfg.breaker.IdleTTL
	if len(r.hosts) < max && now.Sub(r.lastSweep) < ttl {
		return
	}
	r.lastSweep = now
	cutoff := now.Add(-ttl).UnixNano()
	var lru *host
	for k, h := range r.hosts {
		if h.openNow() {
			continue
		}
		if h.lastUsed.Load() < cutoff {
			r.drop(k, h)
			continue
		}
		if lru == nil || h.lastUsed.Load() < lru.lastUsed.Load() {
			lru = h
		}
	}
	if len(r.hosts) >= max {
		if lru == nil { // every host is open: evict any
			for k, h := range r.hosts {
				r.drop(k, h)
				break
			}
			return
		}
		r.drop(lru.key, lru)
	}
}

func (r *registry) drop(k hostKey, h *host) {
	delete(r.hosts, k)
	r.t.tel.hostDropped(h)
}

// size returns the number of hosts held.
func (r *registry) size() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.hosts)
}

// newHost builds the breaker and budget for k.
func (t *Transport) newHost(k hostKey) *host {
	h := &host{key: k, name: k.String()}
	b := t.cfg.breaker
	if !b.Disabled {
		h.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:         h.name,
			MaxRequests:  b.Probes,
			Interval:     b.Window,
			BucketPeriod: b.Window / 10,
			Timeout:      b.Cooldown,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				samples := c.TotalSuccesses + c.TotalFailures
				return c.ConsecutiveFailures >= b.ConsecutiveFailures || samples >= b.MinRequests &&
					float64(c.TotalFailures) >= b.FailureRatio*float64(samples)
			},
			IsExcluded: func(err error) bool { return err == errExcluded },
			// Called with gobreaker's mutex held: record, never call back.
			OnStateChange: func(_ string, from, to gobreaker.State) {
				now := time.Now()
				if to == gobreaker.StateOpen {
					h.openUntil.Store(now.Add(b.Cooldown).UnixNano())
				}
				h.state.Store(int32(to))
				t.breakerChanged(h, from, to, now)
			},
		})
	}
	r := t.cfg.retry
	if !r.Budget.Disabled && r.Max > 0 {
		h.budget = budget.New(r.Budget.Ratio, r.Budget.MinRetries, r.Budget.Window)
	}
	t.tel.hostAdded(h)
	return h
}

// breakerChanged reports a transition: metrics, log, span-free, and the
// shared store. It runs under gobreaker's lock and must not block.
func (t *Transport) breakerChanged(h *host, from, to gobreaker.State, now time.Time) {
	t.tel.breakerTransition(h, stateNames[from], stateNames[to])
	if t.cfg.store != nil {
		ev := BreakerEvent{Host: h.name, Open: to == gobreaker.StateOpen}
		if ev.Open {
			ev.Until = now.Add(t.cfg.breaker.Cooldown)
		}
		if to != gobreaker.StateHalfOpen && !h.tripping.Load() {
			t.cfg.store.Publish(ev)
		}
	}
}

// BreakerEvent is a breaker transition shared between instances.
type BreakerEvent struct {
	Host  string    // scheme://host:port
	Open  bool      // true: opened; false: closed
	Until time.Time // for Open: when the breaker will let probes through
}

// BreakerStore shares breaker transitions among the instances of a service,
// so that one instance's outage detection protects them all. The local
// breaker stays authoritative: a store never adds a network round trip to a
// request. See package redisstore for a Redis implementation.
type BreakerStore interface {
	// Publish announces a local transition. It must not block: a store
	// queues the event and sends it in the background, dropping it if the
	// backend is unreachable.
	Publish(BreakerEvent)
	// Subscribe calls fn for every transition published by other
	// instances, including those still in force when it starts, until
	// cancel is called. fn must be quick.
	Subscribe(fn func(BreakerEvent)) (cancel func())
}

// remoteEvent applies a transition published by another instance. An open
// is treated as this instance's own: the local breaker is tripped, so it
// refuses calls for a Cooldown and then lets its probes decide, exactly as
// after a local open; gobreaker stays the only state machine. The trip is
// not published back. A close only ends the remote mark on errors: the
// local breaker still probes before it closes.
func (t *Transport) remoteEvent(ev BreakerEvent) {
	u, err := url.Parse(ev.Host)
	if err != nil || u.Host == "" {
		return
	}
	k := keyOf(u)
	now := time.Now()
	if !ev.Open {
		if h := t.hosts.lookup(k); h != nil {
			h.remoteUntil.Store(0)
		}
		return
	}
	if !ev.Until.After(now) {
		return
	}
	h := t.hosts.get(k, now)
	h.remoteUntil.Store(ev.Until.UnixNano())
	if h.cb == nil || gobreaker.State(h.state.Load()) != gobreaker.StateClosed {
		return // already open or probing: nothing to add
	}
	t.tel.remoteOpen(h, ev.Until)
	h.trip(t.cfg.breaker)
}

// trip opens h's local breaker on behalf of another instance by reporting
// failures until ReadyToTrip agrees, which ConsecutiveFailures guarantees.
// Counts reset when the state changes, so no fake sample outlives the trip.
func (h *host) trip(b Breaker) {
	h.tripping.Store(true)
	defer h.tripping.Store(false)
	for i := uint32(0); i <= b.ConsecutiveFailures && gobreaker.State(h.state.Load()) == gobreaker.StateClosed; i++ {
		done, err := h.cb.Allow()
		if err != nil {
			return
		}
		done(errFailure)
	}
}
