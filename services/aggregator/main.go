// Command aggregator is consthash's accumulator tier: statsd and graphite
// lines in (NATS shard subjects and its own listeners), flushes on
// wall-clock multiples, lines out to a backend and rollups of every
// resolution on NATS JetStream.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/consthash/consthash/pkg/admin"
	pkgconfig "github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/logging"
	"github.com/consthash/consthash/services/aggregator/internal/agg"
	"github.com/consthash/consthash/services/aggregator/internal/config"
)

func main() {
	app := &cli.App{
		Name:  "aggregator",
		Usage: "statsd and graphite accumulation with wall-clock flushes and multi-resolution rollups",
		Description: "Accumulates statsd lines with Etsy statsd 0.9.0's semantics and names, and graphite lines by arrival\n" +
			"time, from NATS subjects consthash.lines.<shard> (as relays publish them) and its own tcp/udp listeners.\n" +
			"Every base interval (the first of `times`), on a wall-clock multiple, it re-emits the flushed lines to\n" +
			"output.lines and publishes rollups (sum, min, max, count, last) of every resolution to the JetStream\n" +
			"stream CONSTHASH_ROLLUPS. SIGINT/SIGTERM flush the open bin and publish everything before exiting.\n" +
			"Configuration reference: docs/aggregator.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration file", EnvVars: []string{"CONSTHASH_AGGREGATOR_CONFIG", "CONSTHASH_CONFIG"}, Required: true},
			&cli.BoolFlag{Name: "check-config", Usage: "validate the configuration and exit"},
			&cli.GenericFlag{Name: "stop-timeout", Value: pkgconfig.NewDuration(30 * time.Second), Usage: "how long a stop may take to publish what it holds"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "aggregator:", err)
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
		fmt.Printf("%s: ok (times %v)\n", path, cfg.Times)
		return nil
	}
	log := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	a, err := agg.New(cfg, log)
	if err != nil {
		return err
	}
	a.Start()
	adm := admin.New("aggregator", cfg.Admin, log, a.Metrics, a.Healthy, func() any { return a.Stats() })
	if err := adm.Start(); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.Generic("stop-timeout").(*pkgconfig.Duration).D())
		defer cancel()
		_ = a.Close(ctx)
		return err
	}
	log.Info("aggregator started", "source", a.Source, "times", cfg.Times, "listeners", len(cfg.Listeners), "nats", cfg.NATS.URL)
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Info("stopping", "signal", s.String())
	stopStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.Generic("stop-timeout").(*pkgconfig.Duration).D())
	defer cancel()
	err = a.Close(ctx)
	log.Info("aggregator stopped: open bin flushed, rollups published", "took", time.Since(stopStart), "err", err)
	if aerr := adm.Shutdown(ctx); aerr != nil && err == nil {
		err = aerr
	}
	return err
}
