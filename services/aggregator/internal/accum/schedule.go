package accum

import "time"

// NextFlush returns the first wall-clock multiple of interval after now:
// flushes at t % interval == 0, computed afresh each time so they never drift.
func NextFlush(now time.Time, interval time.Duration) time.Time {
	return now.Truncate(interval).Add(interval)
}

// Clock is the time source of the flush loop, injectable in tests.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// After is time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Run calls flush(binEnd) at every multiple of interval until stop is
// closed. If a flush takes longer than the interval, the next due flush
// runs at once for its own boundary (no bin is skipped) and late reports by
// how much it ran behind.
func Run(c Clock, interval time.Duration, stop <-chan struct{}, flush func(binEnd time.Time), late func(behind time.Duration)) {
	next := NextFlush(c.Now(), interval)
	for {
		select {
		case <-stop:
			return
		default:
		}
		wait := next.Sub(c.Now())
		if wait > 0 {
			select {
			case <-stop:
				return
			case <-c.After(wait):
			}
		} else if behind := -wait; behind > 0 && late != nil {
			late(behind)
		}
		flush(next)
		next = next.Add(interval)
	}
}
