package redisstore_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilient-http/resilient"
	"github.com/resilient-http/resilient/redisstore"
)

// Every instance of the service builds its client this way. Here nothing
// listens at the Redis address, which shows the fallback: the store cannot
// share, and the client works as if it had local breakers only.
func Example() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
	defer api.Close()

	rdb := redis.NewClient(&redis.Options{
		Addr:        "127.0.0.1:1", // no Redis here
		DialTimeout: time.Second,
		ReadTimeout: time.Second,
	})
	defer rdb.Close()
	store := redisstore.New(rdb, redisstore.Options{
		Service: "checkout",                    // instances of checkout share breaker state
		Logger:  slog.New(slog.DiscardHandler), // the default, slog.Default(), would log the outage once
	})
	defer store.Close()
	client := resilient.New(resilient.WithSharedBreakers(store))
	defer resilient.Close(client)

	resp, err := client.Get(api.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 200 OK
}
