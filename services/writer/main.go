// Command writer is consthash's storage tier: a durable JetStream consumer,
// shared by every writer instance, that stores rollups in Cassandra, SQLite,
// MySQL/MariaDB or files and acknowledges only what is stored.
package main

import (
	"context"
	"time"

	"github.com/consthash/consthash/pkg/service"
	"github.com/consthash/consthash/services/writer/internal/config"
	"github.com/consthash/consthash/services/writer/internal/writer"
)

func main() {
	service.Main(service.Spec[*config.Config]{
		Name:  "writer",
		Usage: "consumes rollups from NATS JetStream and stores them in Cassandra, MySQL/MariaDB, SQLite or files",
		Description: "Writers share the rollup shards (scale with --scale writer=N): each shard is read by one writer\n" +
			"through its own durable pull consumer. Points go into open blocks, one per series, resolution, producer and\n" +
			"span, written every persist_interval (a newer version of a point replaces an older one, never the reverse);\n" +
			"a message is acknowledged only after its points are stored. What cannot be decoded goes to the dead-letter\n" +
			"subject with the reason. Configuration reference: docs/writer.md.",
		StopTimeout: 30 * time.Second,
		Load:        config.Load,
		Common: func(c *config.Config) service.Common {
			return service.Common{LogLevel: c.Log.Level, LogFormat: c.Log.Format, Admin: c.Admin, Summary: "storage " + c.Storage.Driver}
		},
		Build: func(cfg *config.Config, env service.Env) (*service.Service, error) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			w, err := writer.New(ctx, cfg, env.Log)
			if err != nil {
				return nil, err
			}
			env.Log.Info("consuming", "storage", cfg.Storage.Driver, "blocks", w.Blocks(), "stream", cfg.Stream, "id", w.ID, "shards", cfg.Shards)
			return &service.Service{
				// Run hands every shard over when its context ends: open blocks are persisted and acknowledged first.
				Parts:   []service.Part{{Name: "consumer", Run: w.Run}},
				Metrics: w.Metrics, Status: w.Healthy, Stats: func() any { return w.Stats() },
				Close: w.Close,
			}, nil
		},
	})
}
