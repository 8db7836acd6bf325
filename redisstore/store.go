package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"

	"github.com/resilient-http/resilient"
)

// This file holds the Store's API: options, construction, Publish,
// Subscribe and Close. publish.go sends, subscribe.go receives, health.go
// tracks whether Redis answers.

// Options configures a Store. Its zero value means DefaultOptions; each zero
// field takes the default written beside it.
type Options struct {
	// Namespace is the first segment of every key and of the channel.
	// "" means "resilient".
	Namespace string
	// Service is the second segment, so that the services sharing a Redis
	// share breaker state only among their own instances. "" leaves the
	// segment out: every service using the Namespace shares one state.
	Service string
	// InstanceID names this instance in what it publishes; a subscription
	// ignores the events of its own instance. It must differ between
	// instances. "" means the host name followed by random hex digits.
	InstanceID string
	// Logger receives one Warn line when Redis becomes unreachable and one
	// Info line when it answers again. nil means slog.Default(); pass
	// slog.New(slog.DiscardHandler) for silence.
	Logger *slog.Logger
	// MeterProvider provides the store's metrics: resilient.redisstore.
	// connected (gauge, 1 while Redis answers), .errors (failed Redis
	// operations, by operation), .events (by direction: sent, received)
	// and .dropped (events lost to a full queue). nil means the otel global.
	MeterProvider metric.MeterProvider
	// Timeout bounds each background Redis operation: a publish batch, a
	// resync of the keys. The go-redis client's own DialTimeout and
	// ReadTimeout bound it too, unless its ContextTimeoutEnabled is set.
	// 0 means 2s.
	Timeout time.Duration
	// QueueSize bounds the events waiting to be sent, and the transitions
	// kept for resending while Redis is unreachable; beyond it, Publish
	// drops events and counts them. 0 means 1024.
	QueueSize int
	// HealthInterval is how long a subscription waits for a message before
	// it pings Redis; a ping unanswered for as long again counts as a lost
	// connection. 0 means 1s.
	HealthInterval time.Duration
	// ReconnectMin and ReconnectMax bound the jittered, doubling wait
	// between attempts to reach Redis again. 0 means 100ms and 5s.
	ReconnectMin, ReconnectMax time.Duration
	// MaxRemoteOpen caps how long a remote open refuses calls, whatever
	// the TTL it carries, so that a misconfigured instance cannot silence a
	// host for the fleet for long. 0 means 5m.
	MaxRemoteOpen time.Duration
}

// DefaultOptions are the values a zero Options field stands for.
var DefaultOptions = Options{
	Namespace:      "resilient",
	Timeout:        2 * time.Second,
	QueueSize:      1024,
	HealthInterval: time.Second,
	ReconnectMin:   100 * time.Millisecond,
	ReconnectMax:   5 * time.Second,
	MaxRemoteOpen:  5 * time.Minute,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	if o.Namespace == "" {
		o.Namespace = d.Namespace
	}
	if o.InstanceID == "" {
		o.InstanceID = newInstanceID()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
	if o.QueueSize <= 0 {
		o.QueueSize = d.QueueSize
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = d.HealthInterval
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = d.ReconnectMin
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = d.ReconnectMax
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.MaxRemoteOpen <= 0 {
		o.MaxRemoteOpen = d.MaxRemoteOpen
	}
	return o
}

func newInstanceID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "instance"
	}
	return host + "-" + hex.EncodeToString(b[:])
}

// Store shares the breaker transitions of one instance with the other
// instances of its service through Redis. It implements
// resilient.BreakerStore; pass it to resilient.WithSharedBreakers. It is safe
// for concurrent use.
//
// From New until Close, a Store runs one goroutine that sends what Publish
// queues, plus one per Subscribe. Close stops them; it does not close the
// Redis client, which the caller owns.
type Store struct {
	rdb   redis.UniversalClient
	opts  Options
	names names

	queue chan resilient.BreakerEvent
	kick  chan struct{} // Redis answers again: send what is pending now
	done  chan struct{} // closed by Close
	wg    sync.WaitGroup

	mu     sync.Mutex
	subs   map[*subscription]struct{}
	closed bool

	health health
	tel    *telemetry
}

var _ resilient.BreakerStore = (*Store)(nil)

// New returns a Store that shares breaker transitions through rdb, which
// may be a *redis.Client, a *redis.ClusterClient, a *redis.Ring or a
// failover client. It does not contact Redis: a Redis that is down when the
// store starts is handled as one that goes down later.
func New(rdb redis.UniversalClient, opts Options) *Store {
	o := opts.withDefaults()
	s := &Store{
		rdb:   rdb,
		opts:  o,
		names: newNames(o.Namespace, o.Service),
		queue: make(chan resilient.BreakerEvent, o.QueueSize),
		kick:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		subs:  make(map[*subscription]struct{}),
	}
	s.tel = newTelemetry(o, &s.health)
	s.wg.Add(1)
	go s.publishLoop()
	return s
}

// InstanceID returns the name this store publishes under.
func (s *Store) InstanceID() string { return s.opts.InstanceID }

// Publish queues a local transition for the other instances. It never
// blocks: when the queue is full, or after Close, the event is dropped and
// counted. The transport calls it from the breaker's state change.
func (s *Store) Publish(ev resilient.BreakerEvent) {
	if ev.Host == "" {
		return
	}
	select {
	case <-s.done:
		s.tel.drop()
		return
	default:
	}
	select {
	case s.queue <- ev:
	default:
		s.tel.drop()
	}
}

// Subscribe calls fn with every transition published by the other
// instances of the service, starting with the open breakers already in
// force, until cancel is called. fn runs on the subscription's own
// goroutine, one call at a time, and must be quick.
//
// cancel is idempotent and returns once the subscription's goroutine has
// stopped: at once, or, when Redis hangs in the middle of a command, after
// the go-redis client's ReadTimeout at most. Close cancels every
// subscription. After Close, Subscribe does nothing.
func (s *Store) Subscribe(fn func(resilient.BreakerEvent)) (cancel func()) {
	if fn == nil {
		return func() {}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return func() {}
	}
	sub := newSubscription(s, fn)
	s.subs[sub] = struct{}{}
	go sub.run()
	return sub.cancel
}

func (s *Store) unsubscribed(sub *subscription) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
}

// Close stops sharing: it cancels every subscription, makes a last attempt
// (bounded by Options.Timeout) to send the transitions still queued when
// Redis answers, and stops the store's goroutines. It does not close the
// Redis client. It is safe to call more than once and always returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	subs := make([]*subscription, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.cancel()
	}
	close(s.done)
	s.wg.Wait()
	s.tel.close()
	return nil
}

// Connected reports whether the last Redis operation of the store
// succeeded, that is whether breaker state is being shared right now. It is
// false until the first operation succeeds.
func (s *Store) Connected() bool { return s.health.up.Load() }

// Stats are counts since the store was made.
type Stats struct {
	Sent     uint64 // transitions written to Redis
	Received uint64 // transitions of other instances passed to subscribers
	Dropped  uint64 // transitions lost to a full queue or to Close
	Errors   uint64 // failed Redis operations
	Outages  uint64 // times Redis became unreachable
}

// Stats returns the store's counts so far.
func (s *Store) Stats() Stats { return s.tel.stats() }

// opContext returns a context for one background Redis operation: parent,
// bounded by Options.Timeout.
func (s *Store) opContext(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.opts.Timeout)
}
