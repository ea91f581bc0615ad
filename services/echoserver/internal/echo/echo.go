// Package echo is the echoserver's sink: it receives lines on any mix of
// listeners and echoes them, writes them to a file, or counts them, optionally
// totalling graphite values per key so tests can check exact sums.
package echo

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/pkg/line"
	"github.com/consthash/consthash/pkg/listener"
)

// Config says what the sink does with lines.
type Config struct {
	Servers       []endpoint.Endpoint
	Out           io.Writer // where lines are echoed; nil in count mode
	Sum           bool      // total graphite values per key
	Expect        uint64    // stop after this many lines in all (0: no limit)
	MaxLineLength int
}

// KeyTotal is the total of one key's graphite values.
type KeyTotal struct {
	Count uint64  `json:"count"`
	Sum   float64 `json:"sum"`
	Last  float64 `json:"last"`
}

// ListenerSummary is what one listener received.
type ListenerSummary struct {
	Listener string `json:"listener"`
	Addr     string `json:"addr"`
	Lines    uint64 `json:"lines"`
	Bytes    uint64 `json:"bytes"`
	TooLong  uint64 `json:"too_long"`
	Conns    uint64 `json:"connections"`
}

// Summary is the JSON the echoserver prints on exit.
type Summary struct {
	Lines     uint64               `json:"lines"`
	Bytes     uint64               `json:"bytes"`
	Seconds   float64              `json:"seconds"`
	Unparsed  uint64               `json:"unparsed,omitempty"` // with Sum: lines that are not graphite
	Listeners []ListenerSummary    `json:"listeners"`
	Keys      map[string]*KeyTotal `json:"keys,omitempty"`
}

// Sink owns the listeners.
type Sink struct {
	cfg       Config
	log       *slog.Logger
	listeners []*listener.Listener
	lines     atomic.Uint64
	done      chan struct{}
	doneOnce  sync.Once
	started   time.Time

	outMu sync.Mutex
	out   *bufio.Writer

	sumMu    sync.Mutex
	keys     map[string]*KeyTotal
	unparsed uint64
}

// New binds every listener.
func New(cfg Config, log *slog.Logger) (*Sink, error) {
	s := &Sink{cfg: cfg, log: log, done: make(chan struct{}), keys: map[string]*KeyTotal{}}
	if cfg.Out != nil {
		s.out = bufio.NewWriterSize(cfg.Out, 256<<10)
	}
	for _, ep := range cfg.Servers {
		l, err := listener.Listen(ep, listener.Config{MaxLineLength: cfg.MaxLineLength}, s.handle, log)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.listeners = append(s.listeners, l)
	}
	return s, nil
}

// Listeners returns the bound listeners, in the order of Config.Servers.
func (s *Sink) Listeners() []*listener.Listener { return s.listeners }

// Done is closed when Expect lines have arrived.
func (s *Sink) Done() <-chan struct{} { return s.done }

// Serve runs every listener until Close.
func (s *Sink) Serve() error {
	s.started = time.Now()
	errs := make(chan error, len(s.listeners))
	for _, l := range s.listeners {
		go func() { errs <- l.Serve() }()
	}
	var first error
	for range s.listeners {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Sink) handle(b []byte) bool {
	if s.out != nil {
		s.outMu.Lock()
		s.out.Write(b)
		s.out.WriteByte('\n')
		s.outMu.Unlock()
	}
	if s.cfg.Sum {
		var g line.Graphite
		err := line.ParseGraphite(b, &g)
		s.sumMu.Lock()
		if err != nil {
			s.unparsed++
		} else {
			kt := s.keys[string(g.Key)]
			if kt == nil {
				kt = &KeyTotal{}
				s.keys[string(g.Key)] = kt
			}
			kt.Count++
			kt.Sum += g.Value
			kt.Last = g.Value
		}
		s.sumMu.Unlock()
	}
	if n := s.lines.Add(1); s.cfg.Expect > 0 && n >= s.cfg.Expect {
		s.doneOnce.Do(func() { close(s.done) })
	}
	return true
}

// Flush writes out buffered echoed lines.
func (s *Sink) Flush() error {
	if s.out == nil {
		return nil
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	return s.out.Flush()
}

// Report writes one line per listener with its lines, lines/s since the last
// report and bytes.
func (s *Sink) Report(w io.Writer, prev []uint64, elapsed time.Duration) []uint64 {
	cur := make([]uint64, len(s.listeners))
	for i, l := range s.listeners {
		cur[i] = l.Lines.Load()
		var rate float64
		if i < len(prev) && elapsed > 0 {
			rate = float64(cur[i]-prev[i]) / elapsed.Seconds()
		}
		fmt.Fprintf(w, "%s lines=%d lines_per_sec=%.0f bytes=%d too_long=%d\n",
			l.Endpoint(), cur[i], rate, l.Bytes.Load(), l.TooLong.Load())
	}
	return cur
}

// Close stops every listener (handling what they already read) and flushes.
func (s *Sink) Close() error {
	var first error
	for _, l := range s.listeners {
		if err := l.Close(); err != nil && first == nil {
			first = err
		}
	}
	if err := s.Flush(); err != nil && first == nil {
		first = err
	}
	return first
}

// Summary returns what arrived so far.
func (s *Sink) Summary() Summary {
	sum := Summary{Lines: s.lines.Load(), Seconds: time.Since(s.started).Seconds()}
	for _, l := range s.listeners {
		ls := ListenerSummary{Listener: l.Endpoint().String(), Addr: l.Addr().String(), Lines: l.Lines.Load(),
			Bytes: l.Bytes.Load(), TooLong: l.TooLong.Load(), Conns: l.Connections.Load()}
		sum.Bytes += ls.Bytes
		sum.Listeners = append(sum.Listeners, ls)
	}
	if s.cfg.Sum {
		s.sumMu.Lock()
		sum.Keys = make(map[string]*KeyTotal, len(s.keys))
		for k, v := range s.keys {
			c := *v
			sum.Keys[k] = &c
		}
		sum.Unparsed = s.unparsed
		s.sumMu.Unlock()
	}
	return sum
}
