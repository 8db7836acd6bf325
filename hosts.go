package resilient

// This file holds the per-host state (host) and the registry of hosts:
// one entry per scheme+host+port that a Transport has called. The
// registry is bounded: idle hosts are evicted after Breaker.IdleTTL, and
// the least recently used one when it is full.

import (
	"maps"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/resilient-http/resilient/internal/budget"
)

// host is what a Transport keeps per scheme+host+port, in parts: its
// breaker and admission (breaker.go), its retry budget (internal/budget),
// its latency estimate for hedging (hedge.go) and its part in a fleet's
// shared admission (share.go). It is safe for concurrent use.
type host struct {
	t    *Transport
	key  hostKey
	name string // key.String(), computed once
	// authority is key.authority(): a URL.Host that names this host as
	// is (registry.find).
	authority string
	attrs     attribute.Set // metric attributes: server.address, server.port, url.scheme
	lastUsed  atomic.Int64  // unix nanos

	br      *breaker       // nil when breakers are disabled
	budget  *budget.Budget // nil when the budget is disabled or retries are off
	latency hostLatency
	shared  sharing
	conns   hostConns // its connections' health (conns.go)
}

// newHost builds the state of host k.
func (t *Transport) newHost(k hostKey) *host {
	h := &host{t: t, key: k, name: k.String(), authority: k.authority()}
	h.br = h.newBreaker()
	r := t.cfg.retry
	if !r.Budget.Disabled && r.Max > 0 {
		h.budget = budget.New(budget.Config{Ratio: r.Budget.Ratio, Min: r.Budget.MinRetries, Window: r.Budget.Window,
			Latency: r.Budget.Latency, Baseline: r.Budget.Baseline, Hold: r.Budget.Hold})
	}
	t.tel.hostAdded(h)
	return h
}

// hostKey names the host an admission state and a budget guard. Its fields
// are substrings of the request URL, so building it allocates nothing.
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

// authority returns k as a URL's Host is usually written: the host,
// bracketed when it is IPv6, and :port unless the port is the scheme's
// default. keyOf of a URL with that Host gives k back.
func (k hostKey) authority() string {
	h := k.host
	if strings.IndexByte(h, ':') >= 0 {
		h = "[" + h + "]"
	}
	if k.scheme == "http" && k.port == "80" || k.scheme == "https" && k.port == "443" {
		return h
	}
	return h + ":" + k.port
}

// String returns scheme://host:port, the host's name in errors and metrics.
func (k hostKey) String() string {
	h := k.host
	if strings.IndexByte(h, ':') >= 0 {
		h = "[" + h + "]"
	}
	return k.scheme + "://" + h + ":" + k.port
}

// registry is the bounded set of per-host states of one transport. It is
// safe for concurrent use.
type registry struct {
	t *Transport

	// snap is a copy of hosts, replaced (never modified) whenever hosts
	// changes, so that finding a known host takes no lock: every call
	// took the read lock, and concurrent calls contended for its counter.
	snap atomic.Pointer[map[hostKey]*host]
	// only is the sole host while the registry holds one, else nil: most
	// clients call a single host, and find matches it by the URL's own
	// scheme and host, without building and hashing a key.
	only atomic.Pointer[host]

	mu        sync.RWMutex
	hosts     map[hostKey]*host
	lastSweep time.Time
}

func newRegistry(t *Transport) *registry {
	return &registry{t: t, hosts: make(map[hostKey]*host)}
}

// find returns the state for u's host, creating it on first use.
func (r *registry) find(u *url.URL, now time.Time) *host {
	if h := r.only.Load(); h != nil && u.Host == h.authority && u.Scheme == h.key.scheme {
		h.touch(now.UnixNano())
		return h
	}
	return r.get(keyOf(u), now)
}

// get returns the state for k, creating it on first use.
func (r *registry) get(k hostKey, now time.Time) *host {
	if m := r.snap.Load(); m != nil {
		if h := (*m)[k]; h != nil {
			h.touch(now.UnixNano())
			return h
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hosts[k]; h != nil {
		h.lastUsed.Store(now.UnixNano())
		return h
	}
	r.evictLocked(now)
	h := r.t.newHost(k)
	h.lastUsed.Store(now.UnixNano())
	r.hosts[k] = h
	// A copy per new host: at most MaxHosts entries, and rare next to
	// calls to known hosts.
	m := maps.Clone(r.hosts)
	r.snap.Store(&m)
	if len(m) == 1 {
		r.only.Store(h)
	} else {
		r.only.Store(nil)
	}
	return h
}

// lookup returns the state for k or nil, without creating it.
func (r *registry) lookup(k hostKey) *host {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.hosts[k]
}

// each calls f for every host held, under the read lock.
func (r *registry) each(f func(*host)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, h := range r.hosts {
		f(h)
	}
}

// evictLocked drops idle hosts and, when the registry is still full, the
// least recently used one. Hosts that refuse calls are kept while idle
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
		if h.failing() {
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
		if lru == nil { // every host is failing: evict any
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
	r.only.CompareAndSwap(h, nil)
	r.t.tel.hostDropped(h)
}

// touchEvery is how stale lastUsed may be. Writing it on every call made
// concurrent calls to one host contend for its cache line, which admission
// reads on every attempt.
const touchEvery = int64(time.Millisecond)

// touch records that h was used at now, at most once per touchEvery.
func (h *host) touch(now int64) {
	if last := h.lastUsed.Load(); now-last >= touchEvery || now < last {
		h.lastUsed.Store(now)
	}
}
