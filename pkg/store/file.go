package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/consthash/consthash/pkg/rollup"
)

// fileStore appends one TSV line per point to `{dsn}_{seconds}s`, with the
// seed's columns: name, sum, mean, min, max, count, resolution (seconds),
// time (ns), ttl (ns), then the producer (source) and the batch's version. A
// file is rotated to `.<unix time>` when it passes max_file_size. Files
// cannot overwrite a row, so only final batches are written (partial coarse
// bins come again, final, at their boundary), and a redelivered batch
// appends its lines again: readers keep, per (name, time, source), the line
// of the newest version, and add up the sources.
type fileStore struct {
	prefix  string
	maxSize int64
	mu      sync.Mutex
	files   map[int64]*tsvFile
}

type tsvFile struct {
	f    *os.File
	w    *bufio.Writer
	size int64
}

func openFile(cfg Config) (*fileStore, error) {
	if cfg.DSN == "" {
		return nil, fmt.Errorf("dsn: give a path prefix such as /var/lib/consthash/metrics")
	}
	s := &fileStore{prefix: cfg.DSN, maxSize: 100 << 20, files: map[int64]*tsvFile{}}
	if v := cfg.Options["max_file_size"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("options.max_file_size %q: want a positive number of bytes", v)
		}
		s.maxSize = n
	}
	return s, nil
}

func (s *fileStore) Init(context.Context) error { return nil }

func (s *fileStore) path(secs int64) string { return fmt.Sprintf("%s_%ds", s.prefix, secs) }

func (s *fileStore) file(secs int64) (*tsvFile, error) {
	if f := s.files[secs]; f != nil {
		return f, nil
	}
	f, err := os.OpenFile(s.path(secs), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	t := &tsvFile{f: f, w: bufio.NewWriterSize(f, 256<<10), size: info.Size()}
	s.files[secs] = t
	return t, nil
}

func (s *fileStore) rotate(secs int64) error {
	t := s.files[secs]
	if err := t.w.Flush(); err != nil {
		return err
	}
	if err := t.f.Close(); err != nil {
		return err
	}
	delete(s.files, secs)
	return os.Rename(s.path(secs), fmt.Sprintf("%s.%d", s.path(secs), time.Now().UnixNano()))
}

func (s *fileStore) Write(_ context.Context, batches []*rollup.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var line []byte
	for _, b := range batches {
		if !b.Final {
			continue
		}
		secs := b.Resolution.Seconds()
		for _, p := range b.Points {
			if !Finite(p) {
				continue
			}
			t, err := s.file(secs)
			if err != nil {
				return fmt.Errorf("opening %s: %w", s.path(secs), err)
			}
			line = append(line[:0], p.Path...)
			for _, v := range []float64{p.Sum, p.Mean(), p.Min, p.Max} {
				line = append(line, '\t')
				line = strconv.AppendFloat(line, v, 'g', -1, 64)
			}
			line = append(line, '\t')
			line = strconv.AppendUint(line, p.Count, 10)
			line = append(line, '\t')
			line = strconv.AppendInt(line, secs, 10)
			line = append(line, '\t')
			line = strconv.AppendInt(line, p.Time*int64(time.Second), 10)
			line = append(line, '\t')
			line = strconv.AppendInt(line, int64(b.Resolution.TTL), 10)
			line = append(line, '\t')
			line = append(line, b.Source...)
			line = append(line, '\t')
			line = strconv.AppendInt(line, b.Version(), 10)
			line = append(line, '\n')
			if _, err := t.w.Write(line); err != nil {
				return fmt.Errorf("writing %s: %w", s.path(secs), err)
			}
			t.size += int64(len(line))
			if t.size >= s.maxSize {
				if err := s.rotate(secs); err != nil {
					return fmt.Errorf("rotating %s: %w", s.path(secs), err)
				}
			}
		}
	}
	for secs, t := range s.files {
		if err := t.w.Flush(); err != nil {
			return fmt.Errorf("writing %s: %w", s.path(secs), err)
		}
	}
	return nil
}

func (s *fileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, t := range s.files {
		if err := t.w.Flush(); err != nil && first == nil {
			first = err
		}
		if err := t.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
