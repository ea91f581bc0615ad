// Command aggregator is consthash's accumulator tier: statsd and graphite
// lines in (NATS shard subjects and its own listeners), flushes on
// wall-clock multiples, lines out to a backend and rollups of every
// resolution on NATS JetStream.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/consthash/consthash/pkg/service"
	"github.com/consthash/consthash/services/aggregator/internal/agg"
	"github.com/consthash/consthash/services/aggregator/internal/config"
)

func main() {
	service.Main(service.Spec[*config.Config]{
		Name:  "aggregator",
		Usage: "statsd and graphite accumulation with wall-clock flushes and multi-resolution rollups",
		Description: "Accumulates statsd lines with Etsy statsd 0.9.0's semantics and names, and graphite lines by arrival\n" +
			"time, from NATS subjects consthash.lines.<shard> (as relays publish them) and its own tcp/udp listeners.\n" +
			"Every base interval (the first of `times`), on a wall-clock multiple, it re-emits the flushed lines to\n" +
			"output.lines and publishes rollups (sum, min, max, count, last) of every resolution to the JetStream\n" +
			"stream CONSTHASH_ROLLUPS. SIGINT/SIGTERM flush the open bin and publish everything before exiting.\n" +
			"Configuration reference: docs/aggregator.md.",
		StopTimeout: 30 * time.Second,
		Load:        config.Load,
		Common: func(c *config.Config) service.Common {
			return service.Common{LogLevel: c.Log.Level, LogFormat: c.Log.Format, Admin: c.Admin, Summary: fmt.Sprintf("times %v", c.Times)}
		},
		Build: func(cfg *config.Config, env service.Env) (*service.Service, error) {
			a, err := agg.New(cfg, env.Log)
			if err != nil {
				return nil, err
			}
			env.Log.Info("aggregating", "source", a.Source, "times", cfg.Times, "listeners", len(cfg.Listeners), "nats", cfg.NATS.URL)
			return &service.Service{
				// At the stop: the open bin is flushed and every rollup published, within the deadline.
				Parts: []service.Part{{Name: "aggregator", Run: func(ctx context.Context) error {
					a.Start()
					<-ctx.Done()
					sctx, cancel := env.StopContext()
					defer cancel()
					return a.Close(sctx)
				}}},
				Metrics: a.Metrics, Status: a.Healthy, Stats: func() any { return a.Stats() },
			}, nil
		},
	})
}
