// Command statblast is consthash's bounded load generator: it sends statsd or
// graphite lines to any listener and reports what it sent, optionally with the
// exact expected aggregates per key.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/services/statblast/internal/blast"
)

func main() {
	app := &cli.App{
		Name:  "statblast",
		Usage: "a bounded statsd/graphite load generator with exact expected aggregates",
		Description: "Sends deterministic statsd or graphite lines to every URL in --servers from --forks senders, each with\n" +
			"its own connection, until --count lines or --duration (whichever comes first). Every key belongs to one\n" +
			"fork, so its lines arrive in order. Prints a summary; --expect-out writes the exact aggregates of what was\n" +
			"sent (counter sums after sample rates, timer count/sum/min/max, last gauge, set cardinality, graphite\n" +
			"count/sum/min/max/last per key) as JSON.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "servers", Value: "udp://127.0.0.1:8125", Usage: "comma-separated destinations: tcp://host:port, udp://host:port, unix:///path, http://host:port/path"},
			&cli.StringFlag{Name: "type", Value: "statsd", Usage: "line type: statsd or graphite"},
			&cli.IntFlag{Name: "forks", Value: 1, Usage: "concurrent senders"},
			&cli.Uint64Flag{Name: "count", Usage: "lines to send in all (0: bounded by --duration only)"},
			&cli.GenericFlag{Name: "duration", Value: config.NewDuration(0), Usage: "longest run (0: bounded by --count only)"},
			&cli.GenericFlag{Name: "rate", Value: config.NewDuration(0), Usage: "pause between two sends of one fork (0: as fast as possible)"},
			&cli.IntFlag{Name: "lines-per-sec", Usage: "target send rate over all forks, kept by schedule (0: no target)"},
			&cli.IntFlag{Name: "buffer", Value: 1400, Usage: "bytes per send; lines are never split across sends"},
			&cli.IntFlag{Name: "keys", Value: 100, Usage: "distinct keys"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "PRNG seed: the same seed sends the same lines"},
			&cli.StringFlag{Name: "prefix", Value: "statblast", Usage: "key prefix"},
			&cli.StringFlag{Name: "mix", Value: "c:4,ms:2,g:1,s:1", Usage: "statsd: weights of counters, timers, gauges and sets among the keys"},
			&cli.BoolFlag{Name: "cycle", Usage: "each fork sends its keys in turn, not at random: every key is sent once in every --keys lines"},
			&cli.BoolFlag{Name: "sample-rates", Usage: "statsd: a quarter of counter and timer lines carry |@0.5, |@0.25 or |@0.1"},
			&cli.BoolFlag{Name: "replay", Usage: "each fork renders its lines once (up to --replay-bytes) and writes them over and over in --buffer chunks: a line costs a copy, not its formatting (for benchmarks)"},
			&cli.IntFlag{Name: "replay-bytes", Value: blast.DefaultReplayBytes, Usage: "--replay: bytes of lines each fork renders"},
			&cli.StringFlag{Name: "expect-out", Usage: "write the exact expected aggregates of what was sent to this JSON file"},
			&cli.BoolFlag{Name: "json", Usage: "print the summary as JSON"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "statblast:", err)
		os.Exit(1)
	}
}

func run(c *cli.Context) error {
	eps, err := endpoint.ParseList(c.String("servers"))
	if err != nil {
		return fmt.Errorf("--servers: %w", err)
	}
	mix, err := blast.ParseMix(c.String("mix"))
	if err != nil {
		return fmt.Errorf("--mix: %w", err)
	}
	cfg := blast.Config{
		Servers: eps, Type: blast.Type(c.String("type")), Forks: c.Int("forks"), Count: c.Uint64("count"),
		Duration: c.Generic("duration").(*config.Duration).D(), Rate: c.Generic("rate").(*config.Duration).D(), LinesPerSec: c.Int("lines-per-sec"), Buffer: c.Int("buffer"), Keys: c.Int("keys"),
		Seed: c.Uint64("seed"), Prefix: c.String("prefix"), Mix: mix, SampleRates: c.Bool("sample-rates"), Cycle: c.Bool("cycle"),
		Replay: c.Bool("replay"), ReplayBytes: c.Int("replay-bytes"),
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, runErr := blast.Run(ctx, cfg)
	if res == nil {
		return runErr
	}
	if c.Bool("json") {
		if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Printf("sent %d lines, %d bytes in %d sends (%d errors) in %.3fs: %.0f lines/s, cpu %.3fs (%.3fs sending)\n",
			res.Lines, res.Bytes, res.Sends, res.SendErrors, res.Seconds, res.LinesPerSec(), res.CPUSeconds, res.SendCPU)
	}
	if p := c.String("expect-out"); p != "" {
		b, err := json.MarshalIndent(res.Expected, "", "  ")
		if err == nil {
			err = os.WriteFile(p, append(b, '\n'), 0o644)
		}
		if err != nil {
			return fmt.Errorf("--expect-out: %w", err)
		}
	}
	return runErr
}
