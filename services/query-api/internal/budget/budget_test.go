package budget

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRequestAllowance(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limit   int64
		charges []int64
		fail    int // index of the first charge that fails, -1: none
	}{
		{"within", 100, []int64{40, 60}, -1},
		{"past", 100, []int64{40, 61}, 1},
		{"one too big", 100, []int64{101}, 0},
		{"unlimited", 0, []int64{1 << 40}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := NewPool(1 << 50)
			r := NewRequest(pool, tc.limit)
			failed := -1
			for i, n := range tc.charges {
				if err := r.Charge(context.Background(), n); err != nil {
					var ex *ExceededError
					if !errors.As(err, &ex) || ex.Limit != tc.limit {
						t.Fatalf("charge %d: %v", i, err)
					}
					failed = i
					break
				}
			}
			if failed != tc.fail {
				t.Fatalf("first failed charge %d, want %d", failed, tc.fail)
			}
			if got, want := pool.InFlight(), r.Reserved(); got != want || r.Used() > want {
				t.Fatalf("pool holds %d, request reserved %d, used %d", got, want, r.Used())
			}
			r.Release()
			if pool.InFlight() != 0 || r.Used() != 0 {
				t.Fatalf("after release: pool %d request %d", pool.InFlight(), r.Used())
			}
		})
	}
}

func TestPoolWaitsThenTimesOut(t *testing.T) {
	pool := NewPool(100)
	a := NewRequest(pool, 80)
	if err := a.Charge(context.Background(), 80); err != nil {
		t.Fatal(err)
	}
	// b does not fit while a holds 80: it waits until its context ends.
	b := NewRequest(pool, 30)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.Charge(ctx, 30) }()
	waitFor(t, func() bool { return pool.Waits() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, ErrBusy) {
		t.Fatalf("b: %v", err)
	}
	if pool.Refused() != 1 || pool.InFlight() != 80 || b.Used() != 0 {
		t.Fatalf("refused %d, in flight %d, b holds %d", pool.Refused(), pool.InFlight(), b.Used())
	}
	// c waits too, and gets its points once a gives them back.
	c := NewRequest(pool, 30)
	go func() { errc <- c.Charge(context.Background(), 30) }()
	waitFor(t, func() bool { return pool.Waits() == 2 })
	a.Release()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if pool.InFlight() != 30 {
		t.Fatalf("in flight %d, want 30", pool.InFlight())
	}
	c.Release()
	// A charge larger than the pool can never fit: refused at once.
	var ex *ExceededError
	if err := NewRequest(pool, 0).Charge(context.Background(), 101); !errors.As(err, &ex) || ex.Limit != 100 {
		t.Fatalf("101 of 100: %v", err)
	}
}

func TestPoolServesInOrder(t *testing.T) {
	pool := NewPool(10)
	hold := NewRequest(pool, 5)
	if err := hold.Charge(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	big, small := NewRequest(pool, 8), NewRequest(pool, 2)
	bigc, smallc := make(chan error, 1), make(chan error, 1)
	go func() { bigc <- big.Charge(context.Background(), 8) }()
	waitFor(t, func() bool { return pool.Waits() == 1 })
	// small (2) would fit beside hold (5) but queues behind big.
	go func() { smallc <- small.Charge(context.Background(), 2) }()
	waitFor(t, func() bool { return pool.Waits() == 2 })
	if pool.InFlight() != 5 {
		t.Fatalf("in flight %d, want 5: small went ahead of big", pool.InFlight())
	}
	hold.Release()
	for _, c := range []chan error{bigc, smallc} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if pool.InFlight() != 10 {
		t.Fatalf("in flight %d, want 10", pool.InFlight())
	}
	big.Release()
	small.Release()
	if pool.InFlight() != 0 {
		t.Fatalf("in flight %d", pool.InFlight())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReservation checks a first charge reserves Growth times itself (up to
// the allowance), later charges use the reservation, then take more at once
// or fail at once: a request holding points never waits.
func TestReservation(t *testing.T) {
	ctx := context.Background()
	pool := NewPool(1000)
	r := NewRequest(pool, 500)
	if err := r.Charge(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if r.Reserved() != 100*Growth || pool.InFlight() != 100*Growth {
		t.Fatalf("reserved %d, in flight %d", r.Reserved(), pool.InFlight())
	}
	if err := r.Charge(ctx, 300); err != nil { // within the reservation
		t.Fatal(err)
	}
	if err := r.Charge(ctx, 50); err != nil { // past it: up to the allowance
		t.Fatal(err)
	}
	if r.Reserved() != 500 || r.Used() != 450 {
		t.Fatalf("reserved %d, used %d", r.Reserved(), r.Used())
	}
	// Another request fills the pool; r's next charge past its reservation
	// fails at once instead of waiting (its context never ends).
	other := NewRequest(pool, 500)
	if err := other.Charge(ctx, 500); err != nil {
		t.Fatal(err)
	}
	if err := r.Charge(ctx, 50); err != nil { // the last 50 of r's reservation
		t.Fatal(err)
	}
	var ex *ExceededError
	if err := r.Charge(ctx, 1); !errors.As(err, &ex) {
		t.Fatalf("past the allowance: %v", err)
	}
	unlimited := NewRequest(pool, 0)
	other.Release()
	if err := unlimited.Charge(ctx, 100); err != nil { // reserves 400 of the 500 left
		t.Fatal(err)
	}
	if err := unlimited.Charge(ctx, 400); err != nil { // 100 past: 400 do not fit, 100 do
		t.Fatal(err)
	}
	if unlimited.Reserved() != 500 || pool.InFlight() != 1000 {
		t.Fatalf("reserved %d, in flight %d", unlimited.Reserved(), pool.InFlight())
	}
	if err := unlimited.Charge(ctx, 1); !errors.Is(err, ErrBusy) {
		t.Fatalf("a holding request's charge with the pool full: %v", err)
	}
	r.Release()
	unlimited.Release()
	if pool.InFlight() != 0 {
		t.Fatalf("in flight %d", pool.InFlight())
	}
}
