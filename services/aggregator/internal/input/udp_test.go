package input

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestReadersReceiveEveryDatagram binds several SO_REUSEPORT readers to one
// port, sends from many sockets (the kernel spreads senders by address and
// port) and checks that every datagram arrived exactly once, whole, and that
// more than one reader took part.
func TestReadersReceiveEveryDatagram(t *testing.T) {
	for _, tc := range []struct {
		name           string
		readers, batch int
		senders, each  int
	}{
		{"1 reader", 1, 8, 4, 300},
		{"4 readers, batches of 16", 4, 16, 24, 300},
		{"3 readers, batches of 1", 3, 1, 12, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ListenUDP("127.0.0.1:0", UDPConfig{Readers: tc.readers, Batch: tc.batch, ReadBuffer: 4 << 20})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			got := map[string]int{}
			perReader := make([]int, tc.readers)
			u.Serve(func(i int, ds [][]byte) {
				mu.Lock()
				defer mu.Unlock()
				for _, d := range ds {
					got[string(d)]++
					perReader[i]++
				}
			})
			var wg sync.WaitGroup
			for s := range tc.senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.Dial("udp", u.Addr().String())
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					for i := range tc.each {
						if _, err := c.Write([]byte(fmt.Sprintf("sender%d.datagram%d:1|c", s, i))); err != nil {
							t.Error(err)
							return
						}
						if i%50 == 49 { // let the readers keep up: loss is not what this tests
							time.Sleep(time.Millisecond)
						}
					}
				}()
			}
			wg.Wait()
			want := tc.senders * tc.each
			deadline := time.Now().Add(10 * time.Second)
			for u.Datagrams.Load() < uint64(want) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if err := u.Close(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != want || u.Datagrams.Load() != uint64(want) {
				t.Fatalf("received %d distinct datagrams (%d in all), want %d", len(got), u.Datagrams.Load(), want)
			}
			for s := range tc.senders {
				for i := range tc.each {
					if k := "sender" + strconv.Itoa(s) + ".datagram" + strconv.Itoa(i) + ":1|c"; got[k] != 1 {
						t.Fatalf("%q received %d times", k, got[k])
					}
				}
			}
			if byReader := u.ReaderDatagrams(); fmt.Sprint(byReader) != fmt.Sprint(toUint64(perReader)) {
				t.Errorf("ReaderDatagrams %v, handed over %v", byReader, perReader)
			}
			busy := 0
			for _, n := range perReader {
				if n > 0 {
					busy++
				}
			}
			if tc.readers > 1 && busy < 2 {
				t.Errorf("datagrams per reader %v: want more than one reader used", perReader)
			}
			if u.Truncated.Load() != 0 || u.ReadErrors.Load() != 0 {
				t.Errorf("truncated %d, read errors %d", u.Truncated.Load(), u.ReadErrors.Load())
			}
		})
	}
}

// TestListenUDPErrors: bad sizes and an address in use by a socket without
// SO_REUSEPORT are errors at start-up.
func TestListenUDPErrors(t *testing.T) {
	if _, err := ListenUDP("127.0.0.1:0", UDPConfig{Readers: 0, Batch: 1}); err == nil {
		t.Error("0 readers: no error")
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if u, err := ListenUDP(pc.LocalAddr().String(), UDPConfig{Readers: 2, Batch: 4}); err == nil {
		u.Close()
		t.Error("a port bound without SO_REUSEPORT: no error")
	}
}

func toUint64(ns []int) []uint64 {
	out := make([]uint64, len(ns))
	for i, n := range ns {
		out[i] = uint64(n)
	}
	return out
}
