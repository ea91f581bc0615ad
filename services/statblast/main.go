// Command statblast is consthash's statblast: a bounded statsd/graphite load generator with exact expected aggregates.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:        "statblast",
		Usage:       "a bounded statsd/graphite load generator with exact expected aggregates",
		Description: "Sends statsd or graphite lines to any listener at a bounded count or duration and reports what it sent.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration file", EnvVars: []string{"CONSTHASH_CONFIG"}},
			&cli.BoolFlag{Name: "check-config", Usage: "validate the configuration and exit"},
		},
		Action: func(*cli.Context) error {
			return cli.Exit("statblast: not implemented yet (see the status table in README.md)", 2)
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
