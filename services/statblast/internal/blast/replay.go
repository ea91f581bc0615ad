package blast

import (
	"bytes"
	"context"
	"strconv"
	"time"
)

// DefaultReplayBytes bounds the lines a fork renders for Replay: 8 MiB holds
// about 180,000 graphite lines of 45 bytes, enough for 100,000 keys over 4
// forks to each appear several times per pass.
const DefaultReplayBytes = 8 << 20

// replayBuf is one fork's lines for Replay, rendered once and then written
// over and over, so that a line costs a copy instead of its formatting.
type replayBuf struct {
	data    []byte
	chunks  []chunk  // consecutive; each at most Buffer bytes (or one longer line), lines never split
	lines   uint64   // lines in data
	ts      []uint32 // graphite: where each line's timestamp starts in data
	tsWidth int      // digits of every timestamp in data; 0: lines without timestamps or of mixed widths
	tsNow   int64    // the timestamp the lines carry now
	gen     *generator
}

// chunk is one write: data[previous chunk's end:end], holding lines lines.
type chunk struct {
	end   int
	lines uint64
}

// render generates up to quota lines (0: no quota) of fork's stream, as many
// as fit in ReplayBytes (at least one), with their effect on the expected
// aggregates committed once into the returned buffer's generator.
func render(cfg Config, keys *keySet, fork int, quota uint64) *replayBuf {
	size := cfg.ReplayBytes
	if quota > 0 && quota < uint64(size)/64 {
		size = int(quota) * 64 // a hint: lines are usually shorter
	}
	r := &replayBuf{gen: newGenerator(cfg, keys, fork), data: make([]byte, 0, size)}
	var ln []byte
	chunkStart, chunkLines := 0, uint64(0)
	mixedNow, mixedWidth := false, false
	for quota == 0 || r.lines < quota {
		ln = r.gen.next(ln[:0])
		if len(r.data)+len(ln) > cfg.ReplayBytes && r.lines > 0 {
			break // this line is not committed: the generator keeps what was rendered
		}
		if len(r.data)+len(ln)-chunkStart > cfg.Buffer && chunkLines > 0 {
			r.chunks = append(r.chunks, chunk{end: len(r.data), lines: chunkLines})
			chunkStart, chunkLines = len(r.data), 0
		}
		if r.gen.pending.k == kGraphite {
			w := digits(r.gen.now)
			if len(r.ts) == 0 {
				r.tsWidth, r.tsNow = w, r.gen.now
			}
			mixedWidth = mixedWidth || w != r.tsWidth
			mixedNow = mixedNow || r.gen.now != r.tsNow
			r.ts = append(r.ts, uint32(len(r.data)+len(ln)-1-w))
		}
		r.data = append(r.data, ln...)
		r.gen.commit()
		r.lines++
		chunkLines++
	}
	if chunkLines > 0 {
		r.chunks = append(r.chunks, chunk{end: len(r.data), lines: chunkLines})
	}
	switch {
	case len(r.ts) != int(r.lines) || mixedWidth:
		r.tsWidth = 0 // statsd lines carry no timestamp; timestamps of mixed widths cannot be patched alike
	case mixedNow:
		// The clock moved while rendering: give every line the first
		// timestamp so that the buffer is one pass of one second.
		r.patch(r.tsNow)
	}
	return r
}

// digits is the number of decimal digits of a non-negative n.
func digits(n int64) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// refresh sets every line's timestamp to now, in place, when the second has
// changed and has as many digits as the rendered ones (every second from 2001
// to 2286): a 10-byte copy per line and pass.
func (r *replayBuf) refresh(now int64) {
	if r.tsWidth == 0 || now == r.tsNow || digits(now) != r.tsWidth {
		return
	}
	r.patch(now)
}

func (r *replayBuf) patch(now int64) {
	var b [20]byte
	d := strconv.AppendInt(b[:0], now, 10)
	if len(d) != r.tsWidth {
		r.tsWidth = 0
		return
	}
	for _, off := range r.ts {
		copy(r.data[off:], d)
	}
	r.tsNow = now
}

// replay writes r's chunks to every sender over and over, from the start of
// the buffer, until quota lines (0: until ctx ends), paced like runFork. The
// last write of a quota is cut at a line boundary, so exactly quota lines go.
func (r *replayBuf) replay(ctx context.Context, cfg Config, senders []sender, quota uint64, started time.Time, fr *forkResult) {
	perFork := float64(cfg.LinesPerSec) / float64(cfg.Forks)
	for {
		r.refresh(cfg.Now().Unix())
		start := 0
		for _, c := range r.chunks {
			if (quota > 0 && fr.lines >= quota) || ctx.Err() != nil {
				return
			}
			b, n := r.data[start:c.end], c.lines
			start = c.end
			if quota > 0 && fr.lines+n > quota {
				n = quota - fr.lines
				b = b[:nthLineEnd(b, n)]
			}
			for _, s := range senders {
				fr.sends++
				if err := s.send(b); err != nil {
					fr.sendErrors++
					if fr.err == nil {
						fr.err = err
					}
					return
				}
			}
			fr.lines += n
			fr.bytes += uint64(len(b))
			pace(ctx, cfg, started, fr.lines, perFork)
		}
	}
}

// nthLineEnd is the length of b's first n lines, newlines included.
func nthLineEnd(b []byte, n uint64) int {
	end := 0
	for ; n > 0; n-- {
		end += bytes.IndexByte(b[end:], '\n') + 1
	}
	return end
}

// expected returns the aggregates of what fork sent with Replay: sent lines
// are whole passes over r's lines, then a first part of them. A pass's
// aggregates (in r.gen) are scaled by the number of passes: counts, sums and
// samples multiply; minimums, maximums and set members stay, as every pass
// repeats the same values; the last value is the one the last pass left, as
// each pass starts every gauge with an absolute value. The part after the
// whole passes is regenerated (the same lines: the generator is
// deterministic) and added on top.
func (r *replayBuf) expected(cfg Config, keys *keySet, fork int, sent uint64) *Expected {
	passes, rest := sent/r.lines, sent%r.lines
	part := newGenerator(cfg, keys, fork)
	var ln []byte
	for range rest {
		ln = part.next(ln[:0])
		part.commit()
	}
	if passes > 0 {
		k := float64(passes)
		for i, s := range r.gen.state {
			if s.samples == 0 {
				continue
			}
			all := *s
			all.samples *= passes
			all.count *= k
			all.sum *= k
			if p := part.state[i]; p != nil && p.samples > 0 {
				all.samples += p.samples
				all.count += p.count
				all.sum += p.sum
				all.last = p.last
			}
			part.state[i] = &all
		}
	}
	e := newExpected(cfg.Type)
	part.export(e)
	return e
}
