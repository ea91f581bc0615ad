package api

import (
	"bufio"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/series"
)

// renderOut is one series of a render's answer and its points, consolidated
// to maxDataPoints (and without nulls when noNullPoints).
type renderOut struct {
	s   *series.Series
	pts []series.Point
}

// The answers are written as they are encoded, through a buffer of
// answerBuffer bytes: encoding a whole answer first (json.Marshal of a
// [2]any per point) held about 80 bytes a point until it was sent.
const answerBuffer = 64 << 10

// writeRenderJSON writes graphite-web's JSON answer, byte for byte what
// json.Marshal of {"target", "tags", "datapoints": [[value, time]...]} per
// series gives, wrapped in the jsonp callback cb if not "".
func writeRenderJSON(w http.ResponseWriter, cb string, outs []renderOut) error {
	if cb != "" {
		w.Header().Set("Content-Type", "text/javascript")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, answerBuffer)
	if cb != "" {
		bw.WriteString(cb)
		bw.WriteByte('(')
	}
	bw.WriteByte('[')
	var num []byte
	// The series of a render mostly share their timestamps: those of the
	// first series are formatted once (times, and their text at
	// text[off[j]:off[j+1]]) and copied for the next ones.
	var times []int64
	var text []byte
	off := []int{0}
	for i, o := range outs {
		if i > 0 {
			bw.WriteByte(',')
		}
		tags := o.s.Tags
		if tags == nil {
			tags = tagsOf(o.s.Name)
		}
		name, err := json.Marshal(o.s.Name)
		if err != nil {
			return err
		}
		tj, err := json.Marshal(tags)
		if err != nil {
			return err
		}
		bw.WriteString(`{"target":`)
		bw.Write(name)
		bw.WriteString(`,"tags":`)
		bw.Write(tj)
		bw.WriteString(`,"datapoints":[`)
		for j, p := range o.pts {
			if j > 0 {
				bw.WriteByte(',')
			}
			num = append(appendJSONFloat(append(num[:0], '['), p.Value), ',')
			switch {
			case j < len(times) && times[j] == p.Time:
				num = append(num, text[off[j]:off[j+1]]...)
			case i == 0:
				text = strconv.AppendInt(text, p.Time, 10)
				times, off = append(times, p.Time), append(off, len(text))
				num = append(num, text[off[j]:]...)
			default:
				num = strconv.AppendInt(num, p.Time, 10)
			}
			num = append(num, ']')
			if _, err := bw.Write(num); err != nil {
				return err
			}
		}
		bw.WriteString("]}")
	}
	bw.WriteByte(']')
	if cb != "" {
		bw.WriteByte(')')
	}
	return bw.Flush()
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
		start := len(b)
		b = strconv.AppendInt(b, int64(m), 10)
		if k == 0 {
			return b, true
		}
		digits := len(b) - start
		if digits <= k { // 0.00ddd: pad with zeros after "0."
			pad := k - digits + 2
			b = append(b, make([]byte, pad)...)
			copy(b[start+pad:], b[start:start+digits])
			b[start], b[start+1] = '0', '.'
			for i := start + 2; i < start+pad; i++ {
				b[i] = '0'
			}
			return b, true
		}
		b = append(b, 0)
		dot := len(b) - 1 - k
		copy(b[dot+1:], b[dot:len(b)-1])
		b[dot] = '.'
		return b, true
	}
	return b, false
}

// writeRenderCSV writes name,time,value lines, the value empty for null.
func writeRenderCSV(w http.ResponseWriter, outs []renderOut, loc *time.Location) error {
	w.Header().Set("Content-Type", "text/csv")
	bw := bufio.NewWriterSize(w, answerBuffer)
	var line []byte
	for _, o := range outs {
		for _, p := range o.pts {
			line = append(append(line[:0], o.s.Name...), ',')
			line = time.Unix(p.Time, 0).In(loc).AppendFormat(line, "2006-01-02 15:04:05")
			line = append(line, ',')
			if !math.IsNaN(p.Value) {
				line = strconv.AppendFloat(line, p.Value, 'g', -1, 64)
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
	bw := bufio.NewWriterSize(w, answerBuffer)
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
