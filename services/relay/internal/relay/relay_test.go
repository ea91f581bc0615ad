package relay

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/ring"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/relay/internal/config"
)

type sink = testenv.Sink

func newSink(t *testing.T, addr string) *sink { return testenv.NewSink(t, addr) }

func newSinkF(t testing.TB, addrs ...string) *sink {
	addr := "127.0.0.1:0"
	if len(addrs) > 0 {
		addr = addrs[0]
	}
	return testenv.NewSink(t, addr)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startRelay(t testing.TB, toml string) *Relay {
	t.Helper()
	cfg, err := config.Parse("test.toml", toml)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(func() {
		// Lines for a destination that stays down never leave: do not wait long.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		r.Close(ctx)
	})
	return r
}

func send(t *testing.T, addr net.Addr, lines []string) {
	t.Helper()
	c, err := net.Dial(addr.Network(), addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := bufio.NewWriter(c)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func quoteList(ss ...string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// TestHashedClustersRouteAsTheRingSays sends lines through a relay for each
// ring algorithm and checks that every line reached exactly the members the
// ring picks, and nothing was lost.
func TestHashedClustersRouteAsTheRingSays(t *testing.T) {
	for _, algo := range []ring.Algorithm{ring.CarbonPy, ring.CarbonC, ring.FNV1aC, ring.JumpFNV1aC, ring.Statsd, ring.Murmur3} {
		t.Run(string(algo), func(t *testing.T) {
			sinks := []*sink{newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0")}
			var servers []string
			for i, s := range sinks {
				servers = append(servers, fmt.Sprintf("tcp://%s=i%d", s.Addr(), i))
			}
			r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = %q
replication = 2
servers = %s
`, algo, quoteList(servers...)))
			var lines []string
			for i := 0; i < 3000; i++ {
				lines = append(lines, fmt.Sprintf("app.server%d.metric%d %d 1700000000", i%37, i, i))
			}
			send(t, r.ListenerAddrs("main")[0], lines)
			waitFor(t, "6000 deliveries", 10*time.Second, func() bool {
				n := 0
				for _, s := range sinks {
					n += len(s.Lines())
				}
				return n == 6000
			})
			var ms []ring.Member
			for i, s := range sinks {
				host, port, _ := net.SplitHostPort(s.Addr())
				var p int
				fmt.Sscan(port, &p)
				ms = append(ms, ring.Member{Host: host, Port: p, Instance: fmt.Sprintf("i%d", i)})
			}
			rg, err := ring.New(algo, ms, ring.Options{})
			if err != nil {
				t.Fatal(err)
			}
			at := map[string][]int{}
			for i, s := range sinks {
				for _, l := range s.Lines() {
					at[l] = append(at[l], i)
				}
			}
			for _, l := range lines {
				key := strings.Fields(l)[0]
				want := rg.GetN(nil, []byte(key), 2)
				got := at[l]
				if len(got) != 2 || !((got[0] == want[0] && got[1] == want[1]) || (got[0] == want[1] && got[1] == want[0])) {
					t.Fatalf("%q reached sinks %v, the ring says %v", key, got, want)
				}
			}
		})
	}
}

// TestRulesAndBadLines checks prefix, substring and regex rules, reject, the
// default cluster, and that a bad line is counted without hurting its
// neighbours.
func TestRulesAndBadLines(t *testing.T) {
	def, stats, other := newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0")
	r := startRelay(t, fmt.Sprintf(`
[sections.front]
listen = ["tcp://127.0.0.1:0"]
cluster = "failover"
servers = ["tcp://%s"]
  [[sections.front.rules]]
  substring = ".marvel"
  reject = true
  [[sections.front.rules]]
  prefix = "stats."
  backend = "stats"
  [[sections.front.rules]]
  regex = '^app\.[0-9]+\.'
  backend = "other"

[sections.stats]
listen = ["backend_only"]
cluster = "forward"
servers = ["tcp://%s"]

[sections.other]
listen = ["backend_only"]
cluster = "any_of"
servers = ["tcp://%s"]
`, def.Addr(), stats.Addr(), other.Addr()))
	send(t, r.ListenerAddrs("front")[0], []string{
		"stats.a 1 1", "es.marvel.x 1 1", "app.12.cpu 1 1", "app.x.cpu 1 1", "not a valid line at all", "stats.b NaN 1", "plain 2 2",
	})
	waitFor(t, "routed lines", 5*time.Second, func() bool {
		return len(def.Lines()) == 2 && len(stats.Lines()) == 1 && len(other.Lines()) == 1
	})
	// Two keys may take two lanes (connections): only each key's order is kept.
	if got := strings.Join(slices.Sorted(slices.Values(def.Lines())), "|"); got != "app.x.cpu 1 1|plain 2 2" {
		t.Errorf("default cluster got %q", got)
	}
	if got := strings.Join(stats.Lines(), "|"); got != "stats.a 1 1" {
		t.Errorf("stats got %q", got)
	}
	if got := strings.Join(other.Lines(), "|"); got != "app.12.cpu 1 1" {
		t.Errorf("other got %q", got)
	}
	st := r.Stats()["sections"].(map[string]any)["front"].(map[string]any)
	if st["lines_rejected"] != uint64(1) {
		t.Errorf("rejected = %v", st["lines_rejected"])
	}
	bad := st["lines_bad"].(map[string]uint64)
	if bad["fields"] != 1 || bad["non_finite"] != 1 {
		t.Errorf("bad lines by reason = %v", bad)
	}
}

func TestRuleNamingUnknownBackendFailsAtStart(t *testing.T) {
	_, err := config.Parse("relay.toml", `
[sections.front]
listen = ["tcp://127.0.0.1:0"]
cluster = "forward"
servers = ["tcp://127.0.0.1:1"]
  [[sections.front.rules]]
  prefix = "x."
  backend = "nope"
`)
	if err == nil || !strings.Contains(err.Error(), "relay.toml: sections.front.rules[0].backend: no section named \"nope\"") {
		t.Fatalf("want an error naming the file, rule and backend, got %v", err)
	}
}

// TestCRelaySectionRewritesAsCarbonCRelay checks that a carbon-c-relay ring
// forwards lines rewritten as carbon-c-relay does and hashes only the name
// before the tags.
func TestCRelaySectionRewritesAsCarbonCRelay(t *testing.T) {
	a, b := newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0")
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "fnv1a_ch"
servers = ["tcp://%s", "tcp://%s"]
`, a.Addr(), b.Addr()))
	send(t, r.ListenerAddrs("main")[0], []string{"..a..b. 1 2", "x.y;t=v 3 4"})
	waitFor(t, "2 lines", 5*time.Second, func() bool { return len(a.Lines())+len(b.Lines()) == 2 })
	all := strings.Join(append(a.Lines(), b.Lines()...), "|")
	if !strings.Contains(all, "a.b 1 2") || !strings.Contains(all, "x.y;t=v 3 4") {
		t.Fatalf("forwarded %q", all)
	}
}

// TestHealthRemovesAndRestoresAMember kills a member under load: it is
// removed, its keys go to the others, no line to a healthy member is lost,
// and it comes back when it listens again.
func TestHealthRemovesAndRestoresAMember(t *testing.T) {
	sinks := []*sink{newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0")}
	var servers []string
	for i, s := range sinks {
		servers = append(servers, fmt.Sprintf("tcp://%s=m%d", s.Addr(), i)) // carbon rings ignore the port
	}
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "carbon_ch"
servers = %s
health_interval = "50ms"
health_timeout = "200ms"
health_failures = 2
health_recovery = 2
`, quoteList(servers...)))
	addr := r.ListenerAddrs("main")[0]
	batch := func(tag string, n int) []string {
		var ls []string
		for i := 0; i < n; i++ {
			ls = append(ls, fmt.Sprintf("k.%s.%d %d 1700000000", tag, i, i))
		}
		return ls
	}
	send(t, addr, batch("before", 900))
	waitFor(t, "first batch", 5*time.Second, func() bool {
		return len(sinks[0].Lines())+len(sinks[1].Lines())+len(sinks[2].Lines()) == 900
	})
	dead := sinks[1]
	dead.Close()
	waitFor(t, "the dead member marked down", 5*time.Second, func() bool {
		return r.Servers()["main"].(map[string]any)["servers"].([]map[string]any)[1]["down"] == true
	})
	during := batch("during", 900)
	send(t, addr, during)
	waitFor(t, "lines while down", 5*time.Second, func() bool {
		n := 0
		for _, l := range append(sinks[0].Lines(), sinks[2].Lines()...) {
			if strings.HasPrefix(l, "k.during.") {
				n++
			}
		}
		return n == 900
	})
	revived := newSink(t, dead.Addr())
	waitFor(t, "the member back up", 5*time.Second, func() bool {
		return r.Servers()["main"].(map[string]any)["servers"].([]map[string]any)[1]["down"] == false
	})
	send(t, addr, batch("after", 900))
	waitFor(t, "lines after", 5*time.Second, func() bool {
		n := 0
		for _, s := range []*sink{sinks[0], revived, sinks[2]} {
			for _, l := range s.Lines() {
				if strings.HasPrefix(l, "k.after.") {
					n++
				}
			}
		}
		return n == 900
	})
	if len(revived.Lines()) == 0 {
		t.Fatal("the revived member receives nothing")
	}
}

// TestAddAndPurgeServer changes a ring at run time and checks /hashcheck's
// view follows it.
func TestAddAndPurgeServer(t *testing.T) {
	a, b := newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0")
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "murmur3"
servers = ["tcp://%s"]
`, a.Addr()))
	if err := r.AddServer("main", "tcp://"+b.Addr(), "", ""); err != nil {
		t.Fatal(err)
	}
	if err := r.AddServer("main", "tcp://"+b.Addr(), "", ""); err == nil {
		t.Fatal("adding a server twice: want an error")
	}
	var lines []string
	for i := 0; i < 500; i++ {
		lines = append(lines, fmt.Sprintf("m.%d 1 1", i))
	}
	send(t, r.ListenerAddrs("main")[0], lines)
	waitFor(t, "500 lines", 5*time.Second, func() bool { return len(a.Lines())+len(b.Lines()) == 500 })
	if len(a.Lines()) == 0 || len(b.Lines()) == 0 {
		t.Fatalf("lines not spread over both: %d and %d", len(a.Lines()), len(b.Lines()))
	}
	for _, l := range b.Lines() {
		key := strings.Fields(l)[0]
		hc := r.HashCheck(key)["main"].(map[string]any)["servers"].([]string)
		if len(hc) != 1 || hc[0] != "tcp://"+b.Addr() {
			t.Fatalf("hashcheck(%s) = %v, but it went to %s", key, hc, b.Addr())
		}
	}
	if err := r.PurgeServer("main", "tcp://"+a.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := r.PurgeServer("main", "tcp://"+b.Addr()); err == nil {
		t.Fatal("purging the last server: want an error")
	}
	if hc := r.HashCheck("m.1")["main"].(map[string]any)["servers"].([]string); len(hc) != 1 || hc[0] != "tcp://"+b.Addr() {
		t.Fatalf("after purge, hashcheck = %v", hc)
	}
}

// TestReloadUnderLoadLosesNothing swaps the configuration while lines flow:
// every line arrives.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	a, b := newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0")
	base := `
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "murmur3"
servers = %s
`
	r := startRelay(t, fmt.Sprintf(base, quoteList("tcp://"+a.Addr())))
	addr := r.ListenerAddrs("main")[0]
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 20000
	done := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(c)
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "r.%d %d 1\n", i, i)
			if i%1000 == 0 {
				w.Flush()
				time.Sleep(2 * time.Millisecond)
			}
		}
		done <- w.Flush()
	}()
	time.Sleep(10 * time.Millisecond)
	for i := 0; i < 3; i++ {
		servers := quoteList("tcp://"+a.Addr(), "tcp://"+b.Addr())
		if i%2 == 1 {
			servers = quoteList("tcp://" + a.Addr())
		}
		cfg, err := config.Parse("reload.toml", fmt.Sprintf(base, servers))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Sections["main"].Listen = []string{"tcp://127.0.0.1:0"}
		if err := r.Reload(cfg); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every line", 10*time.Second, func() bool { return len(a.Lines())+len(b.Lines()) == n })
}

// TestSpoolReplaysWhatCameWhileDown stops the only member: what arrives while
// it is down goes to the disk spool and is replayed, all of it, once it is back.
func TestSpoolReplaysWhatCameWhileDown(t *testing.T) {
	s := newSink(t, "127.0.0.1:0")
	spool := t.TempDir()
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "carbon_ch"
servers = ["tcp://%s"]
down_policy = "keep"
health_interval = "50ms"
health_failures = 2
health_recovery = 2
spool_dir = %q
spool_replay_rate = 50000
`, s.Addr(), spool))
	addr := r.ListenerAddrs("main")[0]
	lines := func(tag string, n int) []string {
		var ls []string
		for i := 0; i < n; i++ {
			ls = append(ls, fmt.Sprintf("sp.%s.%d %d 1700000000", tag, i, i))
		}
		return ls
	}
	send(t, addr, lines("before", 1000))
	waitFor(t, "first lines", 5*time.Second, func() bool { return len(s.Lines()) == 1000 })
	s.Close()
	isDown := func() bool {
		return r.Servers()["main"].(map[string]any)["servers"].([]map[string]any)[0]["down"] == true
	}
	waitFor(t, "member down", 5*time.Second, isDown)
	send(t, addr, lines("while", 5000))
	dest := r.Stats()["destinations"].(map[string]any)["tcp://"+s.Addr()].(map[string]any)
	waitFor(t, "lines spooled", 5*time.Second, func() bool {
		dest = r.Stats()["destinations"].(map[string]any)["tcp://"+s.Addr()].(map[string]any)
		return dest["spooled"].(uint64) == 5000
	})
	back := newSink(t, s.Addr())
	waitFor(t, "replayed lines", 10*time.Second, func() bool { return len(back.Lines()) == 5000 })
	seen := map[string]bool{}
	for _, l := range back.Lines() {
		seen[l] = true
	}
	for _, l := range lines("while", 5000) {
		if !seen[l] {
			t.Fatalf("%q was not replayed", l)
		}
	}
}

// TestSelfStatsAsStatsd checks that the relay reports its counters as statsd
// lines when [statsd] server is set.
func TestSelfStatsAsStatsd(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := newSink(t, "127.0.0.1:0")
	r := startRelay(t, fmt.Sprintf(`
[statsd]
server = "udp://%s"
prefix = "relay1"
interval = "50ms"
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "failover"
servers = ["tcp://%s"]
`, pc.LocalAddr(), s.Addr()))
	send(t, r.ListenerAddrs("main")[0], []string{"a 1 1", "b 2 2", "bad"})
	buf := make([]byte, 65536)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var all strings.Builder
	for !strings.Contains(all.String(), "relay1.section.main.lines_in:3|c") || !strings.Contains(all.String(), "relay1.section.main.lines_bad.fields:1|c") {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no self-metrics: %v; got %q", err, all.String())
		}
		all.Write(buf[:n])
	}
}

// TestKillUnderLoadLosesNothing streams lines continuously while one of three
// members dies and comes back. No line whose key belongs to a healthy member
// is lost; the dying member loses at most what sat unread in its own socket
// buffers when it closed (TCP has no application-level acknowledgement), and
// gets its keys back when it returns.
func TestKillUnderLoadLosesNothing(t *testing.T) {
	sinks := []*sink{newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0")}
	var servers []string
	for i, s := range sinks {
		servers = append(servers, fmt.Sprintf("tcp://%s=m%d", s.Addr(), i)) // carbon rings ignore the port
	}
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "carbon_c_ch"
servers = %s
health_interval = "50ms"
health_failures = 2
health_recovery = 2
`, quoteList(servers...)))
	c, err := net.Dial("tcp", r.ListenerAddrs("main")[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		w := bufio.NewWriter(c)
		i := 0
		for {
			select {
			case <-stop:
				w.Flush()
				sent <- i
				return
			default:
			}
			for j := 0; j < 100; j++ {
				fmt.Fprintf(w, "load.%d.x %d 1700000000\n", i, i)
				i++
			}
			w.Flush()
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	dead := sinks[2]
	dead.Close()
	waitFor(t, "member down", 5*time.Second, func() bool {
		return r.Servers()["main"].(map[string]any)["servers"].([]map[string]any)[2]["down"] == true
	})
	time.Sleep(200 * time.Millisecond)
	revived := newSink(t, dead.Addr())
	waitFor(t, "member up", 5*time.Second, func() bool {
		return r.Servers()["main"].(map[string]any)["servers"].([]map[string]any)[2]["down"] == false
	})
	time.Sleep(200 * time.Millisecond)
	close(stop)
	n := <-sent
	all := []*sink{sinks[0], sinks[1], dead, revived}
	seen := func() map[string]bool {
		m := map[string]bool{}
		for _, s := range all {
			for _, l := range s.Lines() {
				m[l] = true
			}
		}
		return m
	}
	var ms []ring.Member
	for i, s := range sinks {
		host, port, _ := net.SplitHostPort(s.Addr())
		var p int
		fmt.Sscan(port, &p)
		ms = append(ms, ring.Member{Host: host, Port: p, Instance: fmt.Sprintf("m%d", i)})
	}
	full, err := ring.New(ring.CarbonC, ms, ring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	healthyLine := func(i int) bool {
		return full.GetN(nil, []byte(fmt.Sprintf("load.%d.x", i)), 1)[0] != 2
	}
	healthy := 0
	for i := 0; i < n; i++ {
		if healthyLine(i) {
			healthy++
		}
	}
	waitFor(t, fmt.Sprintf("the %d lines of healthy members", healthy), 15*time.Second, func() bool {
		m := seen()
		for i := 0; i < n; i++ {
			if healthyLine(i) && !m[fmt.Sprintf("load.%d.x %d 1700000000", i, i)] {
				return false
			}
		}
		return true
	})
	m := seen()
	lost := 0
	for i := 0; i < n; i++ {
		if !m[fmt.Sprintf("load.%d.x %d 1700000000", i, i)] {
			lost++
		}
	}
	if len(revived.Lines()) == 0 {
		t.Fatal("the revived member received nothing after it came back")
	}
	t.Logf("%d lines across a kill and a return: none of the %d for healthy members lost; %d lost with the dying member's buffers; revived member got %d",
		n, healthy, lost, len(revived.Lines()))
}

// TestPassiveDetectionAndStatus checks that write failures alone (no active
// check target: a UDP-free unix destination whose check points nowhere) mark
// a member down, and that /ops/status turns unhealthy when a section has no
// live member.
func TestPassiveDetectionAndStatus(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "sink.sock")
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "failover"
servers = ["unix://%s"]
health_failures = 2
health_interval = "1h"
`, sock))
	if ok, _ := r.Healthy(); !ok {
		t.Fatal("unhealthy before any failure")
	}
	send(t, r.ListenerAddrs("main")[0], []string{"a 1 1", "b 2 2"})
	waitFor(t, "passive detection", 10*time.Second, func() bool { ok, _ := r.Healthy(); return !ok })
}

// TestHTTPAndUnixDestinationsAndHashKeys sends through an http and a unix
// destination, checked over http, with hashkeys naming ring identities.
func TestHTTPAndUnixDestinationsAndHashKeys(t *testing.T) {
	var mu sync.Mutex
	var posted []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet {
			return // health check
		}
		b, _ := io.ReadAll(req.Body)
		mu.Lock()
		posted = append(posted, strings.Split(strings.TrimSpace(string(b)), "\n")...)
		mu.Unlock()
	})}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(hl)
	defer srv.Close()
	sock := filepath.Join(t.TempDir(), "u.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var ulines []string
	go func() {
		for {
			c, err := ul.Accept()
			if err != nil {
				return
			}
			go func() {
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					mu.Lock()
					ulines = append(ulines, sc.Text())
					mu.Unlock()
				}
			}()
		}
	}()
	defer ul.Close()
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "carbon_ch"
servers = ["http://%s/lines", "unix://%s"]
check_servers = ["http://%s/health", ""]
hashkeys = ["('10.0.0.1', None)", "('10.0.0.2', None)"]
health_interval = "50ms"
`, hl.Addr(), sock, hl.Addr()))
	var lines []string
	for i := 0; i < 400; i++ {
		lines = append(lines, fmt.Sprintf("hk.%d %d 1", i, i))
	}
	send(t, r.ListenerAddrs("main")[0], lines)
	waitFor(t, "400 lines", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(posted)+len(ulines) == 400
	})
	// With those hashkeys the ring is carbon-relay.py's over 10.0.0.1 and 10.0.0.2.
	ref, err := ring.New(ring.CarbonPy, []ring.Member{{Host: "10.0.0.1", Port: 1}, {Host: "10.0.0.2", Port: 1}}, ring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range posted {
		if ref.GetN(nil, []byte(strings.Fields(l)[0]), 1)[0] != 0 {
			t.Fatalf("%q went to the http server, the reference ring says the other", l)
		}
	}
	if len(posted) == 0 || len(ulines) == 0 {
		t.Fatalf("one destination got nothing: http %d unix %d", len(posted), len(ulines))
	}
}
