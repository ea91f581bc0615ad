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
		Description: "A durable pull consumer on the rollup stream, shared by every writer instance (scale with\n" +
			"--scale writer=N). Batches messages, writes their points (one row per path, resolution, time and producer;\n" +
			"a newer version of a point replaces an older one, never the reverse), and acknowledges a message only after\n" +
			"its rows are stored. Storage errors send messages back with back-off; what cannot be decoded or stored after\n" +
			"max_deliver tries goes to the dead-letter subject with the reason. Configuration reference: docs/writer.md.",
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
			env.Log.Info("consuming", "storage", cfg.Storage.Driver, "stream", cfg.Stream, "consumer", cfg.Durable)
			return &service.Service{
				// Run stops fetching when its context ends; the batch in hand is stored and acknowledged first.
				Parts:   []service.Part{{Name: "consumer", Run: w.Run}},
				Metrics: w.Metrics, Status: w.Healthy, Stats: func() any { return w.Stats() },
				Close: w.Close,
			}, nil
		},
	})
}
