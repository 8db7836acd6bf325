// Package redisstore shares circuit breaker transitions among the instances
// of a service through Redis, so that the first instance to see a dependency
// fail warns the rest of the fleet.
//
// A [Store] implements [resilient.BreakerStore]. Plug it into every client of
// an instance with [resilient.WithSharedBreakers]:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", DialTimeout: time.Second, ReadTimeout: time.Second})
//	defer rdb.Close()
//	store := redisstore.New(rdb, redisstore.Options{Service: "checkout"})
//	defer store.Close()
//	client := resilient.New(resilient.WithSharedBreakers(store))
//	defer resilient.Close(client)
//
// # What is shared, and how
//
// The local breaker stays authoritative: a request never waits for Redis.
// When an instance's breaker opens, [Store.Publish] queues the event and a
// background goroutine, in one atomic script, sets the key
//
//	<Namespace>:<Service>:breaker:<scheme://host:port>
//
// with a TTL equal to the time left before the breaker lets probes through,
// and publishes the event on the channel <Namespace>:<Service>:breaker. The
// other instances' subscriptions receive it within milliseconds and refuse
// calls to that host with a [resilient.CircuitOpenError] whose Remote field is
// true, until the TTL runs out. Closing a breaker deletes the key and
// publishes the close.
//
// The TTL travels as a duration, not as a time of day, and each receiver adds
// it to its own clock, so clock skew between instances does not matter. A
// subscription reads the keys in force when it starts and again after every
// reconnection, so an instance that starts late, or missed messages while
// Redis was unreachable, still learns of every open breaker.
//
// # When Redis is slow or down
//
// Requests are neither slowed nor refused: Publish never blocks (a full queue
// drops the event and counts it), and every Redis command runs in the
// background. The store logs "redisstore: redis unreachable, breakers are
// local only" once per outage, sets the gauge resilient.redisstore.connected
// to 0, counts failures in resilient.redisstore.errors, reconnects with a
// capped, jittered backoff, and on recovery logs once, republishes the local
// transitions still in force and reads the keys again. Set the go-redis
// client's DialTimeout and ReadTimeout to a second or so: they bound how long
// a background command waits for an unresponsive server.
//
// # Instances
//
// A Store speaks for one instance, named by Options.InstanceID (random by
// default); its subscriptions ignore the events it published itself. Several
// clients of one process may share a Store, but they then do not see one
// another's transitions; give each its own Store to have them share.
package redisstore
