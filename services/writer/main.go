// Command writer is consthash's writer: consumes rollups from NATS JetStream and stores them in Cassandra, MySQL/MariaDB, SQLite or files.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:        "writer",
		Usage:       "consumes rollups from NATS JetStream and stores them in Cassandra, MySQL/MariaDB, SQLite or files",
		Description: "A durable JetStream pull consumer that batches rollups into storage, maintains the path index, and acknowledges only what is stored.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration file", EnvVars: []string{"CONSTHASH_CONFIG"}},
			&cli.BoolFlag{Name: "check-config", Usage: "validate the configuration and exit"},
		},
		Action: func(*cli.Context) error {
			return cli.Exit("writer: not implemented yet (see the status table in README.md)", 2)
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
