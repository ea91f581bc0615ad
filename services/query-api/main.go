// Command query-api serves graphite-web 1.1's HTTP API (render,
// metrics/find, metrics/expand, metrics/index.json, version) over consthash
// storage, for Grafana's graphite datasource.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/urfave/cli/v2"

	"github.com/consthash/consthash/pkg/admin"
	"github.com/consthash/consthash/pkg/httpserver"
	"github.com/consthash/consthash/pkg/logging"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/services/query-api/internal/api"
	"github.com/consthash/consthash/services/query-api/internal/config"
)

func main() {
	app := &cli.App{
		Name:  "query-api",
		Usage: "the Graphite HTTP API (render, metrics/find, functions) over consthash storage",
		Description: "Serves graphite-web 1.1's HTTP API as Grafana's graphite datasource uses it: /render (json, csv, raw,\n" +
			"pickle, msgpack), /metrics/find, /metrics/expand, /metrics/index.json, /functions, /version and the tag\n" +
			"database (/tags, /tags/findSeries, /tags/autoComplete/*); cyanite's /paths and /metrics; and the seed's\n" +
			"find, expand and metrics under base_path. It reads the rollups the writers store (Cassandra, MySQL/MariaDB or\n" +
			"SQLite): the finest resolution whose TTL covers `from`, producers merged, whisper's step fitting and graphite's\n" +
			"maxDataPoints consolidation, with 76 graphite functions (/functions lists them). Configuration reference:\n" +
			"docs/query-api.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration file", EnvVars: []string{"CONSTHASH_QUERY_API_CONFIG", "CONSTHASH_CONFIG"}, Required: true},
			&cli.BoolFlag{Name: "check-config", Usage: "validate the configuration and exit"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "query-api:", err)
		os.Exit(1)
	}
}

func run(c *cli.Context) error {
	path := c.String("config")
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if c.Bool("check-config") {
		fmt.Printf("%s: ok (storage %s)\n", path, cfg.Storage.Driver)
		return nil
	}
	log := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	st, err := store.Open(cfg.Storage)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = st.Init(ctx)
	cancel()
	if err != nil {
		return err
	}
	reader, ok := st.(store.Reader)
	if !ok {
		return fmt.Errorf("storage %s cannot be queried", cfg.Storage.Driver)
	}
	a := api.New(api.Config{Resolutions: cfg.Resolutions, MaxSeries: cfg.MaxSeries, MaxPoints: cfg.MaxPoints,
		MaxFind: cfg.MaxFind, QueryTimeout: cfg.QueryTimeout.D(), Location: cfg.Location, BasePath: cfg.BasePath, ReadConcurrency: cfg.ReadConcurrency,
		Rules: cfg.Rules}, reader, log)
	mux := http.NewServeMux()
	a.Register(mux)
	set := metrics.NewSet()
	stats := api.NewStats(set)
	// Timeouts, header cap, max_concurrent (429 past it) and query_timeout
	// as every request's deadline, body included.
	srv := httpserver.New(cfg.Config, stats.Wrap(mux), log)
	srv.Addr = cfg.Listen
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
		if _, err := reader.Children(ctx, ""); err != nil {
			return false, map[string]any{"storage": cfg.Storage.Driver, "error": err.Error()}
		}
		return true, map[string]any{"storage": cfg.Storage.Driver}
	}
	adm := admin.New("query-api", cfg.Admin, log, set, status, snapshot)
	if err := adm.Start(); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("query-api listening", "addr", cfg.Listen, "storage", cfg.Storage.Driver)
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Info("stopping", "signal", s.String())
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving %s: %w", cfg.Listen, err)
		}
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	err = srv.Shutdown(sctx)
	if aerr := adm.Shutdown(sctx); aerr != nil && err == nil {
		err = aerr
	}
	return err
}
