package redisstore

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// This file tracks whether Redis answers, logs the changes once each, and
// reports them and the store's counts as metrics.

// Connection states. A store starts unknown: it has not tried yet.
const (
	stateUnknown int32 = iota
	stateUp
	stateDown
)

// health is the store's view of Redis: up after an operation succeeded,
// down after one failed. Every goroutine of the store reports to it.
type health struct {
	mu     sync.Mutex // serializes transitions, so that each is logged once
	state  atomic.Int32
	up     atomic.Bool
	lastOK int64 // unix nanos of the latest success; guarded by mu
}

func (h *health) down() bool { return h.state.Load() == stateDown }

// succeeded records a Redis operation that worked. It reports whether Redis
// was down before, that is whether sharing has just resumed.
func (s *Store) succeeded() (recovered bool) {
	if s.health.up.Load() {
		return false
	}
	s.health.mu.Lock()
	prev := s.health.state.Load()
	if prev != stateUp {
		s.health.state.Store(stateUp)
		s.health.up.Store(true)
		s.health.lastOK = time.Now().UnixNano()
	}
	s.health.mu.Unlock()
	if prev == stateDown {
		s.opts.Logger.LogAttrs(context.Background(), slog.LevelInfo,
			"redisstore: redis reachable again, sharing breaker state",
			slog.String("channel", s.names.channel), slog.String("instance", s.opts.InstanceID))
	}
	if prev == stateDown {
		// Tell the publisher to resend now what Redis missed.
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return prev == stateDown
}

// failed records a Redis operation that failed; op names it in the metric,
// start is when it began. The first failure after a success (or at start)
// logs the degradation, unless Redis answered another operation after this
// one began: an operation that straddled a recovery says nothing new.
func (s *Store) failed(op string, err error, start time.Time) {
	s.tel.fail(op)
	s.health.mu.Lock()
	prev := s.health.state.Load()
	if prev == stateUp && start.UnixNano() < s.health.lastOK {
		s.health.mu.Unlock()
		return
	}
	if prev != stateDown {
		s.health.state.Store(stateDown)
		s.health.up.Store(false)
	}
	s.health.mu.Unlock()
	if prev != stateDown {
		s.tel.outages.Add(1)
		s.opts.Logger.LogAttrs(context.Background(), slog.LevelWarn,
			"redisstore: redis unreachable, breakers are local only",
			slog.String("channel", s.names.channel), slog.String("instance", s.opts.InstanceID),
			slog.String("operation", op), slog.String("error", err.Error()))
	}
}

// backoff is a doubling wait between min and max with full jitter in its
// upper half: each wait is drawn from [d/2, d).
type backoff struct {
	min, max, next time.Duration
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, next: min}
}

// wait returns the next wait and doubles the following one, up to max.
func (b *backoff) wait() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.max)
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.next = b.min }

// telemetry holds the store's counts and metric instruments.
type telemetry struct {
	sent, received, dropped, errors, outages atomic.Uint64

	attrs    metric.MeasurementOption // service, when set
	sentOpt  metric.MeasurementOption
	recvOpt  metric.MeasurementOption
	events   metric.Int64Counter
	drops    metric.Int64Counter
	failures metric.Int64Counter
	service  attribute.KeyValue
	hasSvc   bool
	reg      metric.Registration
}

const meterName = "github.com/resilient-http/resilient/redisstore"

func newTelemetry(o Options, h *health) *telemetry {
	mp := o.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(meterName)
	t := &telemetry{}
	var base []attribute.KeyValue
	if o.Service != "" {
		t.service, t.hasSvc = attribute.String("resilient.redisstore.service", o.Service), true
		base = append(base, t.service)
	}
	t.attrs = metric.WithAttributeSet(attribute.NewSet(base...))
	t.sentOpt = metric.WithAttributeSet(attribute.NewSet(append(base[:len(base):len(base)], attribute.String("resilient.redisstore.direction", "sent"))...))
	t.recvOpt = metric.WithAttributeSet(attribute.NewSet(append(base[:len(base):len(base)], attribute.String("resilient.redisstore.direction", "received"))...))
	t.events, _ = m.Int64Counter("resilient.redisstore.events", metric.WithUnit("{event}"),
		metric.WithDescription("Breaker transitions sent to or received from Redis."))
	t.drops, _ = m.Int64Counter("resilient.redisstore.dropped", metric.WithUnit("{event}"),
		metric.WithDescription("Breaker transitions dropped because the queue was full or the store closed."))
	t.failures, _ = m.Int64Counter("resilient.redisstore.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Failed Redis operations; while they fail, breakers are local only."))
	connected, err := m.Int64ObservableGauge("resilient.redisstore.connected", metric.WithUnit("1"),
		metric.WithDescription("1 while Redis answers and breaker state is shared, 0 otherwise."))
	if err == nil {
		attrs := t.attrs
		t.reg, _ = m.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
			var v int64
			if h.up.Load() {
				v = 1
			}
			obs.ObserveInt64(connected, v, attrs)
			return nil
		}, connected)
	}
	return t
}

func (t *telemetry) sentN(n int) {
	t.sent.Add(uint64(n))
	if t.events != nil {
		t.events.Add(context.Background(), int64(n), t.sentOpt)
	}
}

func (t *telemetry) receive() {
	t.received.Add(1)
	if t.events != nil {
		t.events.Add(context.Background(), 1, t.recvOpt)
	}
}

func (t *telemetry) drop() {
	t.dropped.Add(1)
	if t.drops != nil {
		t.drops.Add(context.Background(), 1, t.attrs)
	}
}

func (t *telemetry) fail(op string) {
	t.errors.Add(1)
	if t.failures != nil {
		kv := []attribute.KeyValue{attribute.String("resilient.redisstore.operation", op)}
		if t.hasSvc {
			kv = append(kv, t.service)
		}
		t.failures.Add(context.Background(), 1, metric.WithAttributes(kv...))
	}
}

func (t *telemetry) close() {
	if t.reg != nil {
		_ = t.reg.Unregister()
	}
}

func (t *telemetry) stats() Stats {
	return Stats{
		Sent:     t.sent.Load(),
		Received: t.received.Load(),
		Dropped:  t.dropped.Load(),
		Errors:   t.errors.Load(),
		Outages:  t.outages.Load(),
	}
}
