// Command query-api is consthash's query-api: the Graphite HTTP API (render, metrics/find, functions) over consthash storage.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:        "query-api",
		Usage:       "the Graphite HTTP API (render, metrics/find, functions) over consthash storage",
		Description: "Serves /render, /metrics/find, /metrics/expand, /functions, /version and the tag endpoints as graphite-web 1.1 does, for Grafana's graphite datasource.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration file", EnvVars: []string{"CONSTHASH_CONFIG"}},
			&cli.BoolFlag{Name: "check-config", Usage: "validate the configuration and exit"},
		},
		Action: func(*cli.Context) error {
			return cli.Exit("query-api: not implemented yet (see the status table in README.md)", 2)
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
