// Package input is the aggregator's udp input on every core: a group of
// sockets bound to one address with SO_REUSEPORT (the kernel spreads the
// senders over them by their address and port, so one sender's datagrams
// stay in order on one socket), each read by its own goroutine in batches
// of datagrams with recvmmsg.
package input

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// MaxDatagram is the size of each read buffer: the largest udp payload, so
// that no datagram is truncated.
const MaxDatagram = 65536

// UDPConfig tunes a UDP group.
type UDPConfig struct {
	Readers    int // sockets and reading goroutines; at least 1
	Batch      int // datagrams read per recvmmsg; at least 1
	ReadBuffer int // SO_RCVBUF of each socket, bytes; 0: the system's default
}

// Handler receives the datagrams of one read of reader i (0 ≤ i < Readers),
// from that reader's goroutine only. The slices are valid during the call.
type Handler func(reader int, datagrams [][]byte)

// UDP is a group of SO_REUSEPORT sockets and their readers.
type UDP struct {
	cfg   UDPConfig
	conns []*net.UDPConn
	wg    sync.WaitGroup

	closed atomic.Bool
	// Datagrams and Bytes count what the readers received; Truncated the
	// datagrams longer than MaxDatagram (cut, and handed over cut).
	Datagrams, Bytes, Truncated atomic.Uint64
	// ReadErrors counts failed reads (each retried), but those of Close.
	ReadErrors atomic.Uint64
	// perReader counts each reader's datagrams (each written by its reader
	// only, on its own cache line).
	perReader []readerCount
}

type readerCount struct {
	n atomic.Uint64
	_ [56]byte
}

// ReaderDatagrams returns how many datagrams each reader received: the
// kernel picks a socket by the sender's address and port, so few senders
// may leave readers idle.
func (u *UDP) ReaderDatagrams() []uint64 {
	out := make([]uint64, len(u.perReader))
	for i := range u.perReader {
		out[i] = u.perReader[i].n.Load()
	}
	return out
}

// ListenUDP binds cfg.Readers sockets to addr (host:port; port 0 picks one
// for all of them). Another process of the same user binding the same port
// with SO_REUSEPORT would share the datagrams: the port must be this
// process's.
func ListenUDP(addr string, cfg UDPConfig) (*UDP, error) {
	if cfg.Readers < 1 || cfg.Batch < 1 {
		return nil, fmt.Errorf("udp input %s: readers (%d) and batch (%d) must be at least 1", addr, cfg.Readers, cfg.Batch)
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
	u := &UDP{cfg: cfg}
	for i := 0; i < cfg.Readers; i++ {
		if i == 1 {
			addr = u.conns[0].LocalAddr().String() // the port the first one got
		}
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			u.closeConns()
			return nil, fmt.Errorf("cannot listen on udp %s (socket %d of %d): %w", addr, i+1, cfg.Readers, err)
		}
		c := pc.(*net.UDPConn)
		u.conns = append(u.conns, c)
		if cfg.ReadBuffer > 0 {
			if err := c.SetReadBuffer(cfg.ReadBuffer); err != nil {
				u.closeConns()
				return nil, fmt.Errorf("setting the receive buffer of udp %s to %d: %w", addr, cfg.ReadBuffer, err)
			}
		}
	}
	u.perReader = make([]readerCount, len(u.conns))
	return u, nil
}

// Addr returns the bound address.
func (u *UDP) Addr() net.Addr { return u.conns[0].LocalAddr() }

// Readers returns how many sockets (and readers) the group has.
func (u *UDP) Readers() int { return len(u.conns) }

// Serve starts a reader per socket, each calling h with the datagrams of
// each read, until Close.
func (u *UDP) Serve(h Handler) {
	for i, c := range u.conns {
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			u.read(i, c, h)
		}()
	}
}

func (u *UDP) read(i int, c *net.UDPConn, h Handler) {
	r, err := newBatchReader(c, u.cfg.Batch)
	if err != nil { // only if c is not a socket: it is
		u.ReadErrors.Add(1)
		return
	}
	for {
		datagrams, truncated, bytes, err := r.read()
		if err != nil {
			if u.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			u.ReadErrors.Add(1)
			continue
		}
		if truncated > 0 {
			u.Truncated.Add(uint64(truncated))
		}
		u.Datagrams.Add(uint64(len(datagrams)))
		u.perReader[i].n.Add(uint64(len(datagrams)))
		u.Bytes.Add(uint64(bytes))
		h(i, datagrams)
	}
}

// Close closes the sockets and waits for the readers, whose last call of
// the Handler has returned when Close does.
func (u *UDP) Close() error {
	if u.closed.Swap(true) {
		return nil
	}
	err := u.closeConns()
	u.wg.Wait()
	return err
}

func (u *UDP) closeConns() error {
	var errs []error
	for _, c := range u.conns {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
