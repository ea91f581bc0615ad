// Package ratelog logs per-line problems at a bounded rate: bad lines are
// counted everywhere, but only a few per interval reach the log, with a count
// of those suppressed.
package ratelog

import (
	"log/slog"
	"sync"
	"time"
)

// Limiter lets at most Burst messages through per Interval.
type Limiter struct {
	log        *slog.Logger
	burst      int
	interval   time.Duration
	now        func() time.Time
	mu         sync.Mutex
	start      time.Time
	used       int
	suppressed int
}

// New returns a limiter writing to log.
func New(log *slog.Logger, burst int, interval time.Duration) *Limiter {
	return &Limiter{log: log, burst: burst, interval: interval, now: time.Now}
}

// Warn logs msg unless the interval's budget is spent. The first message of a
// new interval reports how many were suppressed in the last.
func (l *Limiter) Warn(msg string, args ...any) {
	l.mu.Lock()
	now := l.now()
	if now.Sub(l.start) >= l.interval {
		if l.suppressed > 0 {
			args = append(args, "suppressed_since_last", l.suppressed)
		}
		l.start, l.used, l.suppressed = now, 0, 0
	}
	if l.used >= l.burst {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.used++
	l.mu.Unlock()
	l.log.Warn(msg, args...)
}
