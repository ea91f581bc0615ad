package par

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

func TestForRunsEveryStepOnceAndJoinsErrors(t *testing.T) {
	out := make([]int, 1000)
	var running, most atomic.Int64
	err := For(context.Background(), len(out), 4, func(i int) error {
		if n := running.Add(1); n > most.Load() {
			most.Store(n)
		}
		defer running.Add(-1)
		out[i] += i * i
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out {
		if v != i*i {
			t.Fatalf("step %d gave %d", i, v)
		}
	}
	if most.Load() > 4 {
		t.Errorf("%d steps ran at once, workers 4", most.Load())
	}
	bad := errors.New("bad")
	if err := For(context.Background(), 10, 3, func(i int) error {
		if i == 7 {
			return bad
		}
		return nil
	}); !errors.Is(err, bad) {
		t.Errorf("err = %v, want bad", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := For(ctx, 10, 2, func(int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}
