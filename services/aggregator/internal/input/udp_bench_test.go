package input

import (
	"net"
	"strconv"
	"testing"

	"golang.org/x/net/ipv4"
)

// BenchmarkUDPRead is a reader's cost per datagram through a real socket:
// each round sends a burst of datagrams into the socket's buffer with the
// timer stopped, then times reading them all, 32 per read (the system call,
// the kernel's copy, the buffers). lines: metrics per datagram. "xnet" is
// golang.org/x/net's ReadBatch, which the reader used before: it asks for
// and parses every datagram's source address (an allocation each).
//
//	go test ./internal/input -run '^$' -bench UDPRead -benchmem
func BenchmarkUDPRead(b *testing.B) {
	for _, lines := range []int{1, 10} {
		for _, how := range []string{"recvmmsg", "xnet"} {
			b.Run("lines="+strconv.Itoa(lines)+"/"+how, func(b *testing.B) {
				u, err := ListenUDP("127.0.0.1:0", UDPConfig{Readers: 1, Batch: 32, ReadBuffer: 8 << 20})
				if err != nil {
					b.Fatal(err)
				}
				defer u.Close()
				var read func() int
				if how == "xnet" {
					read = xnetRead(u.conns[0], 32)
				} else {
					r, err := newBatchReader(u.conns[0], 32)
					if err != nil {
						b.Fatal(err)
					}
					read = func() int {
						ds, _, _, err := r.read()
						if err != nil {
							b.Fatal(err)
						}
						return len(ds)
					}
				}
				c, err := net.Dial("udp", u.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				var d []byte
				for i := range lines {
					d = append(d, "bench.key"+strconv.Itoa(i)+":1|c\n"...)
				}
				d = d[:len(d)-1]
				const burst = 2000 // well inside the receive buffer
				b.ResetTimer()
				for sent := 0; sent < b.N; {
					n := min(burst, b.N-sent)
					b.StopTimer()
					for range n {
						if _, err := c.Write(d); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
					for got := 0; got < n; {
						got += read()
					}
					sent += n
				}
			})
		}
	}
}

func xnetRead(c *net.UDPConn, batch int) func() int {
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, batch)
	buf := make([]byte, batch*MaxDatagram)
	for j := range msgs {
		msgs[j].Buffers = [][]byte{buf[j*MaxDatagram : (j+1)*MaxDatagram : (j+1)*MaxDatagram]}
	}
	return func() int {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			panic(err)
		}
		return n
	}
}
