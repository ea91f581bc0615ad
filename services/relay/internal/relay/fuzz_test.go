package relay

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzRelayListeners sends arbitrary bytes to a relay over TCP and UDP, each
// followed by a valid line with a unique key: the relay must not crash and
// the valid line must arrive. Run longer with
// go test ./internal/relay -run '^$' -fuzz FuzzRelayListeners -fuzztime 60s
func FuzzRelayListeners(f *testing.F) {
	for _, s := range []string{
		"", "\n", "garbage", "a.b 1", "a.b NaN 1\n", "\x00\xff\xfe\n\r\n", strings.Repeat("x", 70000),
		"a;t 1 1\n", "..;;.. 1 1\n", "a b c d e f\n", "k 1 1700000000000000000000\n", "ü 1 1\n",
	} {
		f.Add([]byte(s))
	}
	sink := newSinkF(f)
	cfg := fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0", "udp://127.0.0.1:0"]
cluster = "fnv1a_ch"
max_line_length = 65536
servers = ["tcp://%s"]
`, sink.Addr())
	r := startRelay(f, cfg)
	addrs := r.ListenerAddrs("main")
	tcpAddr, udpAddr := addrs[0], addrs[1]
	var seq atomic.Int64
	f.Fuzz(func(t *testing.T, garbage []byte) {
		id := seq.Add(1)
		valid := fmt.Sprintf("fuzz.marker.%d %d 1700000000", id, id)
		c, err := net.Dial("tcp", tcpAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(append(append(garbage, '\n'), valid+"\n"...)); err != nil {
			t.Fatal(err)
		}
		c.Close()
		u, err := net.Dial("udp", udpAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		if len(garbage) < 60000 {
			u.Write(garbage)
		}
		uvalid := fmt.Sprintf("fuzz.udp.%d %d 1700000000", id, id)
		u.Write([]byte(uvalid + "\n"))
		u.Close()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := sink.Has(valid) && sink.Has(uvalid)
			if got {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %q the valid lines did not arrive (tcp %v, udp %v)", garbage, sink.Has(valid), sink.Has(uvalid))
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
}
