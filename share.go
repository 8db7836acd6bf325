package resilient

// This file holds sharing admission with a fleet: BreakerStore, the events
// it carries, and how a Transport publishes its own opens and applies
// another instance's. A remote open follows the same semantics as a local
// one: the local breaker is tripped and then probes and ramps up as after a
// local open. It skips the detection (25 failures) and the burst of
// back-to-back probes, which the instance that published the open has
// sent, and holds until that open's Until, at most Cooldown: never longer
// than a local open would. A remote close makes an open breaker probe at
// once; its own successful probe closes it and ramp-up follows, so a
// remote open never ends in a sudden return to full traffic.

import (
	"net/url"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// sharing is a host's part in a fleet's shared admission.
type sharing struct {
	remoteUntil atomic.Int64 // unix nanos; until when another instance's open is in force
	remoteTrip  atomic.Bool  // the open being applied comes from another instance
}

// BreakerEvent is a breaker transition shared between instances.
type BreakerEvent struct {
	Host  string    // scheme://host:port
	Open  bool      // true: opened; false: closed
	Until time.Time // for Open: until when the open is news; later subscribers ignore it
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

// breakerChanged reports a transition: metrics, log, and the shared store.
// It runs under gobreaker's lock and must not block. Only the edges of an
// outage are published (closed to open, and back to closed), not each
// failed probe.
func (t *Transport) breakerChanged(h *host, from, to gobreaker.State, now time.Time) {
	t.tel.breakerTransition(h, stateNames[from], stateNames[to])
	if t.events != nil {
		t.events.breakerChanged(h, from, to, now)
	}
	if t.cfg.store == nil || h.shared.remoteTrip.Load() {
		return
	}
	switch {
	case from == gobreaker.StateClosed && to == gobreaker.StateOpen:
		t.cfg.store.Publish(BreakerEvent{Host: h.name, Open: true, Until: now.Add(t.cfg.breaker.Cooldown)})
	case to == gobreaker.StateClosed:
		t.cfg.store.Publish(BreakerEvent{Host: h.name})
	}
}

// remoteEvent applies a transition published by another instance. An open
// trips the local breaker, which then probes as after a local open (see
// the file comment); the trip is not published back. A close only ends the
// remote mark on errors and makes an open local breaker probe at once: the
// local breaker still needs its own successful probe to close.
func (t *Transport) remoteEvent(ev BreakerEvent) {
	u, err := url.Parse(ev.Host)
	if err != nil || u.Host == "" {
		return
	}
	k := keyOf(u)
	now := t.cfg.clock.Now()
	if !ev.Open {
		if h := t.hosts.lookup(k); h != nil {
			h.shared.remoteUntil.Store(0)
			// Another instance saw the host answer: probe now rather than
			// at the end of the hold.
			if h.br != nil && h.br.holdUntil.Load() > now.UnixNano() {
				h.br.holdUntil.Store(now.UnixNano())
			}
		}
		return
	}
	if !ev.Until.After(now) {
		return
	}
	h := t.hosts.get(k, now)
	h.shared.remoteUntil.Store(ev.Until.UnixNano())
	if h.br == nil || h.br.holdUntil.Load() != 0 {
		return // already open or probing: nothing to add
	}
	t.tel.remoteOpen(h, ev.Until)
	h.trip()
}

// trip opens h's local breaker on behalf of another instance by reporting
// a failure, which ReadyToTrip takes as the trip while remoteTrip is set.
// Counts reset when the state changes, so no fake sample outlives the trip.
func (h *host) trip() {
	h.shared.remoteTrip.Store(true)
	defer h.shared.remoteTrip.Store(false)
	if done, err := h.br.cb.Allow(); err == nil {
		done(errFailure)
	}
}
