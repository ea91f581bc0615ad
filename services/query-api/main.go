// Command query-api serves graphite-web 1.1's HTTP API (render,
// metrics/find, metrics/expand, metrics/index.json, version) over consthash
// storage, for Grafana's graphite datasource.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/admin"
	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/httpserver"
	"github.com/consthash/consthash/pkg/service"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/services/query-api/internal/api"
	"github.com/consthash/consthash/services/query-api/internal/config"
	"github.com/consthash/consthash/services/query-api/internal/pathindex"
	"github.com/consthash/consthash/services/query-api/internal/recent"
)

func main() {
	service.Main(service.Spec[*config.Config]{
		Name:  "query-api",
		Usage: "the Graphite HTTP API (render, metrics/find, functions) over consthash storage",
		Description: "Serves graphite-web 1.1's HTTP API as Grafana's graphite datasource uses it: /render (json, csv, raw,\n" +
			"pickle, msgpack), /metrics/find, /metrics/expand, /metrics/index.json, /functions, /version and the tag\n" +
			"database (/tags, /tags/findSeries, /tags/autoComplete/*); cyanite's /paths and /metrics; and the seed's\n" +
			"find, expand and metrics under base_path. It reads the rollups the writers store (Cassandra, MySQL/MariaDB or\n" +
			"SQLite): the finest resolution whose TTL covers `from`, producers merged, whisper's step fitting and graphite's\n" +
			"maxDataPoints consolidation, with 77 graphite functions (/functions lists them). Configuration reference:\n" +
			"docs/query-api.md.",
		StopTimeout: 10 * time.Second,
		Load:        config.Load,
		Common: func(c *config.Config) service.Common {
			return service.Common{LogLevel: c.Log.Level, LogFormat: c.Log.Format, Admin: c.Admin, Summary: "storage " + c.Storage.Driver}
		},
		Build: build,
	})
}

// build opens the store (creating its schema), binds the API's address and
// returns the HTTP server as the one part: it serves until the stop, then
// finishes the requests in flight within the stop deadline.
func build(cfg *config.Config, env service.Env) (svc *service.Service, err error) {
	log := env.Log
	st, err := store.Open(cfg.Storage)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = st.Init(ctx)
	cancel()
	if err != nil {
		return nil, err
	}
	reader, ok := st.(store.Reader)
	if !ok {
		return nil, fmt.Errorf("storage %s cannot be queried", cfg.Storage.Driver)
	}
	events, _ := st.(store.EventStore) // every queryable store keeps events
	if events != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = events.InitEvents(ctx)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	set := metrics.NewSet()
	stored := reader
	var conns []*nats.Conn
	closeAll := func() error {
		for _, nc := range conns {
			nc.Close()
		}
		return st.Close()
	}
	connect := func(url, what string) (*nats.Conn, error) {
		nc, err := nats.Connect(url, nats.Name("consthash-query-api"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))
		if err != nil {
			return nil, fmt.Errorf("cannot connect to NATS at %s for %s: %w", url, what, err)
		}
		conns = append(conns, nc)
		return nc, nil
	}
	defer func() {
		if err != nil {
			for _, nc := range conns {
				nc.Close()
			}
		}
	}()
	// The path index answers listings (finds, globs) from memory, under
	// the recent points' reader.
	var index *pathindex.Index
	var parts []service.Part
	if pi := cfg.PathIndex; pi.Enabled {
		index = pathindex.New(reader, pi.MaxPaths, pi.Queue, set, log)
		reader = index
		if url := cmp.Or(pi.NATS, cfg.Recent.NATS); url != "" {
			nc, err := connect(url, "new paths")
			if err != nil {
				return nil, err
			}
			if _, err := nc.Subscribe(bus.IndexSubject, func(m *nats.Msg) { index.Announce(m.Data) }); err != nil {
				return nil, fmt.Errorf("subscribing to %s: %w", bus.IndexSubject, err)
			}
		} else {
			log.Warn("path index without NATS: new paths are found only after a reload", "reload_interval", pi.ReloadInterval.D().String())
		}
		parts = append(parts, service.Part{Name: "path-index", Run: func(ctx context.Context) error {
			index.Run(ctx, pi.ReloadInterval.D())
			return nil
		}})
	}
	var rr *recent.Reader
	if cfg.Recent.NATS != "" {
		nc, err := connect(cfg.Recent.NATS, "recent points")
		if err != nil {
			return nil, err
		}
		rr = recent.New(reader, nc, cfg.Recent.Shards, cfg.Recent.Timeout.D(), set, log)
		reader = rr
	}
	a := api.New(api.Config{Resolutions: cfg.Resolutions, MaxSeries: cfg.MaxSeries, MaxPoints: cfg.MaxPoints,
		MaxFind: cfg.MaxFind, QueryTimeout: cfg.QueryTimeout.D(), Location: cfg.Location, BasePath: cfg.BasePath, ReadConcurrency: cfg.ReadConcurrency,
		Rules: cfg.Rules, MaxRequestPoints: cfg.MaxRequestPoints, MaxPointsInFlight: cfg.MaxPointsInFlight, MaxDepth: cfg.MaxDepth, Metrics: set,
		Events: events, MaxEvents: cfg.MaxEvents, EventsPostOpen: cfg.EventsPostOpen}, reader, log)
	mux := http.NewServeMux()
	a.Register(mux)
	stats := api.NewStats(set)
	stats.Section("limits", a.LimitStats)
	stats.Section("events", a.EventStats)
	if rr != nil {
		stats.Section("recent", rr.Stats)
	}
	if index != nil {
		stats.Section("path_index", index.Stats)
	}
	// Timeouts, header cap, max_concurrent (429 past it) and query_timeout
	// as every request's deadline, body included.
	srv := httpserver.New(cfg.Config, stats.Wrap(mux), log)
	srv.Register(set, "query")
	snapshot := func() any {
		s := stats.Snapshot()
		if m, ok := s.(map[string]any); ok {
			m["http"] = srv.Snapshot()
		}
		return s
	}
	// Healthy while the store answers a listing of the roots.
	status := func() (bool, map[string]any) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := stored.Children(ctx, ""); err != nil { // the store's, not the path index's
			return false, map[string]any{"storage": cfg.Storage.Driver, "error": err.Error()}
		}
		info := map[string]any{"storage": cfg.Storage.Driver}
		if index != nil {
			info["path_index"] = index.State()
		}
		return true, info
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", cfg.Listen, err)
	}
	log.Info("query-api listening", "addr", ln.Addr().String(), "storage", cfg.Storage.Driver)
	return &service.Service{
		Parts: append(parts, service.Part{Name: "http", Run: func(ctx context.Context) error {
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return fmt.Errorf("serving %s: %w", cfg.Listen, err)
			case <-ctx.Done():
			}
			sctx, cancel := env.StopContext()
			defer cancel()
			err := srv.Shutdown(sctx)
			if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
				err = serr
			}
			return err
		}}),
		Metrics: set, Status: status, Stats: snapshot,
		// Deleting an event, and posting one when events_post_open is
		// false, needs the admin token.
		Admin: func(s *admin.Server) {
			s.HandleMutating("POST /events/", a.PostEvent)
			s.HandleMutating("DELETE /events/{id}", a.DeleteEvent)
		},
		Close: closeAll,
	}, nil
}
