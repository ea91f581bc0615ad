// Command echoserver is consthash's echoserver: a line sink that echoes or counts what it receives on tcp/udp/unix/http.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:        "echoserver",
		Usage:       "a line sink that echoes or counts what it receives on tcp/udp/unix/http",
		Description: "Receives lines on any mix of listeners and echoes them to stdout, counts them per listener, or writes them to a file.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration file", EnvVars: []string{"CONSTHASH_CONFIG"}},
			&cli.BoolFlag{Name: "check-config", Usage: "validate the configuration and exit"},
		},
		Action: func(*cli.Context) error {
			return cli.Exit("echoserver: not implemented yet (see the status table in README.md)", 2)
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
