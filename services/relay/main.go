// Command relay is consthash's relay: the consistent-hashing line relay (carbon-relay.py, carbon-c-relay and statsd proxy.js compatible).
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:        "relay",
		Usage:       "the consistent-hashing line relay (carbon-relay.py, carbon-c-relay and statsd proxy.js compatible)",
		Description: "Listens on tcp, udp, unix and http for graphite, statsd or regex-keyed lines, applies pre-routing rules and forwards each key by consistent hashing to its backends, with replication, health checks and bounded outbound queues.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration file", EnvVars: []string{"CONSTHASH_CONFIG"}},
			&cli.BoolFlag{Name: "check-config", Usage: "validate the configuration and exit"},
		},
		Action: func(*cli.Context) error {
			return cli.Exit("relay: not implemented yet (see the status table in README.md)", 2)
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
