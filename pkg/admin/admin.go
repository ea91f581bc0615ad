// Package admin is every consthash service's admin HTTP server: /ops/status,
// /stats (JSON), /metrics (Prometheus text), /debug/pprof, and the service's
// own endpoints.
//
// Endpoints come in three kinds. Open ones (open_paths: /ops/status and
// /metrics unless configured otherwise) answer anyone, as health checks and
// Prometheus expect. Read endpoints (/stats, pprof, a service's Handle) need
// the token or the read_token when either is configured, and a Host header
// that names this server. Mutating endpoints (HandleMutating) always need the
// token: when none is configured, one is generated at start and written to a
// file only the user can read, as Jupyter does, so a web page open in a
// browser on the same host (cross-site requests, DNS rebinding) cannot change
// the service. A token travels only in a header; in the query string or a
// form it is refused, so it never lands in access logs or browser history.
package admin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/pkg/httpserver"
)

// TokenHeader is the header that carries the token besides
// "Authorization: Bearer <token>".
const TokenHeader = "X-Consthash-Token"

// Config is the [admin] section every service has.
type Config struct {
	Listen string `toml:"listen"` // host:port; "" disables the admin server
	// Token guards the mutating endpoints and, when set, the read ones. It
	// is required when Listen is not a loopback address. When empty, a
	// token is generated at start for the mutating endpoints.
	Token string `toml:"token"`
	// ReadToken, when set, opens the read endpoints but not the mutating ones.
	ReadToken string `toml:"read_token"`
	// TokenFile is where a generated token is written (mode 0600); "" is
	// <user config dir>/consthash/<service>-admin-<port>.token.
	TokenFile string `toml:"token_file"`
	// AllowedHosts are further names a request's Host header may carry
	// besides loopback names and addresses and the listen host. "*" turns
	// the check off (only behind a proxy that sets Host itself).
	AllowedHosts []string `toml:"allowed_hosts"`
	// OpenPaths answer without token and Host checks.
	OpenPaths []string `toml:"open_paths"`

	httpserver.Config // read_header_timeout, read_timeout, ... directly in [admin]
}

// Default returns the documented defaults (docs/operations.md) for an admin
// server on listen.
func Default(listen string) Config {
	return Config{Listen: listen, OpenPaths: []string{"/ops/status", "/metrics"},
		Config: httpserver.Config{ReadHeaderTimeout: config.Duration(5 * time.Second), ReadTimeout: config.Duration(30 * time.Second),
			// pprof's profile and trace take 30 s unless told otherwise.
			WriteTimeout: config.Duration(2 * time.Minute), IdleTimeout: config.Duration(2 * time.Minute),
			MaxHeaderBytes: 64 << 10, MaxConcurrent: 32}}
}

// Validate checks the listen address, that a non-loopback listener has a
// token, and the limits. Errors name the key within [admin].
func (c Config) Validate() error {
	if c.Listen == "" {
		return nil
	}
	if err := endpoint.CheckHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %w", err)
	}
	host, _, _ := net.SplitHostPort(c.Listen)
	if !isLoopback(host) && c.Token == "" {
		return fmt.Errorf("listen %q is not a loopback address, so a token is required", c.Listen)
	}
	if c.Token != "" && c.TokenFile != "" {
		return fmt.Errorf("token_file %q is where a generated token goes, and with token set none is generated: set one of them", c.TokenFile)
	}
	if c.ReadToken != "" && c.ReadToken == c.Token {
		return errors.New("read_token must differ from token")
	}
	for _, p := range c.OpenPaths {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("open_paths: %q is not a path", p)
		}
	}
	for _, h := range c.AllowedHosts {
		if h == "" || strings.ContainsAny(h, ":/ ") && net.ParseIP(h) == nil {
			return fmt.Errorf("allowed_hosts: %q is not a host name (no port, no scheme)", h)
		}
	}
	return c.Config.Validate()
}

func isLoopback(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true // RFC 6761: browsers resolve these to loopback themselves
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

// Why a request was refused: the reason label of
// consthash_admin_refused_total and the keys of /stats' admin.refused.
const (
	refusedTokenInURL    = "token_in_url"    // 400: the token was in the query string or a form
	refusedHost          = "foreign_host"    // 403: Host names another server (DNS rebinding)
	refusedOrigin        = "foreign_origin"  // 403: Origin is not this server (a cross-site page)
	refusedNoToken       = "no_token"        // 401
	refusedBadToken      = "bad_token"       // 401
	refusedReadOnlyToken = "read_only_token" // 403: the read_token on a mutating endpoint
)

var refusedReasons = []string{refusedTokenInURL, refusedHost, refusedOrigin, refusedNoToken, refusedBadToken, refusedReadOnlyToken}

type access int

const (
	accessRead access = iota
	accessMutate
)

// Server is the admin HTTP server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	srv     *httpserver.Server
	ln      net.Listener
	started time.Time
	service string
	status  func() (healthy bool, details map[string]any)
	stats   func() any
	metrics *metrics.Set
	own     *metrics.Set // the admin server's own counters

	listenHost  string // the configured listen host, lower case
	anyIP       bool   // listening on 0.0.0.0 or ::, so every address of the host is ours
	hasMutating bool
	token       atomic.Pointer[string] // configured or generated; nil until Start when generated
	tokenFile   string                 // the generated token's file, removed at Shutdown
	refused     map[string]*metrics.Counter
}

// New returns an admin server for service. status reports health for
// /ops/status, stats returns the /stats document, and set holds the
// service's Prometheus metrics (Go runtime and process metrics are added).
func New(service string, cfg Config, log *slog.Logger, set *metrics.Set,
	status func() (bool, map[string]any), stats func() any) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, mux: http.NewServeMux(), started: time.Now(), service: service,
		status: status, stats: stats, metrics: set, own: metrics.NewSet(), refused: map[string]*metrics.Counter{}}
	if host, _, err := net.SplitHostPort(cfg.Listen); err == nil {
		s.listenHost = strings.ToLower(host)
		ip := net.ParseIP(host)
		s.anyIP = host == "" || ip != nil && ip.IsUnspecified()
	}
	if cfg.Token != "" {
		s.token.Store(&cfg.Token)
	}
	for _, r := range refusedReasons {
		s.refused[r] = s.own.NewCounter(fmt.Sprintf(`consthash_admin_refused_total{reason=%q}`, r))
	}
	s.mux.HandleFunc("GET /ops/status", s.guard(accessRead, s.handleStatus))
	s.mux.HandleFunc("GET /stats", s.guard(accessRead, s.handleStats))
	s.mux.HandleFunc("GET /metrics", s.guard(accessRead, s.handleMetrics))
	s.mux.HandleFunc("/debug/pprof/", s.guard(accessRead, pprof.Index))
	s.mux.HandleFunc("/debug/pprof/cmdline", s.guard(accessRead, pprof.Cmdline))
	s.mux.HandleFunc("/debug/pprof/profile", s.guard(accessRead, pprof.Profile))
	s.mux.HandleFunc("/debug/pprof/symbol", s.guard(accessRead, pprof.Symbol))
	s.mux.HandleFunc("/debug/pprof/trace", s.guard(accessRead, pprof.Trace))
	return s
}

// Handle adds a read-only endpoint (pattern as http.ServeMux takes it): it
// needs the token or the read token when one is configured.
func (s *Server) Handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, s.guard(accessRead, h))
}

// HandleMutating adds an endpoint that changes the service: it always needs
// the token (the configured one, or the one generated at Start). Call it
// before Start.
func (s *Server) HandleMutating(pattern string, h http.HandlerFunc) {
	s.hasMutating = true
	s.mux.HandleFunc(pattern, s.guard(accessMutate, h))
}

// maxFormBytes caps a mutating request's body (form fields are short).
const maxFormBytes = 1 << 20

// guard checks a request before h sees it, in this order: a token in the
// URL or a form (400), a foreign Host (403), a foreign Origin (403), then
// the token (401, or 403 for the read token on a mutating endpoint).
func (s *Server) guard(a access, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a == accessRead && slices.Contains(s.cfg.OpenPaths, r.URL.Path) {
			h(w, r)
			return
		}
		if a == accessMutate {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "cannot read the form: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		if r.URL.Query().Has("token") || r.PostForm.Has("token") {
			s.refuse(w, refusedTokenInURL, http.StatusBadRequest,
				"a token in the query string or a form is refused (it would end up in logs and browser history): send it as \"Authorization: Bearer <token>\" or "+TokenHeader)
			return
		}
		if !s.hostAllowed(r.Host) {
			s.refuse(w, refusedHost, http.StatusForbidden,
				fmt.Sprintf("Host %q is not this server: use a loopback address, the listen address or a name in [admin] allowed_hosts", r.Host))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
			s.refuse(w, refusedOrigin, http.StatusForbidden, fmt.Sprintf("Origin %q is not this server (Host %q)", o, r.Host))
			return
		}
		if a == accessRead && s.cfg.Token == "" && s.cfg.ReadToken == "" {
			h(w, r) // no token configured (a generated one guards mutations alone): reads are open, Host checked
			return
		}
		tok := s.token.Load() // nil before Start generated one: nothing matches
		got, ok := requestToken(r)
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="consthash admin"`)
			s.refuse(w, refusedNoToken, http.StatusUnauthorized, "a token is required: send \"Authorization: Bearer <token>\" or "+TokenHeader+" (docs/operations.md says where a generated token is written)")
			return
		case tok != nil && equal(got, *tok):
		case s.cfg.ReadToken != "" && equal(got, s.cfg.ReadToken):
			if a == accessMutate {
				s.refuse(w, refusedReadOnlyToken, http.StatusForbidden, "the read_token cannot change the service")
				return
			}
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="consthash admin", error="invalid_token"`)
			s.refuse(w, refusedBadToken, http.StatusUnauthorized, "the token is not valid")
			return
		}
		h(w, r)
	}
}

func (s *Server) refuse(w http.ResponseWriter, reason string, code int, msg string) {
	s.refused[reason].Inc()
	http.Error(w, msg, code)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// requestToken returns the token of "Authorization: Bearer <t>" or the
// X-Consthash-Token header.
func requestToken(r *http.Request) (string, bool) {
	if t := r.Header.Get(TokenHeader); t != "" {
		return t, true
	}
	const bearer = "bearer "
	if a := r.Header.Get("Authorization"); len(a) > len(bearer) && strings.EqualFold(a[:len(bearer)], bearer) {
		return strings.TrimSpace(a[len(bearer):]), true
	}
	return "", false
}

// hostAllowed is the DNS rebinding check: a page of evil.example whose name
// now resolves to 127.0.0.1 still sends Host: evil.example. IP literals
// cannot be rebound, so with a wildcard listen address every IP is fine.
func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	switch {
	case host == "":
		return false
	case isLoopback(host), host == s.listenHost:
		return true
	case net.ParseIP(host) != nil && s.anyIP:
		return true
	}
	for _, a := range s.cfg.AllowedHosts {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "."), host) {
			return true
		}
	}
	return false
}

// sameOrigin reports whether an Origin header names the server the request
// was sent to (its Host), default ports included.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null" (a sandboxed or file: page) and garbage
	}
	def := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	return canonHostPort(u.Host, def) == canonHostPort(host, def)
}

func canonHostPort(hp, defPort string) string {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		h, p = strings.Trim(hp, "[]"), defPort
	}
	return net.JoinHostPort(strings.ToLower(strings.TrimSuffix(h, ".")), p)
}

// Start binds the listener, writes a generated token if the server has
// mutating endpoints and no configured token, and serves in the
// background. It returns the bind error, so a port in use fails start-up.
func (s *Server) Start() error {
	if s.cfg.Listen == "" {
		return nil
	}
	// A Config not from Default (a zero max_concurrent would answer every
	// request 429) fails here, with the reason, rather than at the first request.
	if err := s.cfg.Validate(); err != nil {
		return fmt.Errorf("admin server: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on admin address %s: %w", s.cfg.Listen, err)
	}
	if s.hasMutating && s.cfg.Token == "" {
		if err := s.generateToken(ln.Addr()); err != nil {
			ln.Close()
			return err
		}
	}
	s.ln = ln
	s.srv = httpserver.New(s.cfg.Config, s.mux, s.log)
	s.srv.Register(s.own, "admin")
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", "err", err)
		}
	}()
	s.log.Info("admin server listening", "addr", ln.Addr().String())
	return nil
}

// generateToken makes a random token and writes it, readable only by the
// user, to the token file: through a new file renamed into place, so it is
// never readable by others, even for a moment, and a reader never sees half.
func (s *Server) generateToken(addr net.Addr) error {
	path := s.cfg.TokenFile
	if path == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return fmt.Errorf("admin: no token is configured and there is nowhere to write a generated one (%w): set [admin] token or token_file", err)
		}
		port := "0"
		if ta, ok := addr.(*net.TCPAddr); ok {
			port = fmt.Sprint(ta.Port)
		}
		path = filepath.Join(dir, "consthash", s.service+"-admin-"+port+".token")
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("admin: generating a token: %w", err)
	}
	tok := hex.EncodeToString(b)
	if err := writePrivate(path, tok+"\n"); err != nil {
		return fmt.Errorf("admin: writing the generated token: %w (set [admin] token or token_file)", err)
	}
	s.token.Store(&tok)
	s.tokenFile = path
	s.log.Info("admin token generated for the mutating endpoints; send it as \"Authorization: Bearer <token>\"", "token_file", path)
	return nil
}

func writePrivate(path, text string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".token-*") // mode 0600
	if err != nil {
		return err
	}
	_, werr := f.WriteString(text)
	if err := errors.Join(werr, f.Chmod(0o600), f.Close()); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// TokenFile returns the path of the generated token's file, "" when the
// token is configured or none was needed.
func (s *Server) TokenFile() string { return s.tokenFile }

// Addr returns the bound address, or nil when disabled.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops the server, waiting for requests in flight until ctx ends,
// and removes a generated token's file: the token dies with the process.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if s.tokenFile != "" {
		if rerr := os.Remove(s.tokenFile); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = fmt.Errorf("removing the admin token file: %w", rerr)
		}
	}
	return err
}

// Handler returns the server's handler (with its access checks, without the
// limits of the HTTP server), for tests.
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

// adminStats is the "admin" member added to the service's /stats document.
func (s *Server) adminStats() map[string]any {
	refused := map[string]uint64{}
	for r, c := range s.refused {
		refused[r] = c.Get()
	}
	m := map[string]any{"refused": refused}
	if s.srv != nil {
		m["http"] = s.srv.Snapshot()
	}
	return m
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	var v any = map[string]any{}
	if s.stats != nil {
		v = s.stats()
	}
	// Add "admin" to the service's document when it is a JSON object.
	if b, err := json.Marshal(v); err == nil {
		var obj map[string]json.RawMessage
		if json.Unmarshal(b, &obj) == nil && obj != nil {
			if a, err := json.Marshal(s.adminStats()); err == nil {
				obj["admin"] = a
				v = obj
			}
		}
	}
	WriteJSON(w, http.StatusOK, v)
}

func (s *Server) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	if s.metrics != nil {
		s.metrics.WritePrometheus(w)
	}
	s.own.WritePrometheus(w)
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
