package outbound

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/pkg/retry"
)

// Publisher sends a batch somewhere other than a socket (NATS).
type Publisher func(data []byte) error

// AckedPublisher sends a batch to a receiver that acknowledges it (a NATS
// request answered by the aggregator) and returns nil once it has. A lane
// sends its batches one at a time, numbered from 1 (seq); a batch not
// acknowledged (an error, a timeout) is sent again with the same lane and
// seq until it is, so a receiver that already took it can tell the copy and
// drop it. ctx ends when the destination stops.
type AckedPublisher func(ctx context.Context, lane int, seq uint64, data []byte) error

// Config describes one destination.
type Config struct {
	Name     string            // as configured, for logs and stats
	Endpoint endpoint.Endpoint // tcp, udp, unix or http; unused with Publish
	Publish  Publisher         // when set, batches go here instead of a socket
	// PublishAcked, when set, is used instead of Publish: at-least-once
	// delivery, each batch retried (with back-off) until acknowledged.
	PublishAcked AckedPublisher
	QueueSize    int // lines, over all lanes
	Connections  int // lanes: each a queue and a writer with its own connection
	BatchBytes   int // bytes per write (per datagram for udp, at most 65000)
	// Linger is how long a lane's writer, woken by lines, waits for its batch
	// to fill to BatchBytes before it sends what it has (0: at once). For
	// Publish destinations whose lanes see a few lines per read (NATS shard
	// subjects), it makes one message of many lines instead of one per read.
	Linger           time.Duration
	BackpressureWait time.Duration // how long Send blocks on a full queue before dropping the oldest
	WriteTimeout     time.Duration
	ConnectTimeout   time.Duration
	// OnResult, if set, is told of every write or connect attempt's outcome
	// (nil for success): passive health detection. SetOnResult replaces it.
	OnResult func(err error)
	// Release, if set, gets back each chunk's buffer once it is sent, for
	// reuse.
	Release func(buf []byte)
	// Spool, if set, takes the chunks sent while the destination is down;
	// they are replayed at ReplayRate lines per second once it is back.
	Spool      *Spool
	ReplayRate int
}

// Stats are a destination's counters; safe to read while it runs.
type Stats struct {
	SentLines      atomic.Uint64
	SentBytes      atomic.Uint64
	DroppedFull    atomic.Uint64 // lines dropped because the queue stayed full
	DroppedDown    atomic.Uint64 // lines dropped from a full queue while the destination was down
	DroppedClosing atomic.Uint64 // lines still queued when the stop deadline passed
	WriteErrors    atomic.Uint64
	Reconnects     atomic.Uint64
	Spooled        atomic.Uint64 // lines written to the spool
	Replayed       atomic.Uint64 // lines read back from the spool into the queue
	SpoolErrors    atomic.Uint64 // lines lost to spool write errors
	// PublishRetries counts batches sent again because an acknowledged
	// publish (PublishAcked) failed or was not acknowledged in time.
	PublishRetries atomic.Uint64
}

// Destination is a pool of lanes, each a bounded queue drained in order by
// its own connection. Lines that must stay in order (one key's) go to one
// lane (SendLane with LaneOf the key); order across lanes is not kept, as it
// cannot be across connections.
type Destination struct {
	Stats
	cfg      Config
	log      *slog.Logger
	lanes    []*queue
	next     atomic.Uint32 // Send's round robin
	down     atomic.Bool
	hold     atomic.Bool
	wakeMu   sync.Mutex
	wake     chan struct{} // closed when the destination comes back up: writers retry at once
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	client   *http.Client
	onResult atomic.Pointer[func(error)]
	closing  chan struct{} // closed when Close begins: lingering ends
	closeNow sync.Once
}

// SetOnResult replaces the function told of each write's outcome.
func (d *Destination) SetOnResult(f func(error)) { d.onResult.Store(&f) }

// New returns a destination; Start begins sending.
func New(cfg Config, log *slog.Logger) *Destination {
	if cfg.Connections <= 0 {
		cfg.Connections = 1
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 64 << 10
	}
	if cfg.Endpoint.Scheme == endpoint.UDP && cfg.BatchBytes > 65000 {
		cfg.BatchBytes = 65000
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Destination{cfg: cfg, log: log.With("destination", cfg.Name), ctx: ctx, cancel: cancel, wake: make(chan struct{}),
		closing: make(chan struct{})}
	per := max(1, (cfg.QueueSize+cfg.Connections-1)/cfg.Connections)
	for range cfg.Connections {
		d.lanes = append(d.lanes, newQueue(per))
	}
	if cfg.Endpoint.Scheme == endpoint.HTTP {
		d.client = &http.Client{Timeout: cfg.WriteTimeout}
	}
	if cfg.OnResult != nil {
		d.SetOnResult(cfg.OnResult)
	}
	return d
}

// Name returns the destination as configured.
func (d *Destination) Name() string { return d.cfg.Name }

// MaxChunk is the most bytes a Chunk sent here should hold.
func (d *Destination) MaxChunk() int { return d.cfg.BatchBytes }

// Lanes is the number of lanes (connections).
func (d *Destination) Lanes() int { return len(d.lanes) }

// LaneOf picks the lane of a key: the same key, the same lane. The hash is
// CRC-32C, unrelated to the rings' hashes, so the keys one ring member gets
// still spread over its lanes.
func (d *Destination) LaneOf(key []byte) int {
	if len(d.lanes) == 1 {
		return 0
	}
	return d.Lane(LaneHash(key))
}

// LaneHash is the hash LaneOf picks a lane by. A key sent to several
// destinations is hashed once: Lane(LaneHash(key)) is LaneOf(key).
func LaneHash(key []byte) uint32 { return crc32.Checksum(key, castagnoli) }

// Lane is the lane of a key whose LaneHash is h.
func (d *Destination) Lane(h uint32) int { return int(h % uint32(len(d.lanes))) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Start launches the writers (and the spool's replayer).
func (d *Destination) Start() {
	for i, q := range d.lanes {
		d.wg.Add(1)
		if d.cfg.PublishAcked != nil {
			go d.ackedWriter(q, i)
		} else {
			go d.writer(q)
		}
	}
	if d.cfg.Spool != nil {
		d.wg.Add(1)
		go d.replayer()
	}
}

// replayer moves spooled chunks back into the queue while the destination
// is up, at ReplayRate lines per second.
func (d *Destination) replayer() {
	defer d.wg.Done()
	rate := d.cfg.ReplayRate
	if rate <= 0 {
		rate = 100_000
	}
	for {
		if d.down.Load() || d.cfg.Spool.Bytes() == 0 {
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		c, ok, err := d.cfg.Spool.Next()
		if err != nil {
			d.log.Error("reading the spool", "err", err)
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		if !ok {
			continue
		}
		// Replayed lines keep their order: they all take the first lane.
		if dropped := d.lanes[0].push(c, d.cfg.BackpressureWait, true); dropped > 0 {
			d.DroppedFull.Add(uint64(dropped))
		}
		d.Replayed.Add(uint64(c.Lines))
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(time.Duration(float64(c.Lines) / float64(rate) * float64(time.Second))):
		}
	}
}

// SetDown marks the destination down (health checks failed) or up. While it
// is down (and not held, see SetHold), Send never blocks: a full queue drops
// its oldest lines. Coming back up wakes writers waiting to reconnect.
func (d *Destination) SetDown(down bool) {
	if was := d.down.Swap(down); was && !down {
		d.wakeMu.Lock()
		close(d.wake)
		d.wake = make(chan struct{})
		d.wakeMu.Unlock()
	}
}

// SetHold makes a down destination keep what it is sent as if it were up: a
// full queue makes senders wait (BackpressureWait) before it drops. The relay
// holds the destinations of a cluster none of whose members is up: there is
// nowhere else for their lines to go, and blocking the reader pushes back on
// the senders instead of losing lines.
func (d *Destination) SetHold(hold bool) { d.hold.Store(hold) }

// Held reports whether SetHold holds the destination.
func (d *Destination) Held() bool { return d.hold.Load() }

func (d *Destination) wakeC() <-chan struct{} {
	d.wakeMu.Lock()
	defer d.wakeMu.Unlock()
	return d.wake
}

// Down reports whether health checks marked the destination down.
func (d *Destination) Down() bool { return d.down.Load() }

// Send queues a chunk on the next lane, round robin: for lines whose order
// does not matter. The chunk's Data must not be modified afterwards.
func (d *Destination) Send(c Chunk) {
	d.SendLane(int(d.next.Add(1)%uint32(len(d.lanes))), c)
}

// SendLane queues a chunk on a lane (see LaneOf): the lane's writer sends its
// chunks in the order they were queued. The chunk's Data must not be
// modified afterwards.
func (d *Destination) SendLane(lane int, c Chunk) {
	down := d.down.Load()
	if down && d.cfg.Spool != nil {
		if err := d.cfg.Spool.Append(c); err != nil {
			d.SpoolErrors.Add(uint64(c.Lines))
			d.log.Error("writing the spool", "err", err)
		} else {
			d.Spooled.Add(uint64(c.Lines))
		}
		if d.cfg.Release != nil {
			d.cfg.Release(c.Data)
		}
		return
	}
	if dropped := d.lanes[lane].push(c, d.cfg.BackpressureWait, !down || d.hold.Load()); dropped > 0 {
		if d.ctx.Err() != nil {
			d.DroppedClosing.Add(uint64(dropped))
		} else if down {
			d.DroppedDown.Add(uint64(dropped))
		} else {
			d.DroppedFull.Add(uint64(dropped))
		}
	}
}

// Queued returns the lines and bytes waiting.
func (d *Destination) Queued() (lines, bytes int) {
	for _, q := range d.lanes {
		l, b := q.depth()
		lines, bytes = lines+l, bytes+b
	}
	return lines, bytes
}

// Close stops the writers once the queue is sent or ctx ends; what is left
// then is counted as dropped.
func (d *Destination) Close(ctx context.Context) error {
	d.closeNow.Do(func() { close(d.closing) })
	done := make(chan struct{})
	go func() {
		for {
			if l, _ := d.Queued(); l == 0 {
				break
			}
			select {
			case <-ctx.Done():
				close(done)
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		close(done)
	}()
	<-done
	d.cancel()
	d.wg.Wait()
	var lost int
	for _, q := range d.lanes {
		for _, c := range q.drain() {
			if d.cfg.Spool != nil && d.cfg.Spool.Append(c) == nil {
				d.Spooled.Add(uint64(c.Lines)) // kept for the next run
				continue
			}
			lost += c.Lines
		}
	}
	if d.cfg.Spool != nil {
		if err := d.cfg.Spool.Close(); err != nil {
			return fmt.Errorf("destination %s: closing its spool: %w", d.cfg.Name, err)
		}
	}
	if lost > 0 {
		d.DroppedClosing.Add(uint64(lost))
		return fmt.Errorf("destination %s: %d lines still queued at the stop deadline", d.cfg.Name, lost)
	}
	return nil
}

// writer drains one lane over one connection.
func (d *Destination) writer(q *queue) {
	defer d.wg.Done()
	var l link
	defer l.close()
	backoff := retry.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	var batch []Chunk
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-q.ready:
		}
		for {
			if d.cfg.Linger > 0 {
				d.linger(q)
			}
			batch = q.pop(batch[:0], d.cfg.BatchBytes, false)
			if len(batch) == 0 {
				break
			}
			wake := d.wakeC()
			err := d.deliver(q, &l, batch)
			d.report(err)
			if err == nil {
				backoff.Reset()
				continue
			}
			// A health check that sees it come back wakes the wait: retry now.
			if backoff.WaitOr(d.ctx, wake) != nil {
				return
			}
		}
	}
}

// ackedWriter drains one lane through PublishAcked: a batch at a time, each
// under the lane's next sequence number and sent again under that number
// until acknowledged, so a receiver can drop a copy it already took. The
// batch counts as queued until then. When the destination stops with a
// batch unacknowledged, it goes to the spool (a new number when replayed)
// or counts as dropped_closing.
func (d *Destination) ackedWriter(q *queue, lane int) {
	defer d.wg.Done()
	backoff := retry.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	var batch []Chunk
	var buf []byte
	var seq uint64
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-q.ready:
		}
		for {
			if d.cfg.Linger > 0 {
				d.linger(q)
			}
			batch = q.pop(batch[:0], d.cfg.BatchBytes, true)
			if len(batch) == 0 {
				break
			}
			seq++
			data, lines := batch[0].Data, batch[0].Lines
			if len(batch) > 1 {
				buf = buf[:0]
				for _, c := range batch[1:] {
					lines += c.Lines
				}
				for _, c := range batch {
					buf = append(buf, c.Data...)
				}
				data = buf
			}
			for {
				wake := d.wakeC()
				err := d.cfg.PublishAcked(d.ctx, lane, seq, data)
				if d.ctx.Err() != nil && err != nil {
					d.unsent(batch)
					q.landed()
					return
				}
				d.report(err)
				if err == nil {
					backoff.Reset()
					break
				}
				d.WriteErrors.Add(1)
				if backoff.WaitOr(d.ctx, wake) != nil {
					d.unsent(batch)
					q.landed()
					return
				}
				d.PublishRetries.Add(1)
			}
			d.SentLines.Add(uint64(lines))
			d.SentBytes.Add(uint64(len(data)))
			if d.cfg.Release != nil {
				for _, c := range batch {
					d.cfg.Release(c.Data)
				}
			}
			clear(batch)
			q.landed()
		}
	}
}

// unsent keeps a batch the destination stops without sending: in the spool
// when there is one, else counted as dropped_closing.
func (d *Destination) unsent(batch []Chunk) {
	for _, c := range batch {
		if d.cfg.Spool != nil && d.cfg.Spool.Append(c) == nil {
			d.Spooled.Add(uint64(c.Lines))
			continue
		}
		d.DroppedClosing.Add(uint64(c.Lines))
	}
}

// linger waits until q holds BatchBytes, Linger passes or the destination
// begins to close.
func (d *Destination) linger(q *queue) {
	t := time.NewTimer(d.cfg.Linger)
	defer t.Stop()
	for q.size() < d.cfg.BatchBytes {
		select {
		case <-q.ready: // more lines: look again
		case <-t.C:
			return
		case <-d.closing:
			return
		}
	}
}

func (d *Destination) report(err error) {
	if f := d.onResult.Load(); f != nil {
		(*f)(err)
	}
}

// link is a writer's connection, with what its writes reuse so that a batch
// allocates nothing.
type link struct {
	conn  net.Conn
	probe *probe      // checks the peer is still there before a write; nil: no check (udp)
	iov   [][]byte    // the backing array of each write's buffers
	wv    net.Buffers // the buffers being written: WriteTo consumes this slice, iov keeps the array
}

func (l *link) close() {
	if l.conn != nil {
		l.conn.Close()
		l.conn, l.probe = nil, nil
	}
}

// deliver writes batch. On failure it puts back what was not written, from
// the first line not wholly written, so nothing acknowledged by the socket is
// sent twice and nothing is lost.
func (d *Destination) deliver(q *queue, l *link, batch []Chunk) error {
	lines, size := 0, 0
	for _, c := range batch {
		lines += c.Lines
		size += len(c.Data)
	}
	var written int64
	var err error
	switch {
	case d.cfg.Publish != nil:
		err = d.publish(batch)
	case d.cfg.Endpoint.Scheme == endpoint.HTTP:
		err = d.post(batch)
	default:
		if l.conn != nil && !l.probe.alive() {
			// The peer closed: writing now would succeed into the kernel
			// buffer and be lost with the reset that follows.
			l.close()
		}
		if l.conn == nil {
			if l.conn, err = d.dial(); err != nil {
				d.requeue(q, batch, 0)
				return err
			}
			if d.cfg.Endpoint.Scheme != endpoint.UDP {
				l.probe = newProbe(l.conn)
			}
		}
		if d.cfg.Endpoint.Scheme == endpoint.UDP {
			written, err = d.writeDatagrams(l.conn, batch)
		} else {
			_ = l.conn.SetWriteDeadline(time.Now().Add(d.cfg.WriteTimeout))
			l.iov = l.iov[:0]
			for _, c := range batch {
				l.iov = append(l.iov, c.Data)
			}
			l.wv = l.iov
			written, err = l.wv.WriteTo(l.conn)
			clear(l.iov) // WriteTo nils what it wrote; drop the rest too, for the GC
			l.wv = nil
		}
		if err != nil {
			l.close()
		}
	}
	if err != nil {
		d.WriteErrors.Add(1)
		d.requeue(q, batch, written)
		return fmt.Errorf("sending to %s: %w", d.cfg.Name, err)
	}
	d.SentLines.Add(uint64(lines))
	d.SentBytes.Add(uint64(size))
	if d.cfg.Release != nil {
		for _, c := range batch {
			d.cfg.Release(c.Data)
		}
	}
	return nil
}

func (d *Destination) dial() (net.Conn, error) {
	c, err := net.DialTimeout(d.cfg.Endpoint.Network(), d.cfg.Endpoint.Addr, d.cfg.ConnectTimeout)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", d.cfg.Name, err)
	}
	d.Reconnects.Add(1)
	return c, nil
}

// writeDatagrams sends the batch as datagrams of at most BatchBytes, each
// ending on a line boundary.
func (d *Destination) writeDatagrams(c net.Conn, batch []Chunk) (int64, error) {
	var written int64
	for _, ch := range batch {
		data := ch.Data
		for len(data) > 0 {
			n := len(data)
			if n > d.cfg.BatchBytes {
				n = bytes.LastIndexByte(data[:d.cfg.BatchBytes], '\n') + 1
				if n == 0 { // one line longer than a datagram: send it alone
					n = bytes.IndexByte(data, '\n') + 1
					if n == 0 {
						n = len(data)
					}
				}
			}
			if _, err := c.Write(data[:n]); err != nil {
				return written, err
			}
			written += int64(n)
			data = data[n:]
		}
	}
	return written, nil
}

func (d *Destination) post(batch []Chunk) error {
	var body bytes.Buffer
	for _, c := range batch {
		body.Write(c.Data)
	}
	resp, err := d.client.Post(d.cfg.Endpoint.URL(), "text/plain", &body)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", d.cfg.Endpoint.URL(), resp.Status)
	}
	return nil
}

func (d *Destination) publish(batch []Chunk) error {
	if len(batch) == 1 {
		return d.cfg.Publish(batch[0].Data)
	}
	var b bytes.Buffer
	for _, c := range batch {
		b.Write(c.Data)
	}
	return d.cfg.Publish(b.Bytes())
}

// requeue puts back the part of batch after its first written bytes,
// starting at the first line not wholly written, in order.
func (d *Destination) requeue(q *queue, batch []Chunk, written int64) {
	var rest []Chunk
	for _, c := range batch {
		if written >= int64(len(c.Data)) {
			written -= int64(len(c.Data))
			continue
		}
		if written > 0 {
			// Keep from the start of the line the write stopped in.
			start := bytes.LastIndexByte(c.Data[:written], '\n') + 1
			c = Chunk{Data: c.Data[start:], Lines: bytes.Count(c.Data[start:], []byte{'\n'})}
			written = 0
		}
		rest = append(rest, c)
	}
	for i := len(rest) - 1; i >= 0; i-- {
		q.pushFront(rest[i])
	}
}

// probe tells whether a stream connection is still open for writing, by
// one non-blocking read on the socket: end of file or an error means the peer
// is gone; "would block" means it is open. (A read with an expired deadline
// would not do: Go answers it without asking the kernel.) Destinations never
// send us data, so a byte read is discarded. A probe is made once per
// connection, so checking allocates nothing.
type probe struct {
	rc   syscall.RawConn
	err  error // from SyscallConn: the connection is unusable
	open bool
	b    [1]byte
	read func(fd uintptr) bool
}

// newProbe returns the probe of c; nil (always alive) when c is no
// syscall.Conn.
func newProbe(c net.Conn) *probe {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	p := &probe{}
	p.rc, p.err = sc.SyscallConn()
	p.read = func(fd uintptr) bool {
		n, rerr := syscall.Read(int(fd), p.b[:])
		switch {
		case n > 0, rerr == syscall.EAGAIN, rerr == syscall.EINTR:
		default: // n == 0 is end of file; any other error is a dead socket
			p.open = false
		}
		return true // never wait for readability
	}
	return p
}

// alive reports whether the connection is still open (true for a nil probe).
func (p *probe) alive() bool {
	if p == nil {
		return true
	}
	if p.err != nil {
		return false
	}
	p.open = true
	err := p.rc.Read(p.read)
	return err == nil && p.open
}
