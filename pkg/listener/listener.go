// Package listener receives lines on a tcp, udp, unix or http endpoint and
// hands each to a Handler. Over-long lines are dropped and counted without
// ending the connection; a last line without a newline at EOF is kept.
package listener

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/pkg/httpserver"
	"github.com/consthash/consthash/pkg/line"
	"github.com/consthash/consthash/pkg/retry"
)

// Handler receives one line (without its newline); the slice is only valid
// during the call. It is called concurrently: from one goroutine per tcp or
// unix connection, one per udp listener, and one per http request. It returns
// false when it rejects the line, which http requests report back. A Handler
// that blocks stops the reading of that connection: that is how backpressure
// reaches senders.
type Handler func(line []byte) bool

// Session receives the lines of one connection (one datagram, one http
// request) from one goroutine. Flush is called whenever the reader is about
// to wait for more input and at the end, so a session that batches lines
// sends them then; Close follows the last Flush. For udp, Flush is called
// exactly once after each datagram, even one without lines, so a session can
// count datagrams.
type Session interface {
	Line(line []byte) bool
	Flush()
	Close()
}

// NewSession makes the Session of a new connection; peer is its remote
// address (nil for udp and unix).
type NewSession func(peer net.Addr) Session

type handlerSession Handler

func (h handlerSession) Line(b []byte) bool { return h(b) }
func (handlerSession) Flush()               {}
func (handlerSession) Close()               {}

// Config tunes a listener. Zero values mean the defaults.
type Config struct {
	MaxLineLength int // bytes, default line.DefaultMaxLength (32 KiB)
	UDPReadBuffer int // socket receive buffer for udp, bytes; default: the system's
	MaxBodyBytes  int64
	// MaxConnections bounds the open tcp/unix connections: one more is
	// accepted and closed at once (counted Refused), so it does not wait
	// unread in the kernel's backlog. 0: no bound (see
	// MaxConnectionsFromLimit for a default).
	MaxConnections int
	// IdleTimeout closes a tcp/unix connection that sends nothing for that
	// long (counted IdleClosed); 0: never.
	IdleTimeout time.Duration
	// HTTP limits an http listener's server; the zero value means
	// DefaultHTTP().
	HTTP httpserver.Config
	// Acceptors is how many tcp sockets are bound to the address with
	// SO_REUSEPORT, each with its own accept loop (the kernel spreads new
	// connections over them by address and port); 0 or 1: one socket.
	// Connections are read by a goroutine each whatever this is: it spreads
	// the accepting of many short connections over the cores. tcp only.
	Acceptors int
	// KeepCR splits lines on '\n' only and leaves a '\r' before it in the
	// line, as statsd 0.9.0 does (the '\r' is part of the line's last field).
	KeepCR bool
}

// DefaultHTTP returns the documented limits of an http listener
// (docs/relay.md): a body may take read_timeout to arrive, backpressure
// included, and write_timeout covers that and the reply.
func DefaultHTTP() httpserver.Config {
	return httpserver.Config{ReadHeaderTimeout: config.Duration(5 * time.Second), ReadTimeout: config.Duration(5 * time.Minute),
		WriteTimeout: config.Duration(6 * time.Minute), IdleTimeout: config.Duration(2 * time.Minute),
		MaxHeaderBytes: 64 << 10, MaxConcurrent: 256}
}

// Stats counts what a listener received. All fields are safe to read while it runs.
type Stats struct {
	Connections  atomic.Uint64 // tcp/unix connections accepted, http requests
	Lines        atomic.Uint64 // lines handed to the Handler (added once per read, before the session's Flush)
	Rejected     atomic.Uint64 // lines the Handler returned false for (likewise)
	Bytes        atomic.Uint64 // bytes read
	TooLong      atomic.Uint64 // lines dropped for exceeding MaxLineLength
	Refused      atomic.Uint64 // connections closed at once: MaxConnections were open
	IdleClosed   atomic.Uint64 // connections closed after IdleTimeout without data
	AcceptErrors atomic.Uint64 // failed accepts (each retried after a back-off)
}

// Accept errors (EMFILE, ENFILE, ENOBUFS...) are retried after a delay that
// doubles from acceptBackoffMin to acceptBackoffMax, as net/http does: the
// loop never gives up while the listener is open.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// MaxConnectionsFromLimit is a default bound for MaxConnections: the
// process's open-file limit (RLIMIT_NOFILE, soft) less a reserve of an eighth
// of it plus 32 for outbound connections, spool files and the admin server;
// at least 1. It returns 0 (no bound) when the limit is unknown or unlimited.
func MaxConnectionsFromLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<40 /* RLIM_INFINITY */ {
		return 0
	}
	n := int(rl.Cur)
	return max(1, n-n/8-32)
}

// Listener serves one endpoint.
type Listener struct {
	Stats
	ep  endpoint.Endpoint
	cfg Config
	ns  NewSession
	log *slog.Logger
	ln  net.Listener   // tcp, unix, http; lns[0] for tcp
	lns []net.Listener // tcp: the Acceptors SO_REUSEPORT sockets, or just ln
	// accepted counts the connections each of lns accepted.
	accepted []atomic.Uint64
	pc       net.PacketConn
	http     *httpserver.Server

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	closing atomic.Bool // set before Close cuts the readers' deadlines
	wg      sync.WaitGroup

	serving  atomic.Bool  // bound and Serve has not returned
	errUntil atomic.Int64 // unix ns: the accept loop is failing until at least then
	now      func() time.Time
	stop     context.Context // ended by Close
	cancel   context.CancelFunc
}

// Listen binds ep now, so an address in use is an error at start-up, and
// returns a Listener whose Serve hands every line to h.
func Listen(ep endpoint.Endpoint, cfg Config, h Handler, log *slog.Logger) (*Listener, error) {
	return ListenSessions(ep, cfg, func(net.Addr) Session { return handlerSession(h) }, log)
}

// ListenSessions is Listen with a Session per connection.
func ListenSessions(ep endpoint.Endpoint, cfg Config, ns NewSession, log *slog.Logger) (*Listener, error) {
	if cfg.MaxLineLength <= 0 {
		cfg.MaxLineLength = line.DefaultMaxLength
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 20
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Listener{ep: ep, cfg: cfg, ns: ns, log: log.With("listener", ep.String()), conns: map[net.Conn]struct{}{}, now: time.Now}
	l.stop, l.cancel = context.WithCancel(context.Background())
	var err error
	switch ep.Scheme {
	case endpoint.TCP:
		l.lns, err = listenTCP(ep.Addr, cfg.Acceptors)
		if err == nil {
			l.ln = l.lns[0]
			l.accepted = make([]atomic.Uint64, len(l.lns))
		}
	case endpoint.HTTP:
		l.ln, err = net.Listen("tcp", ep.Addr)
	case endpoint.Unix:
		if fi, statErr := os.Stat(ep.Addr); statErr == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(ep.Addr) // a stale socket from an earlier run
		}
		l.ln, err = net.Listen("unix", ep.Addr)
	case endpoint.UDP:
		l.pc, err = net.ListenPacket("udp", ep.Addr)
		if err == nil && cfg.UDPReadBuffer > 0 {
			if uc, ok := l.pc.(*net.UDPConn); ok {
				err = uc.SetReadBuffer(cfg.UDPReadBuffer)
			}
		}
	default:
		err = fmt.Errorf("unsupported scheme %q", ep.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", ep, err)
	}
	l.serving.Store(true) // bound: Serve is about to run; false once it returns
	if ep.Scheme == endpoint.HTTP {
		mux := http.NewServeMux()
		mux.HandleFunc(ep.Path, l.serveHTTP)
		if cfg.HTTP == (httpserver.Config{}) {
			cfg.HTTP = DefaultHTTP()
		}
		if err := cfg.HTTP.Validate(); err != nil {
			l.ln.Close()
			return nil, fmt.Errorf("http limits of %s: %w", ep, err)
		}
		l.cfg.HTTP = cfg.HTTP
		l.http = httpserver.New(cfg.HTTP, mux, l.log)
	}
	return l, nil
}

// Addr returns the bound address (useful with port 0).
func (l *Listener) Addr() net.Addr {
	if l.pc != nil {
		return l.pc.LocalAddr()
	}
	return l.ln.Addr()
}

// Sockets returns how many sockets the listener is bound with: Acceptors
// for tcp, else 1.
func (l *Listener) Sockets() int { return max(1, len(l.lns)) }

// HTTPServer returns an http listener's server, for its limits' counters;
// nil for the other schemes.
func (l *Listener) HTTPServer() *httpserver.Server { return l.http }

// Endpoint returns the endpoint the listener serves.
func (l *Listener) Endpoint() endpoint.Endpoint { return l.ep }

// Accepting reports whether the listener takes new connections: false when
// its Serve has returned, or its accept loop is failing (backing off after accept
// errors). Datagram and http listeners report whether they are serving.
func (l *Listener) Accepting() bool {
	return l.serving.Load() && l.now().UnixNano() >= l.errUntil.Load()
}

// Serve receives lines until Close. It returns nil after Close.
func (l *Listener) Serve() error {
	defer l.serving.Store(false)
	switch {
	case l.pc != nil:
		l.serveUDP()
		return nil
	case l.http != nil:
		if err := l.http.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving http on %s: %w", l.ep, err)
		}
		return nil
	}
	if len(l.lns) <= 1 {
		l.accept(l.ln, nil)
		return nil
	}
	var wg sync.WaitGroup
	for i, ln := range l.lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.accept(ln, &l.accepted[i])
		}()
	}
	wg.Wait()
	return nil
}

// accept runs one socket's accept loop until Close, counting the
// connections it accepts in n (if not nil).
func (l *Listener) accept(ln net.Listener, n *atomic.Uint64) {
	backoff := retry.Backoff{Min: acceptBackoffMin, Max: acceptBackoffMax}
	var lastLog time.Time
	for {
		c, err := ln.Accept()
		if err != nil {
			l.mu.Lock()
			closed := l.closed
			l.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: the connection stays in
			// the backlog; retry after a back-off instead of giving up (the
			// kernel would go on queueing clients nobody reads).
			l.AcceptErrors.Add(1)
			delay := backoff.Next()
			// Unhealthy until a retry has had the time to succeed.
			l.errUntil.Store(l.now().Add(2*delay + 100*time.Millisecond).UnixNano())
			if now := l.now(); now.Sub(lastLog) >= time.Second {
				lastLog = now
				l.log.Error("cannot accept a connection; retrying", "err", err, "retry_in", delay,
					"open_connections", l.openConns(), "accept_errors", l.AcceptErrors.Load())
			}
			select {
			case <-l.stop.Done():
			case <-time.After(delay):
			}
			continue
		}
		if backoff.Failing() {
			backoff.Reset()
			l.errUntil.Store(0)
			l.log.Info("accepting connections again")
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		if max := l.cfg.MaxConnections; max > 0 && len(l.conns) >= max {
			l.mu.Unlock()
			// Accept and close rather than leave it in the backlog, where
			// the client would believe it is connected and wait forever.
			c.Close()
			if n := l.Refused.Add(1); n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th...
				l.log.Warn("connection refused: max_connections reached", "max_connections", max,
					"peer", c.RemoteAddr().String(), "refused", n)
			}
			continue
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		idle := l.cfg.IdleTimeout
		l.mu.Unlock()
		l.Connections.Add(1)
		if n != nil {
			n.Add(1)
		}
		go l.serveConn(c, idle)
	}
}

func (l *Listener) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// SetLimits changes MaxConnections and IdleTimeout of a running listener
// (a reload): the bound applies to the next accept, the timeout to
// connections accepted from now on.
func (l *Listener) SetLimits(maxConns int, idle time.Duration) {
	l.mu.Lock()
	l.cfg.MaxConnections, l.cfg.IdleTimeout = maxConns, idle
	l.mu.Unlock()
}

func (l *Listener) serveConn(c net.Conn, idle time.Duration) {
	defer l.wg.Done()
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
		c.Close()
	}()
	sess := l.ns(c.RemoteAddr())
	defer sess.Close()
	var r interface{ Read([]byte) (int, error) } = c
	if idle > 0 {
		r = &idleReader{c: c, timeout: idle, closing: &l.closing}
	}
	s := line.NewScanner(countingReader{r, &l.Bytes}, l.cfg.MaxLineLength)
	s.KeepCR = l.cfg.KeepCR
	var t tally
	s.OnIdle(func() { t.publish(l); sess.Flush() })
	defer sess.Flush()
	defer t.publish(l)
	before := uint64(0)
	for s.Scan() {
		l.handle(sess, s.Bytes(), &t)
		if tl := s.TooLong(); tl != before {
			l.TooLong.Add(tl - before)
			before = tl
		}
	}
	if tl := s.TooLong(); tl != before {
		l.TooLong.Add(tl - before)
	}
	if err := s.Err(); err != nil && !isClosedErr(err) {
		l.log.Debug("connection read error", "peer", c.RemoteAddr().String(), "err", err)
	} else if err != nil && idle > 0 && !l.closing.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		l.IdleClosed.Add(1)
		l.log.Debug("idle connection closed", "peer", c.RemoteAddr().String(), "idle_timeout", idle)
	}
}

// idleReader moves a connection's read deadline IdleTimeout ahead before
// each read, unless the listener is closing: Close cuts the deadline to now
// to stop the readers, and must not be undone.
type idleReader struct {
	c       net.Conn
	timeout time.Duration
	closing *atomic.Bool
}

func (r *idleReader) Read(p []byte) (int, error) {
	if !r.closing.Load() {
		_ = r.c.SetReadDeadline(time.Now().Add(r.timeout))
		if r.closing.Load() { // Close ran meanwhile: its deadline may be overwritten
			_ = r.c.SetReadDeadline(time.Now())
		}
	}
	return r.c.Read(p)
}

// handle passes a line to the Handler. Empty lines are no metrics and no
// errors: they are skipped without counting.
func (l *Listener) handle(sess Session, b []byte, t *tally) bool {
	if len(b) == 0 {
		return true
	}
	t.lines++
	if !sess.Line(b) {
		t.rejected++
		return false
	}
	return true
}

// tally counts one reader's lines between two publishes to the listener's
// shared Stats: at each Flush of its session, and at its end. One atomic
// addition per read instead of one per line keeps the readers of many
// connections from contending for the counters' cache line.
type tally struct{ lines, rejected uint64 }

func (t *tally) publish(l *Listener) {
	if t.lines > 0 {
		l.Lines.Add(t.lines)
		t.lines = 0
	}
	if t.rejected > 0 {
		l.Rejected.Add(t.rejected)
		t.rejected = 0
	}
}

func (l *Listener) serveUDP() {
	buf := make([]byte, 65536)
	sess := l.ns(nil)
	defer sess.Close()
	for {
		n, _, err := l.pc.ReadFrom(buf)
		if err != nil {
			l.mu.Lock()
			closed := l.closed
			l.mu.Unlock()
			if closed || isClosedErr(err) {
				return
			}
			l.log.Warn("udp read error", "err", err)
			continue
		}
		l.Bytes.Add(uint64(n))
		next := line.Next
		if l.cfg.KeepCR {
			next = line.NextLF
		}
		var t tally
		for ln, rest, ok := next(buf[:n]); ok; ln, rest, ok = next(rest) {
			if len(ln) > l.cfg.MaxLineLength {
				l.TooLong.Add(1)
				continue
			}
			l.handle(sess, ln, &t)
		}
		t.publish(l)
		sess.Flush()
	}
}

// httpReply is the JSON body of the reply to a POST of lines.
type httpReply struct {
	Accepted uint64 `json:"accepted"`
	Rejected uint64 `json:"rejected"`
	TooLong  uint64 `json:"too_long"`
}

func (l *Listener) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "POST lines to this path", http.StatusMethodNotAllowed)
		return
	}
	l.Connections.Add(1)
	body := http.MaxBytesReader(w, r.Body, l.cfg.MaxBodyBytes)
	var peer net.Addr
	if a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		peer = a
	}
	sess := l.ns(peer)
	defer sess.Close()
	s := line.NewScanner(countingReader{body, &l.Bytes}, l.cfg.MaxLineLength)
	s.KeepCR = l.cfg.KeepCR
	var t tally
	s.OnIdle(func() { t.publish(l); sess.Flush() })
	var rep httpReply
	for s.Scan() {
		if len(s.Bytes()) == 0 {
			continue
		}
		if l.handle(sess, s.Bytes(), &t) {
			rep.Accepted++
		} else {
			rep.Rejected++
		}
	}
	t.publish(l)
	sess.Flush()
	rep.TooLong = s.TooLong()
	l.TooLong.Add(rep.TooLong)
	status := http.StatusOK
	if err := s.Err(); err != nil {
		status = http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(rep)
}

// Close stops accepting, closes open connections (lines already read are
// handled first), waits for them, and removes a unix socket file.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.closing.Store(true)
	l.mu.Unlock()
	l.cancel() // ends an accept back-off at once
	var err error
	switch {
	case l.pc != nil:
		err = l.pc.Close()
	case l.http != nil:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = l.http.Shutdown(ctx)
	default:
		lns := l.lns
		if len(lns) == 0 {
			lns = []net.Listener{l.ln}
		}
		var errs []error
		for _, ln := range lns {
			errs = append(errs, ln.Close())
		}
		err = errors.Join(errs...)
		l.mu.Lock()
		for c := range l.conns {
			// Unblock the reader; the scanner still hands out complete lines it holds.
			_ = c.SetReadDeadline(time.Now())
		}
		l.mu.Unlock()
	}
	l.wg.Wait()
	if l.ep.Scheme == endpoint.Unix {
		_ = os.Remove(l.ep.Addr)
	}
	return err
}

// listenTCP binds n (at least 1) tcp sockets to addr, with SO_REUSEPORT when
// n > 1; port 0 picks one port for all of them.
func listenTCP(addr string, n int) ([]net.Listener, error) {
	if n <= 1 {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		return []net.Listener{ln}, nil
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	var lns []net.Listener
	for i := range n {
		if i == 1 {
			addr = lns[0].Addr().String() // the port the first one got
		}
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("socket %d of %d: %w", i+1, n, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n *atomic.Uint64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}

func isClosedErr(err error) bool {
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout())
}
