package relay

import (
	"bytes"
	"context"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/consthash/consthash/pkg/endpoint"
)

// sendSelfStats sends the relay's own counters as statsd lines to
// [statsd].server every interval: counters as deltas (|c), queue depths and
// health as gauges (|g), named <prefix>.<section|destination>.<metric>.
func (r *Relay) sendSelfStats(ctx context.Context, server, prefix string, every time.Duration) {
	ep, err := endpoint.Parse(server)
	if err != nil {
		r.log.Error("self-metrics disabled", "err", err)
		return
	}
	conn, err := net.Dial(ep.Network(), ep.Addr)
	if err != nil {
		r.log.Error("self-metrics disabled", "server", server, "err", err)
		return
	}
	defer conn.Close()
	last := map[string]uint64{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var buf bytes.Buffer
		flush := func() {
			if buf.Len() > 0 {
				_, _ = conn.Write(buf.Bytes())
				buf.Reset()
			}
		}
		emit := func(name string, v uint64, kind string) {
			if kind == "c" {
				d := v - last[name]
				last[name] = v
				if d == 0 {
					return
				}
				v = d
			}
			l := prefix + "." + name + ":" + strconv.FormatUint(v, 10) + "|" + kind + "\n"
			if buf.Len()+len(l) > 1400 {
				flush()
			}
			buf.WriteString(l)
		}
		st := r.Stats()
		for _, sec := range sortedKeys(st["sections"].(map[string]any)) {
			m := st["sections"].(map[string]any)[sec].(map[string]any)
			for _, k := range []string{"lines_in", "lines_routed", "lines_rejected", "lines_blackholed", "lines_unroutable"} {
				emit("section."+statName(sec)+"."+k, m[k].(uint64), "c")
			}
			for reason, v := range m["lines_bad"].(map[string]uint64) {
				emit("section."+statName(sec)+".lines_bad."+reason, v, "c")
			}
		}
		for _, d := range sortedKeys(st["destinations"].(map[string]any)) {
			m := st["destinations"].(map[string]any)[d].(map[string]any)
			n := "destination." + statName(d) + "."
			for _, k := range []string{"sent_lines", "sent_bytes", "dropped_queue_full", "dropped_down", "dropped_closing",
				"write_errors", "connects", "spooled", "replayed", "spool_errors", "publish_retries"} {
				emit(n+k, m[k].(uint64), "c")
			}
			emit(n+"queued_lines", uint64(m["queued_lines"].(int)), "g")
			emit(n+"queued_bytes", uint64(m["queued_bytes"].(int)), "g")
			down := uint64(0)
			if m["down"].(bool) {
				down = 1
			}
			emit(n+"down", down, "g")
		}
		flush()
	}
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// statName makes a name safe as one statsd path node.
func statName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
