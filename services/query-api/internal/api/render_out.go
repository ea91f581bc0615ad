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
			num = append(strconv.AppendInt(num, p.Time, 10), ']')
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
