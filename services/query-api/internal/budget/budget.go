// Package budget bounds the datapoints query-api holds. Each render has its
// own allowance (a Request) that every allocation of series values charges
// before it is made; every Request also draws its charges from one Pool
// shared by all renders, so the points in flight across concurrent requests
// stay under a configured total.
//
// A charge that would take a Request past its allowance fails at once. Only
// a Request's first charge waits for the Pool (first in, first out, until
// its context ends), and it reserves Growth times what it asked (up to the
// allowance) for what the request will compute from what it reads; a later
// charge past the reservation takes points at once if the Pool has them and
// fails otherwise. A request holding points never waits for another's, so
// requests cannot wait on each other with the Pool full of what they hold.
package budget

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Growth is how many times its first charge a Request reserves: the points
// read, then what functions and the answer make of them.
const Growth = 4

// ErrBusy is returned (wrapped) when a first charge waited for the Pool until
// its context ended, or a later one found the Pool full.
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
	refused atomic.Uint64 // charges refused: waited until their context ended, or found no room
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

// Refused is how many charges were refused for want of room: first ones
// that waited until their context ended, later ones that found none.
func (p *Pool) Refused() uint64 { return p.refused.Load() }

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
	p.refused.Add(1)
	return fmt.Errorf("%w: waited for %d points: %w", ErrBusy, n, context.Cause(ctx))
}

// tryAcquire takes n points if they fit now, ahead of the waiters: the
// request asking holds points and will give them back sooner for it.
func (p *Pool) tryAcquire(n int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used+n > p.max {
		return false
	}
	p.used += n
	return true
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
	pool     *Pool // nil: no shared pool
	limit    int64 // 0: no allowance of its own
	mu       sync.Mutex
	used     int64 // charged
	reserved int64 // taken from the pool, >= used
}

// NewRequest returns an allowance of limit points (0: unlimited) drawn from
// pool (nil: none).
func NewRequest(pool *Pool, limit int64) *Request { return &Request{pool: pool, limit: limit} }

// Charge accounts for n more points before they are allocated: an
// *ExceededError past the allowance; ErrBusy when the first charge found no
// room in the Pool before ctx ended, or a later one found none at once.
func (r *Request) Charge(ctx context.Context, n int64) error {
	if r == nil || n <= 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.limit > 0 && r.used+n > r.limit {
		return &ExceededError{Limit: r.limit, Want: r.used + n}
	}
	if r.pool == nil || r.used+n <= r.reserved {
		r.used += n
		return nil
	}
	need := r.used + n - r.reserved
	want := need * Growth
	if r.limit > 0 {
		want = min(want, r.limit-r.reserved)
	}
	want = max(need, min(want, r.pool.max))
	switch {
	case r.reserved == 0:
		if err := r.pool.acquire(ctx, want); err != nil {
			return err
		}
	case r.pool.tryAcquire(want):
	case want > need && r.pool.tryAcquire(need):
		want = need
	default:
		r.pool.refused.Add(1)
		return fmt.Errorf("%w: no room for %d more points", ErrBusy, need)
	}
	r.reserved += want
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

// Reserved is the points taken from the Pool so far (at least Used).
func (r *Request) Reserved() int64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reserved
}

// Release gives every point reserved back to the Pool; the Request can be
// charged again afterwards.
func (r *Request) Release() {
	if r == nil {
		return
	}
	r.mu.Lock()
	n := r.reserved
	r.used, r.reserved = 0, 0
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
