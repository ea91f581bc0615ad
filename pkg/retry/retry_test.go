package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestNextDoublesToMaxAndResets(t *testing.T) {
	b := Backoff{Min: 5 * time.Millisecond, Max: 30 * time.Millisecond}
	want := []time.Duration{5, 10, 20, 30, 30}
	for i, w := range want {
		if got := b.Next(); got != w*time.Millisecond {
			t.Fatalf("delay %d: %v, want %v", i, got, w*time.Millisecond)
		}
	}
	if !b.Failing() {
		t.Fatal("Failing after delays: false")
	}
	b.Reset()
	if b.Failing() || b.Next() != 5*time.Millisecond {
		t.Fatal("Reset did not start over at Min")
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	b := Backoff{Min: time.Hour, Max: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Wait(ctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait slept through its context's end")
	}
}

func TestWaitOrWakesAndResets(t *testing.T) {
	b := Backoff{Min: time.Hour, Max: time.Hour}
	wake := make(chan struct{})
	close(wake)
	if err := b.WaitOr(context.Background(), wake); err != nil || b.Failing() {
		t.Fatalf("WaitOr on a woken channel: err %v, failing %v; want nil and reset", err, b.Failing())
	}
}

func TestDoRetriesUntilSuccess(t *testing.T) {
	b := Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond}
	calls, fails := 0, 0
	err := Do(context.Background(), &b, func() error {
		if calls++; calls < 4 {
			return errors.New("not yet")
		}
		return nil
	}, func(error, int) { fails++ })
	if err != nil || calls != 4 || fails != 3 {
		t.Fatalf("Do: err %v after %d calls and %d failures; want nil, 4, 3", err, calls, fails)
	}
}

func TestDoGivesUpWithTheLastErrorWhenTheContextEnds(t *testing.T) {
	b := Backoff{Min: time.Millisecond, Max: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	boom := errors.New("storage down")
	calls := 0
	err := Do(ctx, &b, func() error {
		if calls++; calls == 3 {
			cancel()
		}
		return boom
	}, nil)
	if !errors.Is(err, boom) || calls != 3 {
		t.Fatalf("Do: %v after %d calls; want the try's error after 3", err, calls)
	}
}
