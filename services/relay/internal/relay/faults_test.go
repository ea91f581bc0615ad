package relay

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// TestAllMembersDownLosesNothing stops every member of a cluster at the
// default down policy (remove_node) while lines keep coming, then brings
// them back: the relay holds what it reads while no member is up and
// delivers every line, exactly once, once they return. With queues too
// small for what comes while they are down, the senders are pushed back
// (their lines wait in the sockets) instead.
func TestAllMembersDownLosesNothing(t *testing.T) {
	for _, tc := range []struct{ name, extra string }{
		{"defaults", ""},
		{"backpressure", "queue_size = 200\nbatch_bytes = 512\n"},
	} {
		t.Run(tc.name, func(t *testing.T) { testAllMembersDown(t, tc.extra) })
	}
}

func testAllMembersDown(t *testing.T, extra string) {
	sinks := []*sink{newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0")}
	var servers []string
	for i, s := range sinks {
		servers = append(servers, fmt.Sprintf("tcp://%s=m%d", s.Addr(), i))
	}
	// Only the check period is shortened: everything else is the default.
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
servers = %s
health_interval = "50ms"
health_timeout = "200ms"
%s`, quoteList(servers...), extra))
	addr := r.ListenerAddrs("main")[0]
	next := 0
	lines := func(n int) []string {
		var ls []string
		for i := 0; i < n; i++ {
			ls = append(ls, fmt.Sprintf("down.%d.x %d 1700000000", next, next))
			next++
		}
		return ls
	}
	all := append([]*sink(nil), sinks...)
	count := func() (total int, seen map[string]int) {
		seen = map[string]int{}
		for _, s := range all {
			for _, l := range s.Lines() {
				seen[l]++
				total++
			}
		}
		return total, seen
	}
	send(t, addr, lines(1000))
	waitFor(t, "the first 1000 lines", 5*time.Second, func() bool { n, _ := count(); return n == 1000 })

	for _, s := range sinks {
		s.Close()
	}
	send(t, addr, lines(1000)) // before the checks notice
	members := func() []map[string]any { return r.Servers()["main"].(map[string]any)["servers"].([]map[string]any) }
	waitFor(t, "every member down", 5*time.Second, func() bool {
		for _, m := range members() {
			if m["down"] != true {
				return false
			}
		}
		return true
	})
	for range 20 { // about a second with no member up
		send(t, addr, lines(300))
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range sinks {
		all = append(all, newSink(t, s.Addr()))
	}
	waitFor(t, "every member up", 5*time.Second, func() bool {
		for _, m := range members() {
			if m["down"] != false {
				return false
			}
		}
		return true
	})
	send(t, addr, lines(1000))
	const want = 9000
	deadline := time.Now().Add(10 * time.Second)
	for n, _ := count(); n < want; n, _ = count() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out with %d of %d lines; relay stats %v", n, want, r.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	total, seen := count()
	for i := 0; i < want; i++ {
		if l := fmt.Sprintf("down.%d.x %d 1700000000", i, i); seen[l] != 1 {
			t.Errorf("%q arrived %d times", l, seen[l])
		}
	}
	if total != want {
		t.Errorf("%d lines arrived, want %d", total, want)
	}
	sec := r.Stats()["sections"].(map[string]any)["main"].(map[string]any)
	if sec["lines_unroutable"] != uint64(0) || sec["lines_routed"] != uint64(want) {
		t.Errorf("section stats %v", sec)
	}
}

// TestListenerLimitsFromConfig checks that a section's max_connections and
// idle_timeout reach its listener, and that /stats counts what they do.
func TestListenerLimitsFromConfig(t *testing.T) {
	s := newSink(t, "127.0.0.1:0")
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "failover"
servers = ["tcp://%s"]
max_connections = 1
idle_timeout = "200ms"
`, s.Addr()))
	addr := r.ListenerAddrs("main")[0].String()
	stats := func() map[string]any {
		return r.Stats()["listeners"].(map[string]any)["main|tcp://127.0.0.1:0"].(map[string]any)
	}
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	fmt.Fprintf(first, "a 1 1\n")
	waitFor(t, "the first line", 5*time.Second, func() bool { return s.Count() == 1 })
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	waitFor(t, "the second connection refused", 5*time.Second, func() bool { return stats()["refused"] == uint64(1) })
	// The first one sends nothing more: closed after 200 ms.
	waitFor(t, "the idle connection closed", 5*time.Second, func() bool { return stats()["idle_closed"] == uint64(1) })
	if _, err := first.Read(make([]byte, 1)); err == nil {
		t.Fatal("the idle connection is still open")
	}
	if ok, details := r.Healthy(); !ok {
		t.Fatalf("unhealthy: %v", details)
	}
}
