package outbound

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/pkg/testenv"
)

func chunk(lines ...string) Chunk {
	return Chunk{Data: []byte(strings.Join(lines, "\n") + "\n"), Lines: len(lines)}
}

func TestQueueBackpressureThenDropOldest(t *testing.T) {
	q := newQueue(4)
	if d := q.push(chunk("a", "b"), 0, true); d != 0 {
		t.Fatalf("dropped %d", d)
	}
	if d := q.push(chunk("c", "d"), 0, true); d != 0 {
		t.Fatalf("dropped %d", d)
	}
	// Full: a pop within the wait makes room, nothing is dropped.
	go func() {
		time.Sleep(20 * time.Millisecond)
		q.pop(nil, 1, false)
	}()
	start := time.Now()
	if d := q.push(chunk("e"), 5*time.Second, true); d != 0 {
		t.Fatalf("dropped %d though room was made", d)
	}
	if time.Since(start) < 10*time.Millisecond {
		t.Fatalf("push did not wait for room")
	}
	// Full again and nobody pops: after the wait the oldest chunk goes.
	if d := q.push(chunk("f", "g"), 10*time.Millisecond, true); d != 2 {
		t.Fatalf("dropped %d, want the oldest chunk's 2 lines", d)
	}
	got := q.pop(nil, 1<<20, false)
	var all []string
	for _, c := range got {
		all = append(all, strings.TrimSpace(string(c.Data)))
	}
	if strings.Join(all, "|") != "e|f\ng" {
		t.Fatalf("queue holds %q", all)
	}
	if l, b := q.depth(); l != 0 || b != 0 {
		t.Fatalf("depth %d %d after pop", l, b)
	}
}

func TestQueueNonBlockingWhenDown(t *testing.T) {
	q := newQueue(2)
	q.push(chunk("a", "b"), 0, false)
	start := time.Now()
	if d := q.push(chunk("c"), time.Hour, false); d != 2 {
		t.Fatalf("dropped %d, want 2", d)
	}
	if time.Since(start) > time.Second {
		t.Fatal("a non-blocking push waited")
	}
	if d := q.push(chunk("x", "y", "z"), 0, false); d != 3 {
		t.Fatalf("an oversized chunk: dropped %d, want 3", d)
	}
}

func TestQueuePushFrontKeepsOrder(t *testing.T) {
	q := newQueue(100)
	q.push(chunk("3"), 0, true)
	q.pushFront(chunk("2"))
	q.pushFront(chunk("1"))
	var got []string
	for _, c := range q.pop(nil, 1<<20, false) {
		got = append(got, strings.TrimSpace(string(c.Data)))
	}
	if strings.Join(got, "") != "123" {
		t.Fatalf("order %q", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testDest(t *testing.T, url string) *Destination {
	t.Helper()
	ep, err := endpoint.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	d := New(Config{Name: url, Endpoint: ep, QueueSize: 1_000_000, Connections: 2, BatchBytes: 4096,
		BackpressureWait: 10 * time.Second, WriteTimeout: 2 * time.Second, ConnectTimeout: time.Second}, slog.New(slog.DiscardHandler))
	d.Start()
	return d
}

func TestDestinationDeliversEverything(t *testing.T) {
	s := testenv.NewSink(t, "127.0.0.1:0")
	d := testDest(t, "tcp://"+s.Addr())
	const n = 50000
	for i := 0; i < n; i += 100 {
		var b strings.Builder
		for j := i; j < i+100; j++ {
			fmt.Fprintf(&b, "k%d %d 1\n", j, j)
		}
		d.Send(Chunk{Data: []byte(b.String()), Lines: 100})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all lines", func() bool { return s.Count() == n })
	if d.SentLines.Load() != n {
		t.Fatalf("sent %d, want %d", d.SentLines.Load(), n)
	}
}

// TestDestinationSurvivesRestart sends while the receiver goes away and comes
// back on the same address: every line arrives at least once, none is cut.
func TestDestinationSurvivesRestart(t *testing.T) {
	s := testenv.NewSink(t, "127.0.0.1:0")
	addr := s.Addr()
	d := testDest(t, "tcp://"+addr)
	send := func(from, to int) {
		for i := from; i < to; i++ {
			d.Send(chunk(fmt.Sprintf("k%d %d 1", i, i)))
		}
	}
	send(0, 1000)
	waitFor(t, "first lines", func() bool { return s.Count() == 1000 })
	s.Close()
	send(1000, 2000) // some of these fail and are retried
	time.Sleep(100 * time.Millisecond)
	s2 := testenv.NewSink(t, addr)
	send(2000, 3000)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	collect := func() {
		for _, srv := range []*testenv.Sink{s, s2} {
			for _, l := range srv.Lines() {
				if !strings.HasPrefix(l, "k") || len(strings.Fields(l)) != 3 {
					t.Errorf("cut line %q", l)
				}
				seen[l] = true
			}
		}
	}
	// Close returns once the sockets took everything; the sinks may still be
	// reading the last bytes.
	deadline := time.Now().Add(5 * time.Second)
	for collect(); len(seen) < 3000 && time.Now().Before(deadline); collect() {
		time.Sleep(10 * time.Millisecond)
	}
	for i := 0; i < 3000; i++ {
		if l := fmt.Sprintf("k%d %d 1", i, i); !seen[l] {
			t.Errorf("line %q never arrived (reconnects %d, errors %d)", l, d.Reconnects.Load(), d.WriteErrors.Load())
		}
	}
}

func TestDestinationUDPDatagramsEndOnLines(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ep, _ := endpoint.Parse("udp://" + pc.LocalAddr().String())
	d := New(Config{Name: "u", Endpoint: ep, QueueSize: 1000, BatchBytes: 64, WriteTimeout: time.Second, ConnectTimeout: time.Second}, slog.New(slog.DiscardHandler))
	d.Start()
	var lines []string
	for i := 0; i < 20; i++ {
		lines = append(lines, fmt.Sprintf("key.%02d:1|c", i))
	}
	d.Send(chunk(lines...))
	buf := make([]byte, 65536)
	var got []string
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < 20 {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d lines: %v", len(got), err)
		}
		if n > 64 || buf[n-1] != '\n' {
			t.Fatalf("datagram of %d bytes not ending in a newline: %q", n, buf[:n])
		}
		got = append(got, strings.Split(strings.TrimSpace(string(buf[:n])), "\n")...)
	}
	if strings.Join(got, ",") != strings.Join(lines, ",") {
		t.Fatalf("got %q", got)
	}
	d.Close(context.Background())
}

// One key's lines take one lane, and a lane is sent in order, so however
// the lanes' writers interleave, every key arrives in the order it was sent.
// The publisher sleeps a little at random so that lanes do overtake each
// other.
func TestLanesKeepEachKeysOrder(t *testing.T) {
	var mu sync.Mutex
	var got []string
	publish := func(data []byte) error {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		mu.Lock()
		got = append(got, strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")...)
		mu.Unlock()
		return nil
	}
	d := New(Config{Name: "lanes", Publish: publish, QueueSize: 1 << 20, Connections: 4, BatchBytes: 64}, slog.Default())
	if d.Lanes() != 4 {
		t.Fatalf("Lanes() = %d, want 4", d.Lanes())
	}
	d.Start()
	const keys, perKey = 41, 200 // 41: round robin would put a key on every lane
	used := map[int]bool{}
	for seq := range perKey {
		for k := range keys {
			key := fmt.Sprintf("k%d", k)
			lane := d.LaneOf([]byte(key))
			if lane != d.LaneOf([]byte(key)) {
				t.Fatal("LaneOf is not stable")
			}
			used[lane] = true
			d.SendLane(lane, chunk(fmt.Sprintf("%s %d", key, seq)))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(used) != 4 {
		t.Errorf("keys used lanes %v, want all 4", used)
	}
	if len(got) != keys*perKey {
		t.Fatalf("got %d lines, sent %d", len(got), keys*perKey)
	}
	last := map[string]int{}
	switches := 0
	prevLane := -1
	for _, l := range got {
		var key string
		var seq int
		fmt.Sscanf(l, "%s %d", &key, &seq)
		if prev, ok := last[key]; ok && seq != prev+1 {
			t.Fatalf("%s: %d after %d", key, seq, prev)
		} else if !ok && seq != 0 {
			t.Fatalf("%s starts at %d", key, seq)
		}
		last[key] = seq
		if lane := d.LaneOf([]byte(key)); lane != prevLane {
			switches++
			prevLane = lane
		}
	}
	if switches < 10 {
		t.Errorf("the lines switched lanes only %d times: too few for the lanes to have raced", switches)
	}
}

// TestLingerFillsBatches: with a Linger longer than the test, a Publish
// destination sends only full batches while lines keep coming (each of
// BatchBytes, in order), and Close sends the partial rest at once.
func TestLingerFillsBatches(t *testing.T) {
	var mu sync.Mutex
	var msgs []string
	publish := func(data []byte) error {
		mu.Lock()
		msgs = append(msgs, string(data))
		mu.Unlock()
		return nil
	}
	d := New(Config{Name: "linger", Publish: publish, QueueSize: 1 << 20, Connections: 1, BatchBytes: 1000,
		Linger: time.Hour}, slog.Default())
	d.Start()
	line := strings.Repeat("x", 98) // 99 bytes with its newline: 10 make a full batch of 990
	for i := range 55 {
		d.Send(chunk(fmt.Sprintf("%s%d", line[:98-len(fmt.Sprint(i))], i)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(msgs)
		mu.Unlock()
		if n == 5 {
			break
		}
		if n > 5 || time.Now().After(deadline) {
			t.Fatalf("%d messages while lingering, want the 5 full ones", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(msgs) != 6 {
		t.Fatalf("%d messages, want 5 full and the rest at Close", len(msgs))
	}
	all := strings.Join(msgs, "")
	for i, m := range msgs {
		want := 10
		if i == 5 {
			want = 5
		}
		if strings.Count(m, "\n") != want {
			t.Errorf("message %d has %d lines, want %d", i, strings.Count(m, "\n"), want)
		}
	}
	for i := range 55 {
		if !strings.Contains(all, fmt.Sprintf("x%d\n", i)) && !strings.HasPrefix(all, fmt.Sprintf("%d\n", i)) {
			t.Errorf("line %d missing", i)
		}
	}
}

// TestAckedPublishRetriesSameSeq: a batch not acknowledged is sent again
// under the same lane and sequence number, the next batch only once it is;
// the receiver, dropping copies by (lane, seq), gets every line once.
func TestAckedPublishRetriesSameSeq(t *testing.T) {
	var mu sync.Mutex
	last := map[int]uint64{} // lane -> highest seq taken
	got := map[string]int{}  // line -> times taken
	attempts := 0
	d := New(Config{Name: "acked", QueueSize: 100_000, Connections: 2, BatchBytes: 128, BackpressureWait: 10 * time.Second,
		PublishAcked: func(ctx context.Context, lane int, seq uint64, data []byte) error {
			mu.Lock()
			defer mu.Unlock()
			attempts++
			if seq < last[lane] {
				t.Errorf("lane %d sent seq %d after %d was taken", lane, seq, last[lane])
			}
			if seq > last[lane]+1 {
				t.Errorf("lane %d sent seq %d before %d was acknowledged", lane, seq, last[lane]+1)
			}
			if seq > last[lane] {
				last[lane] = seq
				for _, l := range strings.SplitAfter(string(data), "\n") {
					if l != "" {
						got[l]++
					}
				}
			}
			switch attempts % 3 {
			case 1: // lost before the receiver: not taken either
				if seq == last[lane] {
					last[lane]--
					for _, l := range strings.SplitAfter(string(data), "\n") {
						if l != "" {
							got[l]--
						}
					}
				}
				return fmt.Errorf("no responders")
			case 2: // taken, but the acknowledgement is lost
				return context.DeadlineExceeded
			}
			return nil
		}}, slog.New(slog.DiscardHandler))
	d.Start()
	const n = 300 // retries back off from 50 ms: a few dozen batches
	for i := range n {
		d.SendLane(i%2, chunk(fmt.Sprintf("k%d 1 1", i)))
	}
	waitFor(t, "every line acknowledged", func() bool { return d.SentLines.Load() == n })
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Fatalf("%d distinct lines taken, want %d", len(got), n)
	}
	for l, c := range got {
		if c != 1 {
			t.Fatalf("%q taken %d times", l, c)
		}
	}
	if r := d.PublishRetries.Load(); r == 0 || r != d.WriteErrors.Load() {
		t.Fatalf("publish retries %d, write errors %d: want equal and > 0", r, d.WriteErrors.Load())
	}
}

// TestAckedPublishSpoolsUnackedAtStop: a batch still unacknowledged when the
// destination stops is kept in the spool, not lost.
func TestAckedPublishSpoolsUnackedAtStop(t *testing.T) {
	sp, err := OpenSpool(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	d := New(Config{Name: "never-acked", QueueSize: 1000, Connections: 1, BatchBytes: 1 << 20, Spool: sp,
		PublishAcked: func(ctx context.Context, lane int, seq uint64, data []byte) error {
			<-ctx.Done()
			return ctx.Err()
		}}, slog.New(slog.DiscardHandler))
	d.Start()
	d.Send(chunk("a 1 1", "b 2 2", "c 3 3"))
	waitFor(t, "the batch in flight", func() bool { l, _ := d.Queued(); return l == 3 && d.lanes[0].size() == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s, dc := d.Spooled.Load(), d.DroppedClosing.Load(); s != 3 || dc != 0 {
		t.Fatalf("spooled %d, dropped_closing %d; want 3, 0", s, dc)
	}
}
