package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/par"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// renderOut is one series of a render's answer and its points, consolidated
// to maxDataPoints (and without nulls when noNullPoints).
type renderOut struct {
	s *series.Series
	// vals[j] at start + j×step (Series.Consolidated), or, when points
	// (noNullPoints left some out), pts.
	vals        []float64
	start, step int64
	points      bool
	pts         []series.Point
}

func (o *renderOut) len() int {
	if o.points {
		return len(o.pts)
	}
	return len(o.vals)
}

// at returns datapoint j's value and time.
func (o *renderOut) at(j int) (float64, int64) {
	if o.points {
		return o.pts[j].Value, o.pts[j].Time
	}
	return o.vals[j], o.start + int64(j)*o.step
}

// The answers are written as they are encoded, through a buffer of
// answerBuffer bytes: encoding a whole answer first (json.Marshal of a
// [2]any per point) held about 80 bytes a point until it was sent.
const answerBuffer = 64 << 10

// Buffers are kept between answers (sync.Pool: what the GC finds unused
// for two cycles is dropped): the answer's bufio.Writer, and the text of
// each series writeRenderJSON encodes, up to maxPooledText bytes (a larger
// one is left to the GC). Growing every series' text from nothing made
// four times the answer's bytes of garbage, two thirds of what an hour's
// render allocated.
var (
	answerWriters sync.Pool // *bufio.Writer of answerBuffer bytes
	seriesTexts   sync.Pool // *[]byte
)

const maxPooledText = 1 << 20

func newAnswerWriter(w io.Writer) *bufio.Writer {
	if bw, ok := answerWriters.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, answerBuffer)
}

func putAnswerWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	answerWriters.Put(bw)
}

func getSeriesText() *[]byte {
	if b, ok := seriesTexts.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

func putSeriesTexts(bufs []*[]byte) {
	for _, b := range bufs {
		if cap(*b) <= maxPooledText {
			*b = (*b)[:0]
			seriesTexts.Put(b)
		}
	}
}

// writeRenderJSON writes graphite-web's JSON answer, byte for byte what
// json.Marshal of {"target", "tags", "datapoints": [[value, time]...]} per
// series gives, wrapped in the jsonp callback cb if not "". Series are
// encoded in groups of about jsonGroupPoints points, the series of a group
// side by side (one per core), and written in order: the text held is a
// group's, whatever the answer's size.
func writeRenderJSON(w http.ResponseWriter, cb string, outs []renderOut) error {
	if cb != "" {
		w.Header().Set("Content-Type", "text/javascript")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(http.StatusOK)
	bw := newAnswerWriter(w)
	defer putAnswerWriter(bw)
	if cb != "" {
		bw.WriteString(cb)
		bw.WriteByte('(')
	}
	bw.WriteByte('[')
	tt := newTimeText(outs)
	var bufs []*[]byte
	defer func() { putSeriesTexts(bufs) }()
	workers := runtime.GOMAXPROCS(0)
	for lo := 0; lo < len(outs); {
		hi, n := lo, 0
		for hi < len(outs) && (hi == lo || n+outs[hi].len() <= jsonGroupPoints) {
			n += outs[hi].len()
			hi++
		}
		group := outs[lo:hi]
		for len(bufs) < len(group) {
			bufs = append(bufs, getSeriesText())
		}
		encode := func(i int) error {
			b := slices.Grow((*bufs[i])[:0], tt.estimate(group[i].len()))
			var err error
			*bufs[i], err = appendSeriesJSON(b, group[i], tt, lo+i > 0)
			return err
		}
		var err error
		if n >= jsonParallelPoints && len(group) > 1 {
			err = par.For(context.Background(), len(group), workers, encode)
		} else {
			for i := range group {
				if err = encode(i); err != nil {
					break
				}
			}
		}
		if err != nil {
			return err
		}
		for i := range group {
			if _, err := bw.Write(*bufs[i]); err != nil {
				return err
			}
		}
		lo = hi
	}
	bw.WriteByte(']')
	if cb != "" {
		bw.WriteByte(')')
	}
	return bw.Flush()
}

// jsonGroupPoints is about how many points writeRenderJSON encodes before
// writing them (a series more alone); a group of jsonParallelPoints or more
// is encoded on every core.
const (
	jsonGroupPoints    = 32 << 10
	jsonParallelPoints = 4 << 10
)

// timeText holds the timestamps of a render's first series with points and
// their text (text[off[j]:off[j+1]]): the series of a render mostly share
// their timestamps, so each is formatted once.
type timeText struct {
	times []int64
	text  []byte
	off   []int
}

// estimate is about the bytes of a series of n points' JSON text: its
// name and tags, and per point a timestamp, a short value and "[,],".
func (t *timeText) estimate(n int) int {
	ts := 10
	if len(t.times) > 0 {
		ts = len(t.text)/len(t.times) + 1
	}
	return 256 + n*(ts+12)
}

func newTimeText(outs []renderOut) *timeText {
	t := &timeText{off: []int{0}}
	for _, o := range outs {
		if o.len() == 0 {
			continue
		}
		for j := range o.len() {
			_, ts := o.at(j)
			t.text = strconv.AppendInt(t.text, ts, 10)
			t.times, t.off = append(t.times, ts), append(t.off, len(t.text))
		}
		break
	}
	return t
}

// appendSeriesJSON appends one series' object, after a comma unless first.
func appendSeriesJSON(b []byte, o renderOut, tt *timeText, comma bool) ([]byte, error) {
	if comma {
		b = append(b, ',')
	}
	tags := o.s.Tags
	if tags == nil {
		tags = tagsOf(o.s.Name)
	}
	name, err := json.Marshal(o.s.Name)
	if err != nil {
		return b, err
	}
	tj, err := json.Marshal(tags)
	if err != nil {
		return b, err
	}
	b = append(b, `{"target":`...)
	b = append(b, name...)
	b = append(b, `,"tags":`...)
	b = append(b, tj...)
	b = append(b, `,"datapoints":[`...)
	for j := range o.len() {
		if j > 0 {
			b = append(b, ',')
		}
		v, ts := o.at(j)
		b = append(appendJSONFloat(append(b, '['), v), ',')
		if j < len(tt.times) && tt.times[j] == ts {
			b = append(b, tt.text[tt.off[j]:tt.off[j+1]]...)
		} else {
			b = strconv.AppendInt(b, ts, 10)
		}
		b = append(b, ']')
	}
	return append(b, "]}"...), nil
}

// appendJSONFloat appends v as encoding/json writes a float64, null for
// NaN, and graphite's 1e9999 and -1e9999 for the infinities.
func appendJSONFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "null"...)
	case math.IsInf(v, 1):
		return append(b, "1e9999"...)
	case math.IsInf(v, -1):
		return append(b, "-1e9999"...)
	}
	if out, ok := appendShortDecimal(b, v); ok {
		return out
	}
	f := byte('f')
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		f = 'e'
	}
	b = strconv.AppendFloat(b, v, f, -1, 64)
	if f == 'e' { // e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// shortPow10 are the scales appendShortDecimal tries: up to 4 decimals.
var shortPow10 = [...]float64{1, 10, 100, 1000, 1e4}

// appendShortDecimal appends v as strconv's shortest 'f' format does when v
// is m / 10^k for an integer m below 2^52 and k ≤ 4 (most stored values:
// counts, and sums and gauges of a few decimals), found by arithmetic
// instead of the general shortest-digits search; ok is false for any other
// v (and for zero, whose sign the general path keeps). Why it is the same
// text: m / 10^k is correctly rounded (both exact), so m with k decimals
// parses back to v; below 2^52 the spacing of doubles near |v| is under
// 10^-k, so no other k-decimal number does; and the first such k has the
// fewest digits.
func appendShortDecimal(b []byte, v float64) ([]byte, bool) {
	a := math.Abs(v)
	if a == 0 || a != a {
		return b, false
	}
	for k, p := range shortPow10 {
		x := a * p
		if x >= 1<<52 {
			return b, false
		}
		m := math.Round(x)
		if m/p != a {
			continue
		}
		if v < 0 {
			b = append(b, '-')
		}
		// The digits of m from the right, at least k+1 (0.00d), the
		// point after the first k.
		var buf [24]byte
		i, u := len(buf), uint64(m)
		for d := 0; d <= k || u > 0; d++ {
			if d == k && k > 0 {
				i--
				buf[i] = '.'
			}
			i--
			buf[i] = byte('0' + u%10)
			u /= 10
		}
		return append(b, buf[i:]...), true
	}
	return b, false
}

// writeRenderCSV writes name,time,value lines, the value empty for null.
func writeRenderCSV(w http.ResponseWriter, outs []renderOut, loc *time.Location) error {
	w.Header().Set("Content-Type", "text/csv")
	bw := newAnswerWriter(w)
	defer putAnswerWriter(bw)
	var line []byte
	for _, o := range outs {
		for j := range o.len() {
			v, ts := o.at(j)
			line = append(append(line[:0], o.s.Name...), ',')
			line = time.Unix(ts, 0).In(loc).AppendFormat(line, "2006-01-02 15:04:05")
			line = append(line, ',')
			if !math.IsNaN(v) {
				line = strconv.AppendFloat(line, v, 'g', -1, 64)
			}
			line = append(line, '\n')
			if _, err := bw.Write(line); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// writeRenderRaw writes graphite's raw lines: name,start,end,step|v,v,...
// with None for null, the values unconsolidated.
func writeRenderRaw(w http.ResponseWriter, all []*series.Series) error {
	w.Header().Set("Content-Type", "text/plain")
	bw := newAnswerWriter(w)
	defer putAnswerWriter(bw)
	var b []byte
	for _, s := range all {
		b = append(b[:0], s.Name...)
		for _, n := range []int64{s.Start, s.End, s.Step} {
			b = strconv.AppendInt(append(b, ','), n, 10)
		}
		b = append(b, '|')
		for i, v := range s.Values {
			if i > 0 {
				b = append(b, ',')
			}
			if math.IsNaN(v) {
				b = append(b, "None"...)
			} else {
				b = strconv.AppendFloat(b, v, 'g', -1, 64)
			}
			if len(b) >= answerBuffer {
				if _, err := bw.Write(b); err != nil {
					return err
				}
				b = b[:0]
			}
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// renderInfos is graphite-web's getInfo() of each series, as format=pickle
// and msgpack answer it: the values unconsolidated.
func renderInfos(all []*series.Series) []map[string]any {
	infos := make([]map[string]any, 0, len(all))
	for _, s := range all {
		cf := s.Consolidate
		if cf == "" {
			cf = "average"
		}
		infos = append(infos, map[string]any{"name": s.Name, "start": s.Start, "end": s.End, "step": s.Step,
			"values": s.Values, "pathExpression": s.PathExpr, "valuesPerPoint": max(1, s.ValuesPerPoint),
			"consolidationFunc": cf, "xFilesFactor": s.XFilesFactor})
	}
	return infos
}
