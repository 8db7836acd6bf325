package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilient-http/resilient"
)

// This file sends the transitions that Publish queues. One goroutine owns
// the pending set: the latest transition of each host not yet written to
// Redis. While Redis is unreachable the set holds them, and the goroutine
// retries with backoff; when Redis answers again (a subscription kicks the
// goroutine), it sends them at once, together with the opens it had sent
// before that are still in force: a restarted Redis may have lost them.

// publishLoop runs from New until Close.
func (s *Store) publishLoop() {
	defer s.wg.Done()
	pending := make(map[string]resilient.BreakerEvent)
	inForce := make(map[string]resilient.BreakerEvent) // opens sent, not yet closed
	bo := newBackoff(s.opts.ReconnectMin, s.opts.ReconnectMax)
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	retrying := false
	for {
		force := false
		select {
		case <-s.done:
			retry.Stop()
			s.collect(pending)
			if len(pending) > 0 && !s.health.down() {
				s.flush(pending, inForce)
			}
			for range pending {
				s.tel.drop()
			}
			return
		case ev := <-s.queue:
			s.add(pending, ev)
		case <-s.kick:
			force = true
			now := time.Now()
			for host, ev := range inForce {
				if _, ok := pending[host]; !ok && ev.Until.After(now) {
					pending[host] = ev
				}
			}
		case <-retry.C:
			retrying, force = false, true
		}
		s.collect(pending)
		if len(pending) == 0 {
			continue
		}
		if s.health.down() && !force {
			// Known down: wait for the retry or for a subscription to see
			// Redis again, rather than wait out a timeout per event.
			if !retrying {
				retry.Reset(bo.wait())
				retrying = true
			}
			continue
		}
		if !s.flush(pending, inForce) {
			if !retrying {
				retry.Reset(bo.wait())
				retrying = true
			}
			continue
		}
		bo.reset()
		if retrying {
			retry.Stop()
			retrying = false
		}
	}
}

// flush sends pending and reports to the store's health whether Redis
// took it.
func (s *Store) flush(pending, inForce map[string]resilient.BreakerEvent) bool {
	start := time.Now()
	ctx, cancel := s.opContext(context.Background())
	err := s.send(ctx, pending, inForce)
	cancel()
	if err != nil {
		s.failed("publish", err, start)
		return false
	}
	s.succeeded()
	return true
}

// collect moves what is queued into pending, without waiting.
func (s *Store) collect(pending map[string]resilient.BreakerEvent) {
	for {
		select {
		case ev := <-s.queue:
			s.add(pending, ev)
		default:
			return
		}
	}
}

// add records ev as host's latest transition; a full set drops it.
func (s *Store) add(pending map[string]resilient.BreakerEvent, ev resilient.BreakerEvent) {
	if _, ok := pending[ev.Host]; !ok && len(pending) >= s.opts.QueueSize {
		s.tel.drop()
		return
	}
	pending[ev.Host] = ev
}

// send writes the pending transitions in one pipeline, each through the
// atomic publish script, and when all succeeded moves them from pending to
// inForce (opens) or out of it (closes). An open whose time has passed is
// dropped unsent: the others' copies would have expired too.
func (s *Store) send(ctx context.Context, pending, inForce map[string]resilient.BreakerEvent) error {
	now := time.Now()
	for host, ev := range inForce {
		if !ev.Until.After(now) {
			delete(inForce, host)
		}
	}
	pipe := s.rdb.Pipeline()
	n := 0
	for host, ev := range pending {
		m := message{V: wireVersion, Instance: s.opts.InstanceID, Host: host, Open: ev.Open}
		var ttl int64
		if ev.Open {
			ttl = ev.Until.Sub(now).Milliseconds()
			if ttl <= 0 {
				delete(pending, host)
				continue
			}
			m.TTL = ttl
		}
		pipe.Eval(ctx, publishScript, []string{s.names.key(host)}, s.names.channel, m.encode(), ttl)
		n++
	}
	if n == 0 {
		return nil
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		for _, c := range cmds {
			if c.Err() != nil && c.Err() != redis.Nil {
				return c.Err()
			}
		}
		return err
	}
	for host, ev := range pending {
		if ev.Open {
			if _, ok := inForce[host]; ok || len(inForce) < s.opts.QueueSize {
				inForce[host] = ev
			}
		} else {
			delete(inForce, host)
		}
	}
	clear(pending)
	s.tel.sentN(n)
	return nil
}
