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
	set      *metrics.Set
	mu       sync.Mutex
	eps      map[string]*endpointStats
	sections map[string]func() any
}

type endpointStats struct {
	requests, clientErrors, serverErrors *metrics.Counter
	duration                             *metrics.Histogram
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
	case path == "/events" || strings.HasPrefix(path, "/events/"):
		return "events"
	case strings.HasPrefix(path, "/_internal/"):
		return "carbonapi"
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
		e = &endpointStats{
			requests:     s.set.NewCounter(fmt.Sprintf(`consthash_query_api_requests_total{endpoint=%q}`, ep)),
			clientErrors: s.set.NewCounter(fmt.Sprintf(`consthash_query_api_client_errors_total{endpoint=%q}`, ep)),
			serverErrors: s.set.NewCounter(fmt.Sprintf(`consthash_query_api_server_errors_total{endpoint=%q}`, ep)),
			duration:     s.set.NewHistogram(fmt.Sprintf(`consthash_query_api_request_duration_seconds{endpoint=%q}`, ep)),
		}
		s.eps[ep] = e
	}
	return e
}

// Wrap counts and times each request h serves.
func (s *Stats) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := s.of(endpoint(r.URL.Path))
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		start := time.Now()
		h.ServeHTTP(sw, r)
		d := time.Since(start)
		e.requests.Inc()
		e.nanos.Add(int64(d))
		e.duration.Update(d.Seconds())
		switch {
		case sw.code >= 500:
			e.serverErrors.Inc()
		case sw.code >= 400:
			e.clientErrors.Inc()
		}
	})
}

// Section adds what f returns to /stats under name.
func (s *Stats) Section(name string, f func() any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sections == nil {
		s.sections = map[string]func() any{}
	}
	s.sections[name] = f
}

// Snapshot is /stats: per endpoint, requests, 4xx and 5xx answers and the
// mean time taken; then the sections added.
func (s *Stats) Snapshot() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]any{}
	for ep, e := range s.eps {
		n := e.requests.Get()
		mean := 0.0
		if n > 0 {
			mean = float64(e.nanos.Load()) / float64(n) / 1e6
		}
		out[ep] = map[string]any{"requests": n, "client_errors": e.clientErrors.Get(), "server_errors": e.serverErrors.Get(), "mean_ms": mean}
	}
	snap := map[string]any{"endpoints": out}
	for name, f := range s.sections {
		snap[name] = f()
	}
	return snap
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
