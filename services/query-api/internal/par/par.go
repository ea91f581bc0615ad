// Package par runs the steps of a loop side by side.
package par

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// For calls f(i) for i in [0, n) on at most workers goroutines and returns
// the errors joined, or ctx's error if it ended first. f writes its results
// by index, so their order is the loop's.
func For(ctx context.Context, n, workers int, f func(i int) error) error {
	if n == 1 {
		if err := f(0); err != nil {
			return err
		}
		return ctx.Err()
	}
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(1, workers), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				errs[i] = f(i)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}
