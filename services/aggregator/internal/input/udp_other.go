//go:build !linux

package input

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// batchReader reads a socket's datagrams in batches through golang.org/x/net
// (one datagram per read where the system has no recvmmsg).
type batchReader struct {
	r interface {
		ReadBatch([]ipv4.Message, int) (int, error)
	}
	msgs []ipv4.Message
	out  [][]byte
}

type v6Reader struct{ pc *ipv6.PacketConn }

func (r v6Reader) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	return r.pc.ReadBatch(ms, flags)
}

func newBatchReader(c *net.UDPConn, batch int) (*batchReader, error) {
	r := &batchReader{r: ipv4.NewPacketConn(c), msgs: make([]ipv4.Message, batch), out: make([][]byte, 0, batch)}
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil && len(a.IP) == net.IPv6len {
		r.r = v6Reader{ipv6.NewPacketConn(c)}
	}
	buf := make([]byte, batch*MaxDatagram)
	for j := range r.msgs {
		r.msgs[j].Buffers = [][]byte{buf[j*MaxDatagram : (j+1)*MaxDatagram : (j+1)*MaxDatagram]}
	}
	return r, nil
}

func (r *batchReader) read() (datagrams [][]byte, truncated, bytes int, err error) {
	n, err := r.r.ReadBatch(r.msgs, 0)
	if err != nil {
		return nil, 0, 0, err
	}
	r.out = r.out[:0]
	for j := range r.msgs[:n] {
		m := &r.msgs[j]
		if m.Flags&unix.MSG_TRUNC != 0 {
			truncated++
		}
		r.out = append(r.out, m.Buffers[0][:m.N])
		bytes += m.N
	}
	return r.out, truncated, bytes, nil
}
