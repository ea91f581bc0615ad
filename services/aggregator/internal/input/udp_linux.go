package input

import (
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchReader reads a socket's datagrams with recvmmsg(2) straight into its
// buffers: one system call per batch, no source address asked for or
// parsed, nothing allocated per read.
type batchReader struct {
	rc   syscall.RawConn
	hdrs []unix.Mmsghdr
	bufs [][]byte // each MaxDatagram long
	out  [][]byte

	// The last recvmmsg's result, set by readFn.
	n     int
	errno syscall.Errno
	// readFn is the one closure rc.Read calls (made once, so a read
	// allocates nothing).
	readFn func(fd uintptr) bool
}

func newBatchReader(c *net.UDPConn, batch int) (*batchReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &batchReader{rc: rc, hdrs: make([]unix.Mmsghdr, batch), bufs: make([][]byte, batch), out: make([][]byte, 0, batch)}
	iovs := make([]unix.Iovec, batch)
	buf := make([]byte, batch*MaxDatagram)
	for j := range r.hdrs {
		r.bufs[j] = buf[j*MaxDatagram : (j+1)*MaxDatagram : (j+1)*MaxDatagram]
		iovs[j].Base = &r.bufs[j][0]
		iovs[j].SetLen(MaxDatagram)
		r.hdrs[j].Hdr.Iov = &iovs[j]
		r.hdrs[j].Hdr.SetIovlen(1)
	}
	r.readFn = func(fd uintptr) bool {
		for {
			n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)),
				unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // nothing queued: wait in the poller
			}
			r.n, r.errno = int(n), e
			return true
		}
	}
	return r, nil
}

// read waits for datagrams and returns those of one recvmmsg (valid until
// the next read), how many of them were cut to MaxDatagram, and their bytes.
func (r *batchReader) read() (datagrams [][]byte, truncated, bytes int, err error) {
	for j := range r.hdrs {
		r.hdrs[j].Hdr.Flags = 0
	}
	if err := r.rc.Read(r.readFn); err != nil {
		return nil, 0, 0, err
	}
	if r.errno != 0 {
		return nil, 0, 0, r.errno
	}
	if r.n == 0 {
		return nil, 0, 0, errors.New("recvmmsg read no datagram")
	}
	r.out = r.out[:0]
	for j := range r.hdrs[:r.n] {
		h := &r.hdrs[j]
		if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
			truncated++
		}
		l := min(int(h.Len), MaxDatagram)
		r.out = append(r.out, r.bufs[j][:l])
		bytes += l
	}
	return r.out, truncated, bytes, nil
}
