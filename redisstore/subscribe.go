package redisstore

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilient-http/resilient"
)

// This file receives the other instances' transitions. Each subscription
// owns a goroutine that runs sessions: a session opens its own pub/sub
// connection, subscribes, reads every key in force (the resync, which
// recovers what was published while it was not listening), then passes on
// messages until the connection fails; the goroutine then waits a backoff
// and starts another session.

// subscription is one Subscribe call.
type subscription struct {
	s  *Store
	fn func(resilient.BreakerEvent)

	ctx    context.Context // canceled by cancel
	stop   context.CancelFunc
	once   sync.Once
	exited chan struct{}

	mu      sync.Mutex
	ps      *redis.PubSub // the current session's, closed by cancel
	stopped bool

	// callStart is when the session's latest Redis call began; a failure
	// is reported with it. Only the subscription's goroutine uses it.
	callStart time.Time

	// delivered holds the remote opens passed to fn and not yet closed,
	// with the time each ends, so that a resync can close those whose key
	// disappeared while the subscription was not listening. Only the
	// subscription's goroutine uses it.
	delivered map[string]time.Time
}

func newSubscription(s *Store, fn func(resilient.BreakerEvent)) *subscription {
	ctx, stop := context.WithCancel(context.Background())
	return &subscription{
		s: s, fn: fn, ctx: ctx, stop: stop,
		exited:    make(chan struct{}),
		delivered: make(map[string]time.Time),
	}
}

// cancel stops the subscription and waits for its goroutine to end.
func (sub *subscription) cancel() {
	sub.once.Do(func() {
		sub.mu.Lock()
		sub.stopped = true
		ps := sub.ps
		sub.mu.Unlock()
		sub.stop()
		if ps != nil {
			_ = ps.Close() // unblocks a pending receive
		}
		<-sub.exited
		sub.s.unsubscribed(sub)
	})
}

// setSession records the current session's connection; it returns false
// when the subscription was canceled meanwhile.
func (sub *subscription) setSession(ps *redis.PubSub) bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.stopped {
		return false
	}
	sub.ps = ps
	return true
}

func (sub *subscription) run() {
	defer close(sub.exited)
	s := sub.s
	bo := newBackoff(s.opts.ReconnectMin, s.opts.ReconnectMax)
	for sub.ctx.Err() == nil {
		synced, err := sub.session()
		if sub.ctx.Err() != nil {
			return
		}
		if err != nil {
			s.failed("subscribe", err, sub.callStart)
		}
		if synced {
			bo.reset()
		}
		t := time.NewTimer(bo.wait())
		select {
		case <-sub.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// errNoPong reports a connection that did not answer a ping in time.
var errNoPong = errors.New("redisstore: no answer from redis to PING")

// session subscribes on a new connection and passes on what it receives
// until the connection fails or the subscription is canceled. synced tells
// whether it got as far as reading the keys in force.
func (sub *subscription) session() (synced bool, err error) {
	s := sub.s
	ps := s.rdb.Subscribe(sub.ctx) // no channels: does not connect yet
	if !sub.setSession(ps) {
		_ = ps.Close()
		return false, nil
	}
	defer func() {
		sub.setSession(nil)
		_ = ps.Close()
	}()
	sub.callStart = time.Now()
	if err := ps.Subscribe(sub.ctx, s.names.channel); err != nil {
		return false, err
	}
	pinged := false
	for {
		if !pinged {
			// An unanswered ping fails the connection from when it was
			// sent; otherwise from this read.
			sub.callStart = time.Now()
		}
		msg, err := ps.ReceiveTimeout(sub.ctx, s.opts.HealthInterval)
		if sub.ctx.Err() != nil {
			return synced, nil
		}
		if err != nil {
			if !isTimeout(err) {
				return synced, err
			}
			if pinged {
				return synced, errNoPong
			}
			sub.callStart = time.Now()
			if err := ps.Ping(sub.ctx); err != nil {
				return synced, err
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			// Subscribed (again, if go-redis reconnected under us): read
			// what was published while not listening.
			sub.callStart = time.Now()
			if err := sub.resync(); err != nil {
				return synced, err
			}
			synced = true
			s.succeeded()
		case *redis.Message:
			sub.receive(m.Payload, time.Now())
		case *redis.Pong:
			if synced {
				s.succeeded()
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// maxDelivered is the size of delivered above which receive sweeps out the
// opens that have ended.
const maxDelivered = 1024

// receive passes on one published transition, unless it is this instance's
// own or malformed.
func (sub *subscription) receive(payload string, now time.Time) {
	m, err := decodeMessage(payload)
	if err != nil || m.Instance == sub.s.opts.InstanceID {
		return
	}
	ev := resilient.BreakerEvent{Host: m.Host, Open: m.Open}
	if m.Open {
		d := m.remaining(sub.s.opts.MaxRemoteOpen)
		if d <= 0 {
			return
		}
		ev.Until = now.Add(d)
		if len(sub.delivered) >= maxDelivered {
			for h, until := range sub.delivered {
				if !until.After(now) {
					delete(sub.delivered, h)
				}
			}
		}
		sub.delivered[m.Host] = ev.Until
	} else {
		delete(sub.delivered, m.Host)
	}
	sub.s.tel.receive()
	sub.fn(ev)
}

// resync reads every key in force and passes on the remote opens among
// them, after closing the opens passed on earlier whose key is gone (their
// close was published while the subscription was not listening).
func (sub *subscription) resync() error {
	s := sub.s
	ctx, cancel := s.opContext(sub.ctx)
	defer cancel()
	found, err := s.readOpen(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for host, until := range sub.delivered {
		if _, ok := found[host]; !ok && until.After(now) {
			s.tel.receive()
			sub.fn(resilient.BreakerEvent{Host: host})
		}
	}
	clear(sub.delivered)
	for host, until := range found {
		sub.delivered[host] = until
		s.tel.receive()
		sub.fn(resilient.BreakerEvent{Host: host, Open: true, Until: until})
	}
	return nil
}

// readOpen returns the breakers that other instances hold open, with the
// time each ends on this instance's clock (Redis's own remaining TTL, so no
// clock is compared with another).
func (s *Store) readOpen(ctx context.Context) (map[string]time.Time, error) {
	var mu sync.Mutex
	found := make(map[string]time.Time)
	err := s.scan(ctx, func(ctx context.Context, c redis.Cmdable, keys []string) error {
		pipe := c.Pipeline()
		gets := make([]*redis.StringCmd, len(keys))
		ttls := make([]*redis.DurationCmd, len(keys))
		for i, k := range keys {
			gets[i] = pipe.Get(ctx, k)
			ttls[i] = pipe.PTTL(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for i, k := range keys {
			v, err := gets[i].Result()
			if err != nil {
				continue // expired between SCAN and GET
			}
			m, err := decodeMessage(v)
			if err != nil || !m.Open || m.Instance == s.opts.InstanceID || m.Host != s.names.hostOf(k) {
				continue
			}
			ttl := ttls[i].Val()
			if ttl <= 0 { // -1: no expiry, not ours; -2: gone
				continue
			}
			found[m.Host] = now.Add(min(ttl, s.opts.MaxRemoteOpen))
		}
		return nil
	})
	return found, err
}

// scan calls fn with batches of the service's keys, on every shard of a
// cluster or ring client (concurrently, as go-redis does for those).
func (s *Store) scan(ctx context.Context, fn func(context.Context, redis.Cmdable, []string) error) error {
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return scanNode(ctx, n, s.names.pattern, fn)
		})
	case *redis.Ring:
		return c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error {
			return scanNode(ctx, n, s.names.pattern, fn)
		})
	default:
		return scanNode(ctx, s.rdb, s.names.pattern, fn)
	}
}

// scanBatch is the COUNT hint of each SCAN call.
const scanBatch = 512

func scanNode(ctx context.Context, c redis.Cmdable, pattern string, fn func(context.Context, redis.Cmdable, []string) error) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, pattern, scanBatch).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := fn(ctx, c, keys); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}
