package api

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Stats counts requests per endpoint: what /stats shows and /metrics
// exports.
type Stats struct {
	set *metrics.Set
	mu  sync.Mutex
	eps map[string]*endpointStats
}

type endpointStats struct {
	requests, clientErrors, serverErrors atomic.Uint64
	nanos                                atomic.Int64
}

// NewStats returns request counters registered in set.
func NewStats(set *metrics.Set) *Stats { return &Stats{set: set, eps: map[string]*endpointStats{}} }

// endpoint names a request's endpoint for the counters: a fixed set, so a
// client cannot grow them.
func endpoint(path string) string {
	switch {
	case path == "/render" || strings.HasPrefix(path, "/render/"):
		return "render"
	case strings.HasPrefix(path, "/metrics/find"):
		return "find"
	case path == "/metrics/expand" || strings.HasSuffix(path, "/expand"):
		return "expand"
	case path == "/metrics/index.json":
		return "index"
	case strings.HasPrefix(path, "/functions"):
		return "functions"
	case strings.HasPrefix(path, "/tags"):
		return "tags"
	case path == "/paths" || path == "/metrics" || path == "/ping":
		return "cyanite"
	case strings.HasSuffix(path, "/find") || strings.HasSuffix(path, "/metrics"):
		return "seed"
	case path == "/version":
		return "version"
	}
	return "other"
}

func (s *Stats) of(ep string) *endpointStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.eps[ep]
	if e == nil {
		e = &endpointStats{}
		s.eps[ep] = e
		s.set.NewGauge(fmt.Sprintf(`consthash_query_api_client_errors_total{endpoint=%q}`, ep), func() float64 { return float64(e.clientErrors.Load()) })
		s.set.NewGauge(fmt.Sprintf(`consthash_query_api_server_errors_total{endpoint=%q}`, ep), func() float64 { return float64(e.serverErrors.Load()) })
	}
	return e
}

// Wrap counts and times each request h serves.
func (s *Stats) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep := endpoint(r.URL.Path)
		e := s.of(ep)
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		start := time.Now()
		h.ServeHTTP(sw, r)
		d := time.Since(start)
		e.requests.Add(1)
		e.nanos.Add(int64(d))
		s.set.GetOrCreateCounter(fmt.Sprintf(`consthash_query_api_requests_total{endpoint=%q}`, ep)).Inc()
		s.set.GetOrCreateHistogram(fmt.Sprintf(`consthash_query_api_request_duration_seconds{endpoint=%q}`, ep)).Update(d.Seconds())
		switch {
		case sw.code >= 500:
			e.serverErrors.Add(1)
		case sw.code >= 400:
			e.clientErrors.Add(1)
		}
	})
}

// Snapshot is /stats: per endpoint, requests, 4xx and 5xx answers and the
// mean time taken.
func (s *Stats) Snapshot() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]any{}
	for ep, e := range s.eps {
		n := e.requests.Load()
		mean := 0.0
		if n > 0 {
			mean = float64(e.nanos.Load()) / float64(n) / 1e6
		}
		out[ep] = map[string]any{"requests": n, "client_errors": e.clientErrors.Load(), "server_errors": e.serverErrors.Load(), "mean_ms": mean}
	}
	return map[string]any{"endpoints": out}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
