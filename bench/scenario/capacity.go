package scenario

// This file holds the capacity-bound server of the retry-storm scenarios:
// a fixed number of workers behind a bounded FIFO queue, which works on a
// request whose caller has gone as on any other, and rejects what does not
// fit in the queue with a 503 that costs a little work.

import (
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Capacity is a capacity-bound server: Workers workers each hold a request
// for Service, so the server completes Workers/Service requests per second;
// a request that finds every worker busy waits in a FIFO queue of Queue
// places, and one that finds the queue full is answered 503 at once, which
// costs the workers Reject of work. A queued request whose caller has gone
// is still worked on when its turn comes, as most servers do (the server
// finds out only when it writes the response).
type Capacity struct {
	Workers int
	Service time.Duration
	Queue   int
	Reject  time.Duration
}

// Rate returns the requests per second the server completes when its
// workers do nothing else.
func (c Capacity) Rate() float64 { return float64(c.Workers) / c.Service.Seconds() }

// job is one queued request: done is closed when a worker has finished it.
type job struct {
	r    *http.Request
	done chan struct{}
}

// workRecord is work the server did, at its end, since t0: for a request
// (for a caller that had gone, or not) or a rejection.
type workRecord struct {
	at   time.Duration
	cost time.Duration
	gone bool
}

// queueServer is the Capacity model. slow returns the factor by which the
// phase in force stretches the service time (1 normally; 2 while the
// server runs at half capacity).
type queueServer struct {
	c    Capacity
	t0   time.Time
	slow func(now time.Time) float64

	queue chan job
	debt  atomic.Int64 // rejection work not yet paid by a worker, in ns
	stop  chan struct{}
	wg    sync.WaitGroup

	mu   sync.Mutex
	work []workRecord
}

func newQueueServer(c Capacity, t0 time.Time, slow func(time.Time) float64) *queueServer {
	q := &queueServer{c: c, t0: t0, slow: slow, queue: make(chan job, c.Queue), stop: make(chan struct{})}
	for range c.Workers {
		q.wg.Add(1)
		go q.worker()
	}
	return q
}

// worker pays the rejection work owed, then serves the next request for
// the service time of the phase in force, whether or not its caller is
// still there.
func (q *queueServer) worker() {
	defer q.wg.Done()
	for {
		if d := q.debt.Load(); d > 0 {
			pay := min(d, int64(q.c.Service))
			if q.debt.CompareAndSwap(d, d-pay) {
				time.Sleep(time.Duration(pay))
			}
			continue
		}
		select {
		case <-q.stop:
			return
		case j := <-q.queue:
			start := time.Now()
			time.Sleep(time.Duration(float64(q.c.Service) * q.slow(start)))
			end := time.Now()
			q.record(workRecord{at: end.Sub(q.t0), cost: end.Sub(start), gone: j.r.Context().Err() != nil})
			close(j.done)
		}
	}
}

func (q *queueServer) record(w workRecord) {
	q.mu.Lock()
	q.work = append(q.work, w)
	q.mu.Unlock()
}

// ServeHTTP queues the request and answers 200 "ok" once a worker has
// served it, or 503 at once when the queue is full.
func (q *queueServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	j := job{r: r, done: make(chan struct{})}
	select {
	case q.queue <- j:
	default:
		q.debt.Add(int64(q.c.Reject))
		q.record(workRecord{at: time.Since(q.t0), cost: q.c.Reject})
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "queue full\n")
		return
	}
	select {
	case <-j.done:
		io.WriteString(w, "ok")
	case <-q.stop:
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

// Close stops the workers; requests still queued are answered 503.
func (q *queueServer) Close() {
	close(q.stop)
	q.wg.Wait()
}

// Work returns the work done, sorted by its end.
func (q *queueServer) Work() []workRecord {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := slices.Clone(q.work)
	slices.SortFunc(w, func(a, b workRecord) int { return int(a.at - b.at) })
	return w
}
