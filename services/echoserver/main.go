// Command echoserver is consthash's line sink: it receives lines on any mix of
// tcp, udp, unix and http listeners and echoes them to stdout, writes them to
// a file, or counts them.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/services/echoserver/internal/echo"
)

func main() {
	app := &cli.App{
		Name:  "echoserver",
		Usage: "a line sink that echoes or counts what it receives on tcp/udp/unix/http",
		Description: "Receives lines on every listener in --servers. By default echoes each line to stdout. With --count it\n" +
			"prints, every --interval, one line per listener (lines, lines/s, bytes) and on exit a JSON summary on\n" +
			"stdout; --sum adds the total of graphite values per key to that summary. --out writes lines to a file.\n" +
			"It stops by itself after --expect lines or --duration, and cleanly on SIGINT/SIGTERM.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "servers", Value: "tcp://127.0.0.1:6002", Usage: "comma-separated listeners: tcp://host:port, udp://host:port, unix:///path, http://host:port/path"},
			&cli.BoolFlag{Name: "count", Usage: "quiet mode: count lines instead of echoing them"},
			&cli.StringFlag{Name: "out", Usage: "write lines to this file instead of stdout"},
			&cli.BoolFlag{Name: "sum", Usage: "with --count: total graphite values per key in the summary"},
			&cli.Uint64Flag{Name: "expect", Usage: "stop after this many lines (0: no limit)"},
			&cli.GenericFlag{Name: "duration", Value: config.NewDuration(0), Usage: "stop after this long (0: no limit)"},
			&cli.GenericFlag{Name: "interval", Value: config.NewDuration(10 * time.Second), Usage: "with --count: how often to print per-listener counts"},
			&cli.IntFlag{Name: "max-line-length", Value: 32 << 10, Usage: "longer lines are dropped and counted"},
			&cli.StringFlag{Name: "summary-out", Usage: "also write the JSON summary to this file"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "echoserver:", err)
		os.Exit(1)
	}
}

func run(c *cli.Context) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	eps, err := endpoint.ParseList(c.String("servers"))
	if err != nil {
		return fmt.Errorf("--servers: %w", err)
	}
	cfg := echo.Config{Servers: eps, Sum: c.Bool("sum"), Expect: c.Uint64("expect"), MaxLineLength: c.Int("max-line-length")}
	var outFile *os.File
	switch {
	case c.String("out") != "":
		if outFile, err = os.Create(c.String("out")); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		cfg.Out = outFile
	case !c.Bool("count"):
		cfg.Out = os.Stdout
	}
	sink, err := echo.New(cfg, log)
	if err != nil {
		return err
	}
	for _, l := range sink.Listeners() {
		log.Info("listening", "listener", l.Endpoint().String(), "addr", l.Addr().String())
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- sink.Serve() }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var timeout <-chan time.Time
	if d := c.Generic("duration").(*config.Duration).D(); d > 0 {
		timeout = time.After(d)
	}
	var tick <-chan time.Time
	if c.Bool("count") && c.Generic("interval").(*config.Duration).D() > 0 {
		t := time.NewTicker(c.Generic("interval").(*config.Duration).D())
		defer t.Stop()
		tick = t.C
	}
	var prev []uint64
	last := time.Now()
	var stopErr error
loop:
	for {
		select {
		case now := <-tick:
			prev = sink.Report(os.Stdout, prev, now.Sub(last))
			last = now
		case s := <-sig:
			log.Info("stopping", "signal", s.String())
			break loop
		case <-timeout:
			log.Info("stopping", "reason", "duration reached")
			break loop
		case <-sink.Done():
			log.Info("stopping", "reason", "expected lines arrived")
			break loop
		case stopErr = <-serveErr:
			break loop
		}
	}
	if err := sink.Close(); err != nil && stopErr == nil {
		stopErr = err
	}
	if outFile != nil {
		if err := outFile.Close(); err != nil && stopErr == nil {
			stopErr = err
		}
	}
	if c.Bool("count") || c.String("summary-out") != "" {
		sum := sink.Summary()
		if c.Bool("count") {
			if err := writeJSON(os.Stdout, sum); err != nil && stopErr == nil {
				stopErr = err
			}
		}
		if p := c.String("summary-out"); p != "" {
			f, err := os.Create(p)
			if err == nil {
				err = writeJSON(f, sum)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil && stopErr == nil {
				stopErr = fmt.Errorf("--summary-out: %w", err)
			}
		}
	}
	return stopErr
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
