package relay

import (
	"fmt"
	"io"
	"net"
	"testing"
)

// discard is a TCP server that reads and throws away everything.
func discard(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkSessionLine is the relay's hot path for one line: validate,
// extract the key, apply the rules, pick members on the ring (replication 2
// of 3) and batch per destination and lane. The writers send to sinks that
// discard; Flush runs as a reader would, every 64 KiB of input.
func BenchmarkSessionLine(b *testing.B) {
	for _, cluster := range []string{"carbon_ch", "carbon_c_ch", "fnv1a_ch", "murmur3"} {
		b.Run(cluster, func(b *testing.B) {
			r := startRelay(b, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = %q
replication = 2
servers = ["tcp://%s=a", "tcp://%s=b", "tcp://%s=c"]
[[sections.main.rules]]
prefix = "drop."
reject = true
`, cluster, discard(b), discard(b), discard(b)))
			lines := make([][]byte, 4096)
			size := 0
			for i := range lines {
				lines[i] = fmt.Appendf(nil, "app.server%d.cpu.metric%d %d.5 1700000000", i%37, i, i)
				size += len(lines[i]) + 1
			}
			s := r.newSession("main")(nil)
			b.SetBytes(int64(size / len(lines)))
			b.ReportAllocs()
			read := 0
			for i := 0; b.Loop(); i++ {
				l := lines[i%len(lines)]
				s.Line(l)
				if read += len(l) + 1; read >= 64<<10 {
					s.Flush()
					read = 0
				}
			}
			s.Close()
		})
	}
}
