package resilient

// This file holds the replay of request bodies that have no GetBody, as
// the AWS SDK's, an io.Pipe's or a hand-built request's: a body that is an
// io.Seeker is rewound; any other is copied as it is sent, up to the
// replay limit (WithReplayLimit), and sent again from that copy. A body
// with GetBody never comes here: it streams again from GetBody.
//
// The transport reads each attempt's body in its own goroutine, and may go
// on reading, and close the body only later, after RoundTrip returned a
// response (a 503 sent before the upload was read). So every attempt gets
// its own attemptBody, and the next attempt waits until the transport has
// closed the previous one and no Read of it is in progress. The caller's
// body is closed once, when the call is done and the transport is done
// with the last attempt's body.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
)

// DefaultReplayLimit is how many bytes of a request body without GetBody
// are kept to send it again, unless WithReplayLimit says otherwise: 2 MiB.
// It holds typical API payloads (JSON documents of a few KiB, a form) and a
// 1 MiB upload with room for framing; a larger body is sent once. The copy
// grows only with what is sent, so a small body costs only its own size;
// the limit bounds what a call in flight may hold, so that even 500
// concurrent uploads at the limit stay within a gigabyte.
const DefaultReplayLimit = 2 << 20

// WithReplayLimit sets how many bytes of a request body without GetBody
// (and that is not an io.Seeker) are kept while it is sent, so that a retry
// can send it again: DefaultReplayLimit, 2 MiB, unless set. A body longer
// than n is sent once, and a retryable failure of it ends with an error
// that matches ErrBodyNotReplayable. 0 keeps nothing: such bodies are sent
// once. A body with GetBody streams again from it and is never copied; an
// io.Seeker is rewound, at no cost in memory.
func WithReplayLimit(n int64) Option {
	return optionFunc(func(c *config) {
		if n < 0 {
			c.invalid("replay limit is %d; it must not be negative (0 sends bodies without GetBody once)", n)
			return
		}
		c.replayMax = n
	})
}

// errBodyClosed is what a Read of an attempt's body returns after the
// transport closed it.
var errBodyClosed = errors.New("resilient: read of a request body after it was closed")

// replayer sends one call's body, which has no GetBody, on each attempt.
// src is read by one goroutine at a time: the transport's, for the latest
// attempt only; the call's goroutine reads the copy's state after the
// attempt's body is done, which the done channel orders.
type replayer struct {
	src    io.ReadCloser // the caller's body
	seeker io.Seeker     // src as an io.Seeker; nil when it is not one
	start  int64         // src's offset when the call began, for seeker
	limit  int64         // the most bytes kept
	chunks []*[]byte     // what was read from src, while no more than limit
	n      int64         // bytes read from src so far
	over   bool          // more than limit was read: chunks dropped, no replay

	mu       sync.Mutex
	cur      *attemptBody // the latest attempt's body
	finished bool         // the call is done
	closed   bool         // src was closed, or is being closed
}

// newReplayer returns the replayer of req's body, which has no GetBody,
// keeping at most limit bytes of it.
func newReplayer(req *http.Request, limit int64) *replayer {
	r := &replayer{src: req.Body, limit: limit}
	if s, ok := req.Body.(io.Seeker); ok {
		if off, err := s.Seek(0, io.SeekCurrent); err == nil {
			r.seeker, r.start = s, off
		}
	}
	// A body known to be longer than the limit is not copied at all.
	r.over = r.seeker == nil && req.ContentLength > limit
	return r
}

// first returns the body of the first attempt.
func (r *replayer) first() io.ReadCloser {
	return r.attach(0)
}

// attach makes the body of the next attempt, which gives the first replay
// bytes of the copy and then reads on from src.
func (r *replayer) attach(replay int64) *attemptBody {
	b := &attemptBody{r: r, left: replay, done: make(chan struct{})}
	r.mu.Lock()
	r.cur = b
	r.mu.Unlock()
	return b
}

// wait waits until the transport is done with the latest attempt's body,
// or ctx ends.
func (r *replayer) wait(ctx context.Context) error {
	r.mu.Lock()
	b := r.cur
	r.mu.Unlock()
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ready reports whether the body can be sent again, once the transport is
// done with the latest attempt's body: when it is within the limit, or
// when nothing of it was read (a refused connection). It is false when
// ctx ended first. The loop asks it only once decide would retry.
func (r *replayer) ready(ctx context.Context) bool {
	return r.wait(ctx) == nil && (!r.over || r.n == 0)
}

// rewind returns the body of the next attempt: the copy, then the rest of
// src; or src itself rewound, when it is an io.Seeker.
func (r *replayer) rewind(ctx context.Context) (io.ReadCloser, error) {
	if err := r.wait(ctx); err != nil {
		return nil, err
	}
	if r.over && r.n > 0 {
		return nil, ErrBodyNotReplayable
	}
	if r.seeker != nil {
		if _, err := r.seeker.Seek(r.start, io.SeekStart); err != nil {
			return nil, err
		}
		return r.attach(0), nil
	}
	return r.attach(r.n), nil
}

// finish marks the call done: src is closed, and the copy released, now
// if the transport is done with the last attempt's body, or else when it
// is.
func (r *replayer) finish() {
	r.mu.Lock()
	r.finished = true
	closeSrc := r.endLocked()
	r.mu.Unlock()
	if closeSrc {
		r.src.Close()
	}
}

// endLocked ends the replay once the call is done and the transport has
// closed the last attempt's body: it releases the copy when no Read is in
// progress, and reports whether src is still to be closed, which the
// caller does after unlocking r.mu. A Read in progress does not delay the
// close, as net/http itself closes a body that a Read is blocked on.
func (r *replayer) endLocked() (closeSrc bool) {
	b := r.cur
	if !r.finished || b == nil || !b.closed {
		return false
	}
	if !b.reading {
		r.release()
	}
	closeSrc = !r.closed
	r.closed = true
	return closeSrc
}

// tee counts p, read from src, and keeps it while the copy is within the
// limit. The copy grows in pooled chunks, so that it costs what was sent,
// rounded up to a chunk: a 4 KiB chunk first, then 64 KiB ones.
func (r *replayer) tee(p []byte) {
	r.n += int64(len(p))
	if r.over || r.seeker != nil {
		return
	}
	if r.n > r.limit {
		r.over = true
		r.release()
		return
	}
	for len(p) > 0 {
		last := len(r.chunks) - 1
		if last < 0 || len(*r.chunks[last]) == cap(*r.chunks[last]) {
			pool := &chunks[0]
			if last >= 0 {
				pool = &chunks[1]
			}
			c := pool.Get().(*[]byte)
			*c = (*c)[:0]
			r.chunks = append(r.chunks, c)
			last++
		}
		c := r.chunks[last]
		k := copy((*c)[len(*c):cap(*c)], p)
		*c = (*c)[:len(*c)+k]
		p = p[k:]
	}
}

// release gives the copy's chunks back to their pools, once nothing reads
// them any more.
func (r *replayer) release() {
	for i, c := range r.chunks {
		if cap(*c) == chunkSizes[0] {
			chunks[0].Put(c)
		} else {
			chunks[1].Put(c)
		}
		r.chunks[i] = nil
	}
	r.chunks = nil
}

// chunkSizes are the sizes of the copy's chunks: the first, and the others.
var chunkSizes = [2]int{4 << 10, 64 << 10}

// chunks pools the copy's chunks by size, as net/http pools its buffers,
// so that a call reuses memory rather than fault in fresh pages.
var chunks = [2]sync.Pool{
	{New: func() any { b := make([]byte, chunkSizes[0]); return &b }},
	{New: func() any { b := make([]byte, chunkSizes[1]); return &b }},
}

// attemptBody is one attempt's request body. Its Close does not close the
// caller's body, unless the call is done; it marks the body done for the
// next attempt, at once or when a Read in progress returns.
type attemptBody struct {
	r       *replayer
	left    int64 // bytes of the copy still to give before reading src
	ci, off int   // position in the copy

	// Guarded by r.mu.
	reading bool
	closed  bool
	done    chan struct{} // closed once closed and no Read is in progress
}

func (b *attemptBody) Read(p []byte) (int, error) {
	r := b.r
	r.mu.Lock()
	if b.closed {
		r.mu.Unlock()
		return 0, errBodyClosed
	}
	b.reading = true
	r.mu.Unlock()
	n, err := b.read(p)
	r.mu.Lock()
	b.reading = false
	closeSrc := false
	if b.closed {
		close(b.done)
		closeSrc = r.endLocked()
	}
	r.mu.Unlock()
	if closeSrc {
		r.src.Close()
	}
	return n, err
}

func (b *attemptBody) read(p []byte) (int, error) {
	r := b.r
	if b.left > 0 {
		c := (*r.chunks[b.ci])[b.off:]
		n := copy(p, c[:min(int64(len(c)), b.left)])
		b.left -= int64(n)
		b.off += n
		if b.off == len(*r.chunks[b.ci]) {
			b.ci, b.off = b.ci+1, 0
		}
		return n, nil
	}
	n, err := r.src.Read(p)
	r.tee(p[:n])
	return n, err
}

// Close marks the body done; when the call is done too, it closes the
// caller's body, as net/http would have.
func (b *attemptBody) Close() error {
	r := b.r
	r.mu.Lock()
	if b.closed {
		r.mu.Unlock()
		return nil
	}
	b.closed = true
	if !b.reading {
		close(b.done)
	}
	closeSrc := r.endLocked()
	r.mu.Unlock()
	if closeSrc {
		return r.src.Close()
	}
	return nil
}
