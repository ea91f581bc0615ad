// Package blast generates statsd or graphite lines deterministically and
// sends them to listeners, keeping the exact aggregates of what it sent so
// that end-to-end tests can compare a pipeline's output with its input.
package blast

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/consthash/consthash/pkg/endpoint"
)

// Type is what kind of lines to send.
type Type string

// The line types.
const (
	Statsd   Type = "statsd"
	Graphite Type = "graphite"
)

// Config describes a bounded run. Count and Duration bound it, whichever
// comes first; at least one must be set.
type Config struct {
	Servers     []endpoint.Endpoint
	Type        Type
	Forks       int           // senders, each with its own connection to every server (default 1)
	Count       uint64        // lines in all (split over forks)
	Duration    time.Duration // longest run
	Rate        time.Duration // pause between two sends of one fork (0: none)
	LinesPerSec int           // target lines per second over all forks (0: as fast as Rate allows)
	Buffer      int           // bytes per send; lines are never split (default 1400)
	Keys        int           // distinct keys (default 100)
	Seed        uint64        // PRNG seed; the same seed sends the same lines
	Prefix      string        // key prefix (default "statblast")
	Mix         Mix           // statsd type weights
	SampleRates bool          // statsd: counters and timers sometimes carry |@rate
	Cycle       bool          // each fork sends its keys in turn instead of at random: every key within Keys lines
	Replay      bool          // each fork renders its lines once (up to ReplayBytes) and writes them over and over
	ReplayBytes int           // Replay: bytes of lines a fork renders (default DefaultReplayBytes)
	Now         func() time.Time
}

// Mix weighs the statsd types: each key gets one type, in these proportions.
type Mix struct{ Counter, Timer, Gauge, Set int }

// DefaultMix is 4 counters to 2 timers to 1 gauge to 1 set.
var DefaultMix = Mix{Counter: 4, Timer: 2, Gauge: 1, Set: 1}

// ParseMix reads "c:4,ms:2,g:1,s:1".
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, part := range bytes.Split([]byte(s), []byte(",")) {
		kv := bytes.SplitN(bytes.TrimSpace(part), []byte(":"), 2)
		if len(kv) != 2 {
			return Mix{}, fmt.Errorf("mix %q: want type:weight pairs such as c:4,ms:2,g:1,s:1", s)
		}
		w, err := strconv.Atoi(string(kv[1]))
		if err != nil || w < 0 {
			return Mix{}, fmt.Errorf("mix %q: weight %q is not a non-negative integer", s, kv[1])
		}
		switch string(kv[0]) {
		case "c":
			m.Counter = w
		case "ms":
			m.Timer = w
		case "g":
			m.Gauge = w
		case "s":
			m.Set = w
		default:
			return Mix{}, fmt.Errorf("mix %q: unknown type %q (want c, ms, g or s)", s, kv[0])
		}
	}
	if m.Counter+m.Timer+m.Gauge+m.Set == 0 {
		return Mix{}, fmt.Errorf("mix %q: all weights are zero", s)
	}
	return m, nil
}

// Validate checks the configuration and fills in defaults.
func (c *Config) Validate() error {
	if len(c.Servers) == 0 {
		return fmt.Errorf("no servers")
	}
	if c.Type != Statsd && c.Type != Graphite {
		return fmt.Errorf("type %q: want statsd or graphite", c.Type)
	}
	if c.Count == 0 && c.Duration <= 0 {
		return fmt.Errorf("unbounded run: give a count or a duration")
	}
	if c.Forks <= 0 {
		c.Forks = 1
	}
	if c.Buffer <= 0 {
		c.Buffer = 1400
	}
	if c.Keys <= 0 {
		c.Keys = 100
	}
	if c.Keys < c.Forks {
		return fmt.Errorf("keys (%d) cannot be fewer than forks (%d): each key belongs to one fork", c.Keys, c.Forks)
	}
	if c.Prefix == "" {
		c.Prefix = "statblast"
	}
	if c.Mix == (Mix{}) {
		c.Mix = DefaultMix
	}
	if c.ReplayBytes < 0 {
		return fmt.Errorf("replay bytes (%d) cannot be negative", c.ReplayBytes)
	}
	if c.ReplayBytes == 0 {
		c.ReplayBytes = DefaultReplayBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// sender writes batches to one endpoint.
type sender interface {
	send(b []byte) error
	close() error
}

type connSender struct{ c net.Conn }

func (s connSender) send(b []byte) error {
	_, err := s.c.Write(b)
	return err
}
func (s connSender) close() error { return s.c.Close() }

type httpSender struct {
	url    string
	client *http.Client
}

func (s httpSender) send(b []byte) error {
	resp, err := s.client.Post(s.url, "text/plain", bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", s.url, resp.Status)
	}
	return nil
}
func (s httpSender) close() error { return nil }

func dial(ctx context.Context, ep endpoint.Endpoint) (sender, error) {
	if ep.Scheme == endpoint.HTTP {
		return httpSender{url: ep.URL(), client: &http.Client{Timeout: 30 * time.Second}}, nil
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, ep.Network(), ep.Addr)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", ep, err)
	}
	return connSender{c}, nil
}

// Result is what a run sent.
type Result struct {
	Lines      uint64        `json:"lines"`
	Bytes      uint64        `json:"bytes"`
	Sends      uint64        `json:"sends"`
	SendErrors uint64        `json:"send_errors"`
	Elapsed    time.Duration `json:"-"`
	Seconds    float64       `json:"seconds"`
	CPUSeconds float64       `json:"cpu_seconds"`      // the whole process's user and system time, key generation and rendering included
	SendCPU    float64       `json:"send_cpu_seconds"` // the process's user and system time from the first send on
	Expected   *Expected     `json:"-"`
}

// LinesPerSec is the send rate of the run.
func (r *Result) LinesPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Lines) / r.Elapsed.Seconds()
}

// Run sends lines until the count or duration is reached or ctx ends. Every
// line goes to every server.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	keys := newKeySet(cfg)
	results := make(chan forkResult, cfg.Forks)
	// The clock starts when every fork has connected (and rendered, with
	// Replay): the rate is the sending's.
	g := &gate{open: make(chan struct{})}
	g.ready.Add(cfg.Forks)
	for f := 0; f < cfg.Forks; f++ {
		quota := uint64(0)
		if cfg.Count > 0 {
			quota = cfg.Count / uint64(cfg.Forks)
			if uint64(f) < cfg.Count%uint64(cfg.Forks) {
				quota++
			}
		}
		go func() { results <- runFork(ctx, cfg, keys, f, quota, g) }()
	}
	g.ready.Wait()
	start, cpu := time.Now(), processCPU()
	close(g.open)
	res := &Result{Expected: newExpected(cfg.Type)}
	var firstErr error
	frs := make([]forkResult, cfg.Forks)
	for f := range frs {
		fr := <-results
		frs[f] = fr
		if fr.err != nil && firstErr == nil {
			firstErr = fr.err
		}
		res.Lines += fr.lines
		res.Bytes += fr.bytes
		res.Sends += fr.sends
		res.SendErrors += fr.sendErrors
	}
	res.Elapsed = time.Since(start)
	res.Seconds = res.Elapsed.Seconds()
	res.SendCPU = (processCPU() - cpu).Seconds()
	// Replay's expectations are worked out after the sending (and outside
	// SendCPU): they regenerate up to a pass of lines.
	for _, fr := range frs {
		if fr.replay != nil {
			fr.exp = fr.replay.expected(cfg, keys, fr.fork, fr.lines)
		}
		res.Expected.merge(fr.exp)
	}
	res.Expected.Lines = res.Lines
	res.CPUSeconds = processCPU().Seconds()
	return res, firstErr
}

// gate holds the forks until all are ready to send.
type gate struct {
	ready sync.WaitGroup
	open  chan struct{}
}

// processCPU is the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pace keeps a fork to its schedule of perFork lines a second (0: none) from
// started, having sent lines: it sleeps only when more than 1 ms ahead, as
// finer sleeps are not honoured. A fork behind its schedule catches up at full
// speed. Then it pauses cfg.Rate, if set.
func pace(ctx context.Context, cfg Config, started time.Time, lines uint64, perFork float64) {
	if perFork > 0 {
		due := started.Add(time.Duration(float64(lines) / perFork * float64(time.Second)))
		if ahead := time.Until(due); ahead > time.Millisecond {
			select {
			case <-ctx.Done():
			case <-time.After(ahead):
			}
		}
	}
	if cfg.Rate > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(cfg.Rate):
		}
	}
}

type forkResult struct {
	lines, bytes, sends, sendErrors uint64
	exp                             *Expected
	replay                          *replayBuf // Replay: exp is worked out from it by Run
	fork                            int
	err                             error
}

func runFork(ctx context.Context, cfg Config, keys *keySet, fork int, quota uint64, gt *gate) (fr forkResult) {
	fr.exp, fr.fork = newExpected(cfg.Type), fork
	senders := make([]sender, 0, len(cfg.Servers))
	ready := sync.OnceFunc(gt.ready.Done)
	defer ready()
	if cfg.Count > 0 && quota == 0 {
		return fr // fewer lines than forks: this fork has none to send
	}
	defer func() {
		for _, s := range senders {
			if err := s.close(); err != nil && fr.err == nil {
				fr.err = err
			}
		}
	}()
	for _, ep := range cfg.Servers {
		s, err := dial(ctx, ep)
		if err != nil {
			fr.err = err
			return fr
		}
		senders = append(senders, s)
	}
	var rb *replayBuf
	if cfg.Replay {
		rb = render(cfg, keys, fork, quota)
	}
	ready()
	<-gt.open
	started := time.Now()
	if rb != nil {
		rb.replay(ctx, cfg, senders, quota, started, &fr)
		fr.replay = rb
		return fr
	}
	g := newGenerator(cfg, keys, fork)
	buf := make([]byte, 0, cfg.Buffer+4096)
	perFork := float64(cfg.LinesPerSec) / float64(cfg.Forks)
	var ln []byte
	flush := func() bool {
		if len(buf) == 0 {
			return true
		}
		for _, s := range senders {
			fr.sends++
			if err := s.send(buf); err != nil {
				fr.sendErrors++
				if fr.err == nil {
					fr.err = err
				}
				return false
			}
		}
		fr.bytes += uint64(len(buf))
		buf = buf[:0]
		pace(ctx, cfg, started, fr.lines, perFork)
		return true
	}
	for quota == 0 || fr.lines < quota {
		if fr.lines%256 == 0 && ctx.Err() != nil {
			break
		}
		ln = g.next(ln[:0])
		if len(buf)+len(ln) > cfg.Buffer && len(buf) > 0 {
			if !flush() {
				return fr
			}
		}
		buf = append(buf, ln...)
		g.commit()
		fr.lines++
	}
	flush()
	g.export(fr.exp)
	return fr
}
