// Package outbound sends batches of lines to one destination: lanes, each a
// bounded queue fed by the routers and drained in order by its own
// connection with batched writes, reconnecting with back-off without losing
// the batch in flight. One key's lines take one lane, so they arrive in the
// order they were sent.
package outbound

import (
	"sync"
	"time"
)

// Chunk is a batch of whole lines, each ending in '\n'.
type Chunk struct {
	Data  []byte
	Lines int
}

// queue is a FIFO of chunks bounded by a number of lines. Push blocks while
// the queue is full, up to a wait, then makes room by dropping the oldest
// chunks (lossless backpressure first, bounded memory always).
type queue struct {
	mu      sync.Mutex
	chunks  []Chunk // chunks[head:] are queued
	head    int
	lines   int
	bytes   int
	max     int
	closed  bool
	space   chan struct{} // closed when lines leave the queue
	waiting bool
	ready   chan struct{} // one token: lines are queued
	// flying and flyingBytes are the batch an acknowledged writer took and
	// has not yet had acknowledged: still waiting, so depth counts it.
	flying, flyingBytes int
}

func newQueue(maxLines int) *queue {
	return &queue{max: maxLines, space: make(chan struct{}), ready: make(chan struct{}, 1)}
}

// push queues c. While the queue is full it waits up to wait (0: not at all)
// for room; then it drops the oldest chunks to make room, returning how many
// lines it dropped. block false never waits (a destination that is down must
// not stall its senders). A chunk bigger than the whole queue is truncated
// to nothing and counted as dropped.
func (q *queue) push(c Chunk, wait time.Duration, block bool) (dropped int) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return c.Lines
	}
	if c.Lines > q.max {
		q.mu.Unlock()
		return c.Lines
	}
	var timer *time.Timer
	for q.lines+c.Lines > q.max && block && wait > 0 {
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		q.waiting = true
		space := q.space
		q.mu.Unlock()
		timedOut := false
		select {
		case <-space:
		case <-timer.C:
			timedOut = true
		}
		q.mu.Lock()
		if timedOut {
			break
		}
	}
	for q.lines+c.Lines > q.max && q.head < len(q.chunks) {
		old := q.chunks[q.head]
		q.chunks[q.head] = Chunk{}
		q.head++
		q.lines -= old.Lines
		q.bytes -= len(old.Data)
		dropped += old.Lines
	}
	q.chunks = append(q.chunks, c)
	q.lines += c.Lines
	q.bytes += len(c.Data)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return dropped
}

// size returns the bytes queued.
func (q *queue) size() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// pushFront puts back a chunk that could not be sent, ahead of the others,
// regardless of the bound (it was already counted in).
func (q *queue) pushFront(c Chunk) {
	q.mu.Lock()
	if q.head > 0 {
		q.head--
		q.chunks[q.head] = c
	} else {
		q.chunks = append([]Chunk{c}, q.chunks...)
	}
	q.lines += c.Lines
	q.bytes += len(c.Data)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop takes up to maxBytes of chunks (at least one chunk when any is
// queued) into dst. With fly, what it takes counts as queued (flying) until
// landed.
func (q *queue) pop(dst []Chunk, maxBytes int, fly bool) []Chunk {
	q.mu.Lock()
	n := 0
	from := len(dst)
	for q.head < len(q.chunks) && (n == 0 || n+len(q.chunks[q.head].Data) <= maxBytes) {
		c := q.chunks[q.head]
		q.chunks[q.head] = Chunk{}
		q.head++
		q.lines -= c.Lines
		q.bytes -= len(c.Data)
		n += len(c.Data)
		dst = append(dst, c)
	}
	if q.head == len(q.chunks) {
		q.chunks, q.head = q.chunks[:0], 0
	} else if q.head > 1024 && q.head > len(q.chunks)/2 {
		q.chunks = append(q.chunks[:0], q.chunks[q.head:]...)
		q.head = 0
	}
	if len(dst) > 0 && q.waiting {
		close(q.space)
		q.space = make(chan struct{})
		q.waiting = false
	}
	if fly {
		for _, c := range dst[from:] {
			q.flying += c.Lines
			q.flyingBytes += len(c.Data)
		}
	}
	more := q.head < len(q.chunks)
	q.mu.Unlock()
	if more {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return dst
}

// landed ends what pop took with fly: acknowledged, or given up.
func (q *queue) landed() {
	q.mu.Lock()
	q.flying, q.flyingBytes = 0, 0
	q.mu.Unlock()
}

// depth returns the queued lines and bytes, the flying batch's included.
func (q *queue) depth() (lines, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lines + q.flying, q.bytes + q.flyingBytes
}

// drain removes and returns everything queued, and closes the queue: later
// pushes count their lines as dropped.
func (q *queue) drain() []Chunk {
	q.mu.Lock()
	q.closed = true
	out := append([]Chunk(nil), q.chunks[q.head:]...)
	q.chunks, q.head, q.lines, q.bytes = q.chunks[:0], 0, 0, 0
	if q.waiting {
		close(q.space)
		q.space = make(chan struct{})
		q.waiting = false
	}
	q.mu.Unlock()
	return out
}
