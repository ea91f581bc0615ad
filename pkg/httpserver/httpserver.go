// Package httpserver builds the HTTP servers consthash exposes (query-api,
// every admin port, the relay's http listeners) with the same protections:
// deadlines for reading a request's header and body, for writing its answer
// and for idle keep-alive connections, a cap on header bytes, and a cap on
// requests in flight past which requests are answered 429 and counted.
// Without them a client that opens connections and never finishes a request
// keeps a goroutine and a socket forever.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/consthash/consthash/pkg/config"
)

// Config is one server's limits. Its TOML keys sit directly in the section
// that embeds it (the struct is embedded without a key).
type Config struct {
	// ReadHeaderTimeout bounds reading a request's line and headers, from
	// the moment the server starts reading the request (on a kept-alive
	// connection, when its first bytes arrive) to the blank line.
	ReadHeaderTimeout config.Duration `toml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included, from its
	// first byte. 0: no bound beyond RequestTimeout.
	ReadTimeout config.Duration `toml:"read_timeout"`
	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its answer, so it must cover reading the body and the
	// handler's work too (net/http starts it when the headers are read).
	// 0: none.
	WriteTimeout config.Duration `toml:"write_timeout"`
	// IdleTimeout is how long a kept-alive connection may wait for its next
	// request before it is closed.
	IdleTimeout config.Duration `toml:"idle_timeout"`
	// MaxHeaderBytes caps the request line and headers; past it the server
	// answers 431.
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// MaxConcurrent caps requests served at once; one more is answered 429
	// at once (with Retry-After: 1) and counted as busy.
	MaxConcurrent int `toml:"max_concurrent"`
	// RequestTimeout, when positive, is a deadline for the whole request
	// from the moment its headers are read: the handler's context ends then
	// and reading the body fails then. Services set it from their own
	// option (query-api's query_timeout); it has no TOML key of its own.
	RequestTimeout time.Duration `toml:"-"`
}

// Validate checks the limits; errors name the key and the value.
func (c Config) Validate() error {
	for _, d := range []struct {
		key string
		v   config.Duration
	}{{"read_header_timeout", c.ReadHeaderTimeout}, {"idle_timeout", c.IdleTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("%s must be positive, got %v", d.key, d.v)
		}
	}
	if c.ReadTimeout < 0 || c.WriteTimeout < 0 {
		return fmt.Errorf("read_timeout (%v) and write_timeout (%v) cannot be negative", c.ReadTimeout, c.WriteTimeout)
	}
	if c.MaxHeaderBytes < 1024 {
		return fmt.Errorf("max_header_bytes must be at least 1024, got %d", c.MaxHeaderBytes)
	}
	if c.MaxConcurrent <= 0 {
		return fmt.Errorf("max_concurrent must be positive, got %d", c.MaxConcurrent)
	}
	if c.WriteTimeout > 0 && c.ReadTimeout > 0 && c.WriteTimeout <= c.ReadTimeout {
		return fmt.Errorf("write_timeout (%v) must be longer than read_timeout (%v): it starts when the headers are read and covers reading the body", c.WriteTimeout, c.ReadTimeout)
	}
	if c.WriteTimeout > 0 && c.RequestTimeout > 0 && c.WriteTimeout.D() <= c.RequestTimeout {
		return fmt.Errorf("write_timeout (%v) must be longer than the request timeout (%v), or answers to slow requests are cut off", c.WriteTimeout, c.RequestTimeout)
	}
	return nil
}

// Stats counts what a Server did. Fields are safe to read while it runs.
type Stats struct {
	Requests    atomic.Uint64 // requests admitted past the cap
	Busy        atomic.Uint64 // requests answered 429 because MaxConcurrent were in flight
	TimedOut    atomic.Uint64 // admitted requests whose RequestTimeout passed before the handler returned
	InFlight    atomic.Int64  // requests being served now
	Connections atomic.Int64  // connections open now
	Accepted    atomic.Uint64 // connections accepted
}

// Server is an *http.Server with the limits of a Config and its Stats.
type Server struct {
	*http.Server
	Stats
	cfg Config
	sem chan struct{}
}

// New returns a server for h with cfg's limits (cfg must have passed
// Validate). Serve it with its Serve method (the *http.Server's).
func New(cfg Config, h http.Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent)}
	s.Server = &http.Server{
		Handler:           s.wrap(h),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.ReadTimeout.D(),
		WriteTimeout:      cfg.WriteTimeout.D(),
		IdleTimeout:       cfg.IdleTimeout.D(),
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ConnState:         s.connState,
		// net/http logs TLS handshake and accept errors here; slow or
		// broken clients are not worth more than debug.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s
}

// Config returns the limits the server was built with.
func (s *Server) Config() Config { return s.cfg }

func (s *Server) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.Accepted.Add(1)
		s.Connections.Add(1)
	case http.StateClosed, http.StateHijacked:
		s.Connections.Add(-1)
	}
}

// wrap puts the request deadline outside the cap, so that even a request
// refused 429 cannot keep its connection by sending its body slowly: net/http
// reads what is left of a body after the handler to reuse the connection.
func (s *Server) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := s.cfg.RequestTimeout; d > 0 {
			deadline := time.Now().Add(d)
			ctx, cancel := context.WithDeadline(r.Context(), deadline)
			// At the deadline, a read of the body blocked on a slow client
			// fails too. The read deadline is set only once the context has
			// expired: set ahead, it would also end net/http's background
			// read and cancel the request's context as "canceled" first.
			rc := http.NewResponseController(w)
			fired := make(chan struct{})
			stop := context.AfterFunc(ctx, func() {
				defer close(fired)
				_ = rc.SetReadDeadline(time.Now()) // an error: the writer cannot (a test recorder)
			})
			defer func() {
				if !stop() {
					<-fired
				}
				// A handler that returns without reading the whole body (a
				// 429, an error) leaves net/http to read the rest to reuse
				// the connection: that read keeps the request's deadline.
				// net/http sets the next request's deadlines afterwards.
				_ = rc.SetReadDeadline(deadline)
				cancel()
			}()
			r = r.WithContext(ctx)
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.Busy.Add(1)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests in flight (max_concurrent "+strconv.Itoa(s.cfg.MaxConcurrent)+"): retry later", http.StatusTooManyRequests)
			return
		}
		s.Requests.Add(1)
		s.InFlight.Add(1)
		defer func() {
			s.InFlight.Add(-1)
			<-s.sem
		}()
		h.ServeHTTP(w, r)
		if errors.Is(r.Context().Err(), context.DeadlineExceeded) {
			s.TimedOut.Add(1)
		}
	})
}

// Snapshot returns the counters for a /stats document.
func (s *Server) Snapshot() map[string]any {
	return map[string]any{"requests": s.Requests.Load(), "busy": s.Busy.Load(), "timed_out": s.TimedOut.Load(),
		"in_flight": s.InFlight.Load(), "connections_open": s.Connections.Load(), "connections": s.Accepted.Load(),
		"max_concurrent": s.cfg.MaxConcurrent}
}

// Register exports the counters into set as consthash_http_* series labelled
// server=name (a fixed name per server: "query", "admin", a listener).
// Registering the same name twice keeps the first registration's series:
// a server replaced under the same name is registered through RegisterFunc.
func (s *Server) Register(set *metrics.Set, name string) {
	RegisterFunc(set, name, func() *Server { return s })
}

// RegisterFunc is Register for the server get returns at each scrape (nil:
// none now, every series reads 0), for servers that come and go under one
// name, such as a listener removed and added back by reloads.
func RegisterFunc(set *metrics.Set, name string, get func() *Server) {
	l := fmt.Sprintf(`{server=%q}`, name)
	g := func(metric string, f func(s *Server) float64) {
		set.GetOrCreateGauge("consthash_http_"+metric+l, func() float64 {
			if s := get(); s != nil {
				return f(s)
			}
			return 0
		})
	}
	g("requests_total", func(s *Server) float64 { return float64(s.Requests.Load()) })
	g("requests_busy_total", func(s *Server) float64 { return float64(s.Busy.Load()) })
	g("requests_timed_out_total", func(s *Server) float64 { return float64(s.TimedOut.Load()) })
	g("requests_in_flight", func(s *Server) float64 { return float64(s.InFlight.Load()) })
	g("connections_open", func(s *Server) float64 { return float64(s.Connections.Load()) })
	g("connections_total", func(s *Server) float64 { return float64(s.Accepted.Load()) })
	g("max_concurrent", func(s *Server) float64 { return float64(s.cfg.MaxConcurrent) })
}
