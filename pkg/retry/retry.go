// Package retry is the one back-off consthash's retry loops use: a delay
// that doubles from a minimum to a maximum, waited on a context so that a
// stopping service never sleeps through its shutdown.
package retry

import (
	"context"
	"time"
)

// Backoff is a doubling delay. The zero value is not useful: set Min and Max
// (Min ≤ Max, both positive). It is not safe for concurrent use; each retry
// loop owns one.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the delay before the next try: Min after a success (or at
// first), then twice the previous delay, at most Max.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else if b.cur *= 2; b.cur > b.Max {
		b.cur = b.Max
	}
	return b.cur
}

// Reset records a success: the next delay is Min again.
func (b *Backoff) Reset() { b.cur = 0 }

// Failing reports whether a delay was taken since the last Reset.
func (b *Backoff) Failing() bool { return b.cur != 0 }

// Wait sleeps for the next delay. It returns ctx's error at once if ctx ends
// first, and nil when the delay has passed.
func (b *Backoff) Wait(ctx context.Context) error { return b.WaitOr(ctx, nil) }

// WaitOr is Wait that also ends, with a Reset and nil, when wake fires: some
// other part saw the failed resource come back (a health check), so retry now.
// A nil wake never fires.
func (b *Backoff) WaitOr(ctx context.Context, wake <-chan struct{}) error {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-wake:
		b.Reset()
		return nil
	case <-t.C:
		return nil
	}
}

// Do calls try until it returns nil, waiting on b between failures, and
// gives up only when ctx ends: then it returns try's last error (or ctx's,
// if try never ran). Each failure is passed to onFail (nil: none) with the
// number of tries so far, for counting and rate-limited logging.
func Do(ctx context.Context, b *Backoff, try func() error, onFail func(err error, tries int)) error {
	b.Reset()
	var last error
	for tries := 1; ; tries++ {
		if err := ctx.Err(); err != nil {
			if last == nil {
				last = err
			}
			return last
		}
		if last = try(); last == nil {
			b.Reset()
			return nil
		}
		if onFail != nil {
			onFail(last, tries)
		}
		if b.Wait(ctx) != nil {
			return last
		}
	}
}
