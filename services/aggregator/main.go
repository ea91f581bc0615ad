// Command aggregator is consthash's aggregator: statsd and graphite accumulation with wall-clock flushes and multi-resolution rollups.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:        "aggregator",
		Usage:       "statsd and graphite accumulation with wall-clock flushes and multi-resolution rollups",
		Description: "Accumulates statsd and graphite lines from NATS shard subjects or its own listeners, flushes on wall-clock multiples, re-emits lines to a backend and publishes rollups on NATS JetStream.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration file", EnvVars: []string{"CONSTHASH_CONFIG"}},
			&cli.BoolFlag{Name: "check-config", Usage: "validate the configuration and exit"},
		},
		Action: func(*cli.Context) error {
			return cli.Exit("aggregator: not implemented yet (see the status table in README.md)", 2)
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
