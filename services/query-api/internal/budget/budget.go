// Package budget bounds the datapoints query-api holds. Each render has its
// own allowance (a Request) that every allocation of series values charges
// before it is made; every Request also draws its charges from one Pool
// shared by all renders, so the points in flight across concurrent requests
// stay under a configured total. A charge that would take a Request past its
// allowance fails at once; one that does not fit in the Pool waits, first in
// first out, until other requests give points back or its context ends.
package budget

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrBusy is returned (wrapped) when a charge waited for the Pool until its
// context ended.
var ErrBusy = errors.New("too many points in flight")

// ExceededError is returned when a charge would take a Request past its
// allowance.
type ExceededError struct {
	Limit int64 // the Request's allowance
	Want  int64 // the points the request would hold with this charge
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("the request would hold more than %d points (at least %d)", e.Limit, e.Want)
}

// Pool is the points all requests may hold together: a weighted semaphore
// whose waiters are served in order.
type Pool struct {
	max     int64
	mu      sync.Mutex
	used    int64
	waiters []*waiter

	waits   atomic.Uint64 // charges that had to wait
	timeout atomic.Uint64 // charges that waited until their context ended
}

type waiter struct {
	n     int64
	ready chan struct{} // closed once the points are granted
}

// NewPool returns a Pool of max points.
func NewPool(max int64) *Pool { return &Pool{max: max} }

// Max is the Pool's size.
func (p *Pool) Max() int64 { return p.max }

// InFlight is the points the Pool has granted and not had back.
func (p *Pool) InFlight() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used
}

// Waits is how many charges had to wait for points.
func (p *Pool) Waits() uint64 { return p.waits.Load() }

// TimedOut is how many charges waited until their context ended.
func (p *Pool) TimedOut() uint64 { return p.timeout.Load() }

// acquire takes n points, waiting in order until they fit or ctx ends.
func (p *Pool) acquire(ctx context.Context, n int64) error {
	if n > p.max {
		return &ExceededError{Limit: p.max, Want: n}
	}
	p.mu.Lock()
	if len(p.waiters) == 0 && p.used+n <= p.max {
		p.used += n
		p.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	p.waits.Add(1)
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	select {
	case <-w.ready: // granted while the context ended: keep it
		p.mu.Unlock()
		return nil
	default:
	}
	for i, o := range p.waiters {
		if o == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			break
		}
	}
	p.grantLocked() // the next ones may fit now this one left the head
	p.mu.Unlock()
	p.timeout.Add(1)
	return fmt.Errorf("%w: waited for %d points: %w", ErrBusy, n, context.Cause(ctx))
}

// release gives n points back and wakes the waiters that now fit.
func (p *Pool) release(n int64) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	p.used -= n
	p.grantLocked()
	p.mu.Unlock()
}

func (p *Pool) grantLocked() {
	for len(p.waiters) > 0 {
		w := p.waiters[0]
		if p.used+w.n > p.max {
			return
		}
		p.used += w.n
		p.waiters = p.waiters[1:]
		close(w.ready)
	}
}

// Request is one render's allowance. Charges add up over the request and
// are only given back, all at once, by Release: a bound on everything the
// request allocated, hence on what it can hold at any moment.
type Request struct {
	pool  *Pool // nil: no shared pool
	limit int64 // 0: no allowance of its own
	mu    sync.Mutex
	used  int64
}

// NewRequest returns an allowance of limit points (0: unlimited) drawn from
// pool (nil: none).
func NewRequest(pool *Pool, limit int64) *Request { return &Request{pool: pool, limit: limit} }

// Charge accounts for n more points before they are allocated: an
// *ExceededError past the allowance, ErrBusy when the Pool had no room
// before ctx ended.
func (r *Request) Charge(ctx context.Context, n int64) error {
	if r == nil || n <= 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.limit > 0 && r.used+n > r.limit {
		return &ExceededError{Limit: r.limit, Want: r.used + n}
	}
	if r.pool != nil {
		if err := r.pool.acquire(ctx, n); err != nil {
			return err
		}
	}
	r.used += n
	return nil
}

// Used is the points charged so far.
func (r *Request) Used() int64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.used
}

// Release gives every point charged back to the Pool; the Request can be
// charged again afterwards.
func (r *Request) Release() {
	if r == nil {
		return
	}
	r.mu.Lock()
	n := r.used
	r.used = 0
	r.mu.Unlock()
	if r.pool != nil {
		r.pool.release(n)
	}
}

type ctxKey struct{}

// NewContext returns ctx carrying r, for the code that allocates series
// values deep inside an evaluation.
func NewContext(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// FromContext returns the Request ctx carries, nil if none (a nil Request
// accepts every charge).
func FromContext(ctx context.Context) *Request {
	r, _ := ctx.Value(ctxKey{}).(*Request)
	return r
}

// Charge charges n points to the Request ctx carries, if any.
func Charge(ctx context.Context, n int64) error { return FromContext(ctx).Charge(ctx, n) }
