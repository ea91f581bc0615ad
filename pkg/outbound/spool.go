package outbound

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Spool is a FIFO of chunks on disk, bounded in bytes: segment files of
// records (4-byte length, 4-byte line count, data). When appending would pass
// the bound, the oldest segments are deleted and their lines counted as
// dropped. A record cut short by a crash ends its segment. Delivery from a
// spool is at least once: after a restart the oldest segment is read again
// from its start.
type Spool struct {
	dir      string
	max      int64
	segMax   int64
	mu       sync.Mutex
	segs     []uint64 // segment ids, oldest first
	sizes    map[uint64]int64
	w        *os.File
	wID      uint64
	r        *bufio.Reader
	rf       *os.File
	rID      uint64
	total    int64
	Dropped  uint64 // lines dropped to keep the bound
	appended uint64
}

const recordHeader = 8

// OpenSpool opens (creating) dir, keeping what a previous run left there.
func OpenSpool(dir string, maxBytes int64) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create spool directory %s: %w", dir, err)
	}
	s := &Spool{dir: dir, max: maxBytes, segMax: max(maxBytes/8, 1<<20), sizes: map[uint64]int64{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read spool directory %s: %w", dir, err)
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		s.segs = append(s.segs, n)
		s.sizes[n] = info.Size()
		s.total += info.Size()
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i] < s.segs[j] })
	return s, nil
}

func (s *Spool) path(id uint64) string { return filepath.Join(s.dir, fmt.Sprintf("%012d.seg", id)) }

// Bytes returns the bytes spooled and not yet read.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Append writes a chunk at the end of the spool.
func (s *Spool) Append(c Chunk) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := int64(recordHeader + len(c.Data))
	if rec > s.max {
		s.Dropped += uint64(c.Lines)
		return nil
	}
	for s.total+rec > s.max && len(s.segs) > 0 && s.segs[0] != s.wID {
		s.dropOldest()
	}
	if s.total+rec > s.max {
		s.Dropped += uint64(c.Lines)
		return nil
	}
	if s.w == nil || s.sizes[s.wID]+rec > s.segMax {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	var hdr [recordHeader]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(c.Data)))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(c.Lines))
	if _, err := s.w.Write(append(hdr[:], c.Data...)); err != nil {
		return fmt.Errorf("writing spool %s: %w", s.dir, err)
	}
	s.sizes[s.wID] += rec
	s.total += rec
	s.appended += uint64(c.Lines)
	return nil
}

func (s *Spool) rotate() error {
	if s.w != nil {
		if err := s.w.Close(); err != nil {
			return err
		}
	}
	id := uint64(1)
	if n := len(s.segs); n > 0 {
		id = s.segs[n-1] + 1
	}
	f, err := os.OpenFile(s.path(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("creating spool segment: %w", err)
	}
	s.w, s.wID = f, id
	s.segs = append(s.segs, id)
	s.sizes[id] = 0
	return nil
}

// dropOldest deletes the oldest segment, counting its lines as dropped.
func (s *Spool) dropOldest() {
	id := s.segs[0]
	if s.rf != nil && s.rID == id {
		s.rf.Close()
		s.rf, s.r = nil, nil
	}
	if f, err := os.Open(s.path(id)); err == nil {
		r := bufio.NewReader(f)
		var hdr [recordHeader]byte
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				break
			}
			s.Dropped += uint64(binary.LittleEndian.Uint32(hdr[4:]))
			if _, err := r.Discard(int(binary.LittleEndian.Uint32(hdr[:4]))); err != nil {
				break
			}
		}
		f.Close()
	}
	os.Remove(s.path(id))
	s.total -= s.sizes[id]
	delete(s.sizes, id)
	s.segs = s.segs[1:]
}

// Next returns the oldest spooled chunk, removing it; ok is false when the
// spool is empty.
func (s *Spool) Next() (c Chunk, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.segs) > 0 {
		id := s.segs[0]
		if s.rf == nil || s.rID != id {
			if s.rf != nil {
				s.rf.Close()
			}
			f, err := os.Open(s.path(id))
			if err != nil {
				return Chunk{}, false, fmt.Errorf("opening spool segment: %w", err)
			}
			s.rf, s.rID, s.r = f, id, bufio.NewReaderSize(f, 256<<10)
		}
		var hdr [recordHeader]byte
		_, err := io.ReadFull(s.r, hdr[:])
		if err == nil {
			n := binary.LittleEndian.Uint32(hdr[:4])
			data := make([]byte, n)
			if _, err = io.ReadFull(s.r, data); err == nil {
				rec := int64(recordHeader) + int64(n)
				s.total -= rec
				s.sizes[id] -= rec
				return Chunk{Data: data, Lines: int(binary.LittleEndian.Uint32(hdr[4:]))}, true, nil
			}
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return Chunk{}, false, fmt.Errorf("reading spool segment: %w", err)
		}
		if id == s.wID {
			return Chunk{}, false, nil // caught up with the writer
		}
		// Segment done (or cut short by a crash): remove it.
		s.rf.Close()
		s.rf, s.r = nil, nil
		os.Remove(s.path(id))
		s.total -= s.sizes[id]
		delete(s.sizes, id)
		s.segs = s.segs[1:]
	}
	return Chunk{}, false, nil
}

// Close closes the files; what is spooled stays for the next run.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.w != nil {
		err = s.w.Close()
		s.w = nil
	}
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	return err
}
