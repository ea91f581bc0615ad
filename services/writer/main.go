// Command writer is consthash's storage tier: a durable JetStream consumer,
// shared by every writer instance, that stores rollups in SQLite,
// MySQL/MariaDB or files and acknowledges only what is stored.
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
	"github.com/consthash/consthash/pkg/logging"
	"github.com/consthash/consthash/services/writer/internal/config"
	"github.com/consthash/consthash/services/writer/internal/writer"
)

func main() {
	app := &cli.App{
		Name:  "writer",
		Usage: "consumes rollups from NATS JetStream and stores them in Cassandra, MySQL/MariaDB, SQLite or files",
		Description: "A durable pull consumer on the rollup stream, shared by every writer instance (scale with\n" +
			"--scale writer=N). Batches messages, writes their points (one row per path, resolution, time and producer;\n" +
			"a rewrite overwrites), and acknowledges a message only after its rows are stored. Storage errors send\n" +
			"messages back with back-off; what cannot be decoded or stored after max_deliver tries goes to the\n" +
			"dead-letter subject with the reason. Configuration reference: docs/writer.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration file", EnvVars: []string{"CONSTHASH_WRITER_CONFIG", "CONSTHASH_CONFIG"}, Required: true},
			&cli.BoolFlag{Name: "check-config", Usage: "validate the configuration and exit"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	w, err := writer.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer w.Close()
	adm := admin.New("writer", cfg.Admin, log, w.Metrics, w.Healthy, func() any { return w.Stats() })
	if err := adm.Start(); err != nil {
		return err
	}
	log.Info("writer started", "storage", cfg.Storage.Driver, "stream", cfg.Stream, "consumer", cfg.Durable)
	err = w.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log.Info("writer stopped")
	if aerr := adm.Shutdown(sctx); aerr != nil && err == nil {
		err = aerr
	}
	return err
}
