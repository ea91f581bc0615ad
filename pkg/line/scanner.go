package line

import (
	"bytes"
	"io"
)

// DefaultMaxLength is the longest line a Scanner yields by default (32 KiB).
const DefaultMaxLength = 32 << 10

// Scanner splits a byte stream into lines. Unlike bufio.Scanner it survives a
// line longer than its maximum: that line is dropped whole and counted, and
// scanning goes on with the next one. Lines end at '\n'; a '\r' before it is
// removed unless KeepCR is set; a last line without a newline at EOF is still
// returned (but not one cut short by a read error).
type Scanner struct {
	// KeepCR leaves a '\r' before the '\n' in the line, as statsd 0.9.0
	// does: it splits on "\n" only and the '\r' belongs to the line's last
	// field.
	KeepCR bool

	r        io.Reader
	buf      []byte
	start    int
	end      int
	max      int
	line     []byte
	err      error // from the reader; returned by Err unless io.EOF
	skipping bool  // inside a too-long line, discarding up to its newline
	tooLong  uint64
	idle     func()
}

// OnIdle sets a function called each time the Scanner has handed out every
// complete line it holds and is about to block reading more: the moment a
// consumer that batches lines should flush them.
func (s *Scanner) OnIdle(f func()) { s.idle = f }

// NewScanner returns a Scanner reading r whose lines are at most maxLen bytes
// (not counting the newline); maxLen <= 0 means DefaultMaxLength.
func NewScanner(r io.Reader, maxLen int) *Scanner {
	if maxLen <= 0 {
		maxLen = DefaultMaxLength
	}
	return &Scanner{r: r, max: maxLen, buf: make([]byte, max(maxLen+1, 64<<10))}
}

// Reset makes s read from r, keeping its buffer and its too-long count.
func (s *Scanner) Reset(r io.Reader) {
	s.r, s.start, s.end, s.line, s.err, s.skipping = r, 0, 0, nil, nil, false
}

// Scan advances to the next line, which Bytes then returns. It returns false
// at the end of the stream or on a read error.
func (s *Scanner) Scan() bool {
	for {
		if i := bytes.IndexByte(s.buf[s.start:s.end], '\n'); i >= 0 {
			l := s.buf[s.start : s.start+i]
			s.start += i + 1
			if s.skipping {
				s.skipping = false
				continue
			}
			if len(l) > s.max {
				s.tooLong++
				continue
			}
			s.line = s.trim(l)
			return true
		}
		if s.skipping {
			s.start, s.end = 0, 0
		} else if s.end-s.start > s.max {
			s.tooLong++
			s.skipping = true
			s.start, s.end = 0, 0
		}
		if s.err != nil {
			// A last line without a newline counts only at a clean EOF: after a
			// read error it may be cut short.
			if s.err == io.EOF && s.start < s.end && !s.skipping {
				s.line = s.trim(s.buf[s.start:s.end])
				s.start = s.end
				return true
			}
			s.line = nil
			return false
		}
		if s.start > 0 {
			s.end = copy(s.buf, s.buf[s.start:s.end])
			s.start = 0
		}
		if s.idle != nil {
			s.idle()
		}
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.err = err
		}
	}
}

func (s *Scanner) trim(l []byte) []byte {
	if s.KeepCR {
		return l
	}
	return trimCR(l)
}

// Bytes returns the current line. It aliases the Scanner's buffer and is
// valid until the next call to Scan.
func (s *Scanner) Bytes() []byte { return s.line }

// TooLong returns how many lines were dropped for being longer than the
// maximum since the Scanner was made.
func (s *Scanner) TooLong() uint64 { return s.tooLong }

// Err returns the read error that ended scanning, or nil at a clean EOF.
func (s *Scanner) Err() error {
	if s.err == io.EOF {
		return nil
	}
	return s.err
}

// Next splits the first line off b (a datagram or an HTTP body): it returns
// the line without its '\n' or trailing '\r', and the rest after the newline.
// ok is false when b is empty.
func Next(b []byte) (line, rest []byte, ok bool) {
	if len(b) == 0 {
		return nil, nil, false
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return trimCR(b[:i]), b[i+1:], true
	}
	return trimCR(b), nil, true
}

// NextLF is Next without the '\r' trimming: it splits on '\n' only, as
// statsd 0.9.0 splits a packet, so a '\r' stays part of the line.
func NextLF(b []byte) (line, rest []byte, ok bool) {
	if len(b) == 0 {
		return nil, nil, false
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, true
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}
