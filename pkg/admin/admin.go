// Package admin is every consthash service's admin HTTP server: /ops/status,
// /stats (JSON), /metrics (Prometheus text), /debug/pprof, and the service's
// own endpoints. Mutating endpoints need a token when the server listens
// beyond loopback.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Config is the [admin] section every service has.
type Config struct {
	Listen string `toml:"listen"` // host:port; "" disables the admin server
	// Token guards mutating endpoints (sent as "Authorization: Bearer <token>"
	// or the "token" form field). It is required when Listen is not a
	// loopback address.
	Token string `toml:"token"`
}

// Validate checks that a non-loopback listener has a token.
func (c Config) Validate() error {
	if c.Listen == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen %q: want host:port: %w", c.Listen, err)
	}
	if !isLoopback(host) && c.Token == "" {
		return fmt.Errorf("listen %q is not a loopback address, so a token is required for the mutating endpoints", c.Listen)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Status is the body of /ops/status. Healthy false answers 503.
type Status struct {
	Healthy bool           `json:"healthy"`
	Service string         `json:"service"`
	Version string         `json:"version,omitempty"`
	Uptime  float64        `json:"uptime_seconds"`
	Details map[string]any `json:"details,omitempty"`
}

// Server is the admin HTTP server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	srv     *http.Server
	ln      net.Listener
	started time.Time
	service string
	status  func() (healthy bool, details map[string]any)
	stats   func() any
	metrics *metrics.Set
}

// New returns an admin server for service. status reports health for
// /ops/status, stats returns the /stats document, and set holds the
// service's Prometheus metrics (Go runtime and process metrics are added).
func New(service string, cfg Config, log *slog.Logger, set *metrics.Set,
	status func() (bool, map[string]any), stats func() any) *Server {
	s := &Server{cfg: cfg, log: log, mux: http.NewServeMux(), started: time.Now(), service: service,
		status: status, stats: stats, metrics: set}
	s.mux.HandleFunc("GET /ops/status", s.handleStatus)
	s.mux.HandleFunc("GET /stats", s.handleStats)
	s.mux.HandleFunc("GET /metrics", s.handleMetrics)
	s.mux.HandleFunc("/debug/pprof/", pprof.Index)
	s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return s
}

// Handle adds a read-only endpoint (pattern as http.ServeMux takes it).
func (s *Server) Handle(pattern string, h http.HandlerFunc) { s.mux.HandleFunc(pattern, h) }

// HandleMutating adds an endpoint that changes the service; it checks the
// token when one is configured.
func (s *Server) HandleMutating(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token != "" && !s.authorized(r) {
			http.Error(w, "a valid token is required", http.StatusUnauthorized)
			return
		}
		h(w, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	tok := r.Header.Get("Authorization")
	const bearer = "Bearer "
	if len(tok) > len(bearer) && tok[:len(bearer)] == bearer {
		tok = tok[len(bearer):]
	} else {
		tok = r.FormValue("token")
	}
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) == 1
}

// Start binds the listener and serves in the background. It returns the
// bind error, so a port in use fails start-up.
func (s *Server) Start() error {
	if s.cfg.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on admin address %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", "err", err)
		}
	}()
	s.log.Info("admin server listening", "addr", ln.Addr().String())
	return nil
}

// Addr returns the bound address, or nil when disabled.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops the server, waiting for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

// Handler returns the server's handler, for tests.
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	st := Status{Healthy: true, Service: s.service, Uptime: time.Since(s.started).Seconds()}
	if s.status != nil {
		st.Healthy, st.Details = s.status()
	}
	code := http.StatusOK
	if !st.Healthy {
		code = http.StatusServiceUnavailable
	}
	WriteJSON(w, code, st)
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	var v any = map[string]any{}
	if s.stats != nil {
		v = s.stats()
	}
	WriteJSON(w, http.StatusOK, v)
}

func (s *Server) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	if s.metrics != nil {
		s.metrics.WritePrometheus(w)
	}
	metrics.WriteProcessMetrics(w)
}

// WriteJSON writes v as indented JSON with the given status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
