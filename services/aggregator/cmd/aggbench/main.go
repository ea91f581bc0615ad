// Command aggbench is bench/aggregator.sh's load and sink: it sends statsd
// counters, timers and gauges to a statsd server (udp) or to an aggregator's
// NATS shard subjects (as a relay publishes them) at rates stepping by a
// factor, and counts and sums what the server flushes to its graphite sink
// (which aggbench runs). A step is lossless when the flushed counter sums and
// timer counts equal what was sent, exactly, and every gauge's last flushed
// value is the last one sent. It prints a line per step and, last,
// "best <metrics/s>": the highest lossless rate before the first lossy step.
//
//	aggbench --target udp://127.0.0.1:8125 --sink 127.0.0.1:2003 --interval 1s
//	aggbench --target nats://127.0.0.1:4222 --shards 64 ...
//	aggbench --serve-nats 127.0.0.1:4222 --store /tmp/js   (a NATS server with JetStream, until killed)
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/net/ipv4"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/ring"
)

type options struct {
	target, sink, serveNATS, store string
	interval, step                 time.Duration
	start, factor, maxRate         float64
	perDatagram, keys, senders     int
	shards, natsBytes, natsWindow  int
	natsAcks                       bool
	prefix                         string
	pid                            int
}

func main() {
	var o options
	flag.StringVar(&o.target, "target", "udp://127.0.0.1:8125", "udp://host:port (statsd) or nats://host:port (shard subjects)")
	flag.StringVar(&o.sink, "sink", "127.0.0.1:2003", "graphite sink to listen on (the server's graphite output)")
	flag.StringVar(&o.serveNATS, "serve-nats", "", "only run a NATS server with JetStream on this address until killed")
	flag.StringVar(&o.store, "store", "", "JetStream store directory of --serve-nats")
	flag.DurationVar(&o.interval, "interval", time.Second, "the server's flush interval")
	flag.DurationVar(&o.step, "step", 2*time.Second, "how long each rate is sent")
	flag.Float64Var(&o.start, "start", 100_000, "first rate, metrics/s")
	flag.Float64Var(&o.factor, "factor", 1.25, "each step's rate is the previous one's times this")
	flag.Float64Var(&o.maxRate, "max", 20_000_000, "last rate, metrics/s")
	flag.IntVar(&o.perDatagram, "per-datagram", 10, "metrics per datagram (udp)")
	flag.IntVar(&o.keys, "keys", 3000, "distinct keys: half counters, 30% timers, 20% gauges")
	flag.IntVar(&o.senders, "senders", 2, "sending sockets (goroutines); each owns its keys")
	flag.IntVar(&o.shards, "shards", bus.DefaultShards, "nats: the aggregator's shard count")
	flag.IntVar(&o.natsBytes, "nats-bytes", 16<<10, "nats: bytes per message (the relay's batches)")
	flag.BoolVar(&o.natsAcks, "nats-acks", true, "nats: send each message as a request with a batch id and wait for the aggregator's answer, as a relay with nats_acks does")
	flag.IntVar(&o.natsWindow, "nats-window", 2*bus.DefaultShards, "nats-acks: requests in flight per sender (a relay has one per shard subject and pool connection)")
	flag.StringVar(&o.prefix, "prefix", "bench", "key prefix")
	flag.IntVar(&o.pid, "pid", 0, "the server's process id: each step prints the CPU time it used per metric sent")
	flag.Parse()
	if o.serveNATS != "" {
		if err := serveNATS(o.serveNATS, o.store); err != nil {
			fmt.Fprintln(os.Stderr, "aggbench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "aggbench:", err)
		os.Exit(1)
	}
}

func serveNATS(addr, store string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	p, _ := strconv.Atoi(port)
	s, err := server.NewServer(&server.Options{Host: host, Port: p, JetStream: true, StoreDir: store, NoLog: true, NoSigs: true,
		MaxPending: 256 << 20})
	if err != nil {
		return err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		return fmt.Errorf("nats server on %s not ready", addr)
	}
	fmt.Println("nats ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}

// sink sums the flushed lines of the keys under prefix.
type sink struct {
	mu       sync.Mutex
	counters float64            // sum of stats_counts.<prefix>.*
	timers   float64            // sum of stats.timers.<prefix>.*.count
	gauges   map[string]float64 // stats.gauges.<prefix>.<key> -> last value
	lines    int
	changed  time.Time
}

func (s *sink) serve(ln net.Listener, prefix string) {
	cp, tp, gp := "stats_counts."+prefix+".", "stats.timers."+prefix+".", "stats.gauges."+prefix+"."
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 3 {
					continue
				}
				v, err := strconv.ParseFloat(f[1], 64)
				if err != nil {
					continue
				}
				s.mu.Lock()
				s.lines++
				switch name := f[0]; {
				case strings.HasPrefix(name, cp):
					s.counters += v
					if v != 0 {
						s.changed = time.Now()
					}
				case strings.HasPrefix(name, tp) && strings.HasSuffix(name, ".count"):
					s.timers += v
					if v != 0 {
						s.changed = time.Now()
					}
				case strings.HasPrefix(name, gp):
					if s.gauges[name[len(gp):]] != v {
						s.changed = time.Now()
					}
					s.gauges[name[len(gp):]] = v
				}
				s.mu.Unlock()
			}
		}()
	}
}

// key kinds, by index: i%10 < 5 counter, < 8 timer, else gauge.
func kind(i int) byte {
	switch r := i % 10; {
	case r < 5:
		return 'c'
	case r < 8:
		return 't'
	}
	return 'g'
}

// expected is what one step sent.
type expected struct {
	counters, timers float64
	gauges           map[string]float64
	metrics          int
}

func run(o options) error {
	ln, err := net.Listen("tcp", o.sink)
	if err != nil {
		return fmt.Errorf("cannot listen for the sink on %s: %w", o.sink, err)
	}
	sk := &sink{gauges: map[string]float64{}}
	go sk.serve(ln, o.prefix)
	var send sender
	switch {
	case strings.HasPrefix(o.target, "udp://"):
		send, err = newUDPSender(strings.TrimPrefix(o.target, "udp://"), o)
	case strings.HasPrefix(o.target, "nats://"):
		send, err = newNATSSender(o.target, o)
	default:
		err = fmt.Errorf("--target %q: want udp:// or nats://", o.target)
	}
	if err != nil {
		return err
	}
	// The server is up once its first flush reaches the sink.
	for wait := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		sk.mu.Lock()
		n := sk.lines
		sk.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(wait) {
			return fmt.Errorf("nothing reached the sink on %s in 60s: is the server flushing to it?", o.sink)
		}
	}
	seq := 0.0
	best, bestServerNs, bestSenderNs := 0.0, 0.0, 0.0
	short := 0 // steps in a row where the sender fell short of the rate
	for rate := o.start; rate <= o.maxRate*1.0001; rate *= o.factor {
		sk.mu.Lock()
		c0, t0 := sk.counters, sk.timers
		sk.mu.Unlock()
		seq++
		cpu0, self0 := cpuTime(o.pid), cpuTime(os.Getpid())
		exp, took, sendErrs := send(rate, o.step, seq)
		selfCPU := cpuTime(os.Getpid()) - self0 // the senders', the sink's little share with it
		sk.mu.Lock()
		sk.changed = time.Now() // quiet from now on: nothing more comes
		sk.mu.Unlock()
		achieved := float64(exp.metrics) / took.Seconds()
		// Wait until everything sent has been flushed: the sums reach what was
		// sent, or nothing changed for 3 intervals.
		deadline := time.Now().Add(10*o.interval + 5*time.Second)
		var dc, dt float64
		gaugesOK := false
		for {
			time.Sleep(o.interval / 4)
			sk.mu.Lock()
			dc, dt = sk.counters-c0, sk.timers-t0
			gaugesOK = true
			for k, v := range exp.gauges {
				if sk.gauges[k] != v {
					gaugesOK = false
					break
				}
			}
			quiet := time.Since(sk.changed) > 3*o.interval
			sk.mu.Unlock()
			if (dc == exp.counters && dt == exp.timers && gaugesOK) || quiet || time.Now().After(deadline) {
				break
			}
		}
		lossless := dc == exp.counters && dt == exp.timers && gaugesOK
		cpu, serverNs := "", 0.0
		if o.pid > 0 {
			serverNs = float64(cpuTime(o.pid)-cpu0) / float64(exp.metrics)
			cpu = fmt.Sprintf(" server_cpu_ns_per_metric %.0f", serverNs)
		}
		senderNs := float64(selfCPU) / float64(exp.metrics)
		cpu += fmt.Sprintf(" sender_cpu_ns_per_metric %.0f", senderNs)
		loss := 1 - (dc+dt)/(exp.counters+exp.timers)
		fmt.Printf("step target %9.0f/s sent %9d metrics in %5.2fs = %9.0f/s  counters %.0f/%.0f timers %.0f/%.0f gauges %v send_errors %d loss %.4f%%%s  %s\n",
			rate, exp.metrics, took.Seconds(), achieved, dc, exp.counters, dt, exp.timers, okWord(gaugesOK), sendErrs,
			100*loss, cpu, map[bool]string{true: "LOSSLESS", false: "LOSSY"}[lossless])
		if !lossless {
			break
		}
		if achieved > best {
			best, bestServerNs, bestSenderNs = achieved, serverNs, senderNs
		}
		// A sender short of its target once may have been starved of CPU;
		// twice in a row, it is at its own limit.
		if achieved < rate*0.9 {
			if short++; short == 2 {
				fmt.Printf("the sender reached only %.0f of %.0f metrics/s twice in a row: stopping\n", achieved, rate)
				break
			}
		} else {
			short = 0
		}
	}
	fmt.Printf("best %.0f\n", math.Floor(best))
	// What the machine can carry at all: the sender shares its cores with
	// the server, and each metric costs both of them CPU.
	if best > 0 && bestServerNs > 0 {
		fmt.Printf("cpu at best: server_cpu_ns_per_metric %.0f sender_cpu_ns_per_metric %.0f\n", bestServerNs, bestSenderNs)
	}
	return nil
}

// cpuTime is the user and system CPU time process pid used so far, in ns
// (0 without a pid).
func cpuTime(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command's closing parenthesis: utime and stime are the
	// 12th and 13th, in clock ticks (USER_HZ, 100 on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return (u + st) * int64(10*time.Millisecond)
}

func okWord(b bool) string {
	if b {
		return "ok"
	}
	return "WRONG"
}

// sender sends at rate metrics/s for d and returns what it sent.
type sender func(rate float64, d time.Duration, seq float64) (expected, time.Duration, int)

// keyNames returns the keys of sender s (every senders-th key).
func keyNames(o options, s int) (names []string, kinds []byte) {
	for i := s; i < o.keys; i += o.senders {
		names = append(names, o.prefix+".k"+strconv.Itoa(i))
		kinds = append(kinds, kind(i))
	}
	return names, kinds
}

// gen appends one metric line for key j of a sender and records it.
type gen struct {
	names []string
	kinds []byte
	next  int
	n     int
	exp   expected
	seq   float64
	strip int // len(prefix + ".")
}

func (g *gen) line(b []byte) ([]byte, string) {
	j := g.next
	g.next = (g.next + 1) % len(g.names)
	g.n++
	name := g.names[j]
	b = append(b, name...)
	b = append(b, ':')
	switch g.kinds[j] {
	case 'c':
		v := g.n%5 + 1
		b = strconv.AppendInt(b, int64(v), 10)
		b = append(b, "|c\n"...)
		g.exp.counters += float64(v)
	case 't':
		b = strconv.AppendInt(b, int64(g.n%1000), 10)
		b = append(b, "|ms\n"...)
		g.exp.timers++
	default:
		v := g.seq*1e7 + float64(g.n)
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
		b = append(b, "|g\n"...)
		g.exp.gauges[name[g.strip:]] = v // as the sink names it
	}
	g.exp.metrics++
	return b, name
}

func merge(parts []expected) expected {
	out := expected{gauges: map[string]float64{}}
	for _, p := range parts {
		out.counters += p.counters
		out.timers += p.timers
		out.metrics += p.metrics
		for k, v := range p.gauges {
			out.gauges[k] = v
		}
	}
	return out
}

// pace calls batch(n) so that n datagrams in all are sent at perSec over d.
func pace(perSec float64, d time.Duration, batch func(n int) bool) {
	start := time.Now()
	sent := 0
	for {
		el := time.Since(start)
		if el >= d {
			return
		}
		due := int(perSec * el.Seconds())
		if due > sent {
			n := min(due-sent, 64)
			if !batch(n) {
				return
			}
			sent += n
			continue
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func newUDPSender(addr string, o options) (sender, error) {
	conns := make([]*ipv4.PacketConn, o.senders)
	for i := range conns {
		c, err := net.Dial("udp", addr)
		if err != nil {
			return nil, err
		}
		conns[i] = ipv4.NewPacketConn(c.(*net.UDPConn))
	}
	return func(rate float64, d time.Duration, seq float64) (expected, time.Duration, int) {
		parts := make([]expected, o.senders)
		var errs atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for s := range o.senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				names, kinds := keyNames(o, s)
				g := &gen{names: names, kinds: kinds, seq: seq, exp: expected{gauges: map[string]float64{}}, strip: len(o.prefix) + 1}
				msgs := make([]ipv4.Message, 64)
				bufs := make([][]byte, 64)
				pace(rate/float64(o.senders)/float64(o.perDatagram), d, func(n int) bool {
					for i := range n {
						b := bufs[i][:0]
						for range o.perDatagram {
							b, _ = g.line(b)
						}
						bufs[i] = b
						msgs[i].Buffers = [][]byte{b[:len(b)-1]} // no '\n' after the last line
					}
					for off := 0; off < n; {
						k, err := conns[s].WriteBatch(msgs[off:n], 0)
						if err != nil {
							errs.Add(1)
							time.Sleep(time.Millisecond)
							continue
						}
						off += k
					}
					return true
				})
				parts[s] = g.exp
			}()
		}
		wg.Wait()
		return merge(parts), time.Since(start), int(errs.Load())
	}, nil
}

func newNATSSender(url string, o options) (sender, error) {
	ncs := make([]*nats.Conn, o.senders)
	batchSeq := make([]uint64, o.senders) // each sender's last batch number, over the steps
	for i := range ncs {
		nc, err := nats.Connect(url, nats.Name("aggbench"), nats.ReconnectBufSize(64<<20))
		if err != nil {
			return nil, fmt.Errorf("cannot connect to %s: %w", url, err)
		}
		ncs[i] = nc
	}
	return func(rate float64, d time.Duration, seq float64) (expected, time.Duration, int) {
		parts := make([]expected, o.senders)
		var errs atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for s := range o.senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				names, kinds := keyNames(o, s)
				g := &gen{names: names, kinds: kinds, seq: seq, exp: expected{gauges: map[string]float64{}}, strip: len(o.prefix) + 1}
				// A buffer per shard, published when full, as a relay batches.
				bufs := make([][]byte, o.shards)
				shardOf := map[string]int{}
				for _, n := range names {
					shardOf[n] = ring.Shard([]byte(n), o.shards)
				}
				// With acks: each message a request under this sender's next
				// batch number, at most natsWindow unanswered.
				var inbox string
				var window chan struct{}
				var answered atomic.Int64
				published := int64(0)
				if o.natsAcks {
					inbox = nats.NewInbox()
					window = make(chan struct{}, o.natsWindow)
					sub, err := ncs[s].Subscribe(inbox, func(*nats.Msg) {
						answered.Add(1)
						<-window
					})
					if err != nil {
						errs.Add(1)
						return
					}
					defer sub.Unsubscribe()
				}
				publish := func(sh int) {
					m := nats.NewMsg(bus.LinesSubject(sh))
					m.Header.Set(bus.FormatHeader, "statsd")
					m.Data = bytes.Clone(bytes.TrimSuffix(bufs[sh], []byte{'\n'}))
					if o.natsAcks {
						window <- struct{}{}
						published++
						batchSeq[s]++
						m.Reply = inbox
						m.Header.Set(bus.BatchHeader, bus.BatchID(fmt.Sprintf("aggbench-%d-%d", os.Getpid(), s), batchSeq[s]))
					}
					if err := ncs[s].PublishMsg(m); err != nil {
						errs.Add(1)
					}
					bufs[sh] = bufs[sh][:0]
				}
				var line []byte
				pace(rate/float64(o.senders)/float64(o.perDatagram), d, func(n int) bool {
					for range n * o.perDatagram {
						var name string
						line, name = g.line(line[:0])
						sh := shardOf[name]
						bufs[sh] = append(bufs[sh], line...)
						if len(bufs[sh]) >= o.natsBytes {
							publish(sh)
						}
					}
					return true
				})
				for sh := range bufs {
					if len(bufs[sh]) > 0 {
						publish(sh)
					}
				}
				if err := ncs[s].Flush(); err != nil {
					errs.Add(1)
				}
				// Sent means answered: wait for the last answers (the step's
				// time includes them); a missing one is a send error.
				for deadline := time.Now().Add(30 * time.Second); o.natsAcks && answered.Load() < published && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				if o.natsAcks {
					errs.Add(published - answered.Load())
				}
				parts[s] = g.exp
			}()
		}
		wg.Wait()
		return merge(parts), time.Since(start), int(errs.Load())
	}, nil
}
