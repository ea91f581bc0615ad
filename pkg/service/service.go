// Package service runs a consthash binary the one way every service runs:
// --config (or its environment variable) and --check-config, a logger from
// the configuration, the service's parts started in order, the admin server,
// SIGHUP for a reload where the service has one, and on SIGINT or SIGTERM an
// ordered stop — the parts in reverse order, each logged with how long it
// took, all within --stop-timeout — before the admin server goes.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/urfave/cli/v2"

	"github.com/consthash/consthash/pkg/admin"
	"github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/logging"
)

// Common is what the runner reads from every service's configuration.
type Common struct {
	LogLevel, LogFormat string
	Admin               admin.Config
	// Summary follows "<file>: ok" in --check-config's answer.
	Summary string
}

// Part is one long-running piece of a service. Run works until ctx is
// cancelled (or it fails), then stops what it owns, sending what it holds,
// and returns; Env.StopContext gives it the stop deadline.
type Part struct {
	Name string
	Run  func(ctx context.Context) error
}

// Service is what a Spec's Build makes of a configuration.
type Service struct {
	Parts   []Part // started in order, stopped in reverse
	Metrics *metrics.Set
	Status  func() (bool, map[string]any) // /ops/status
	Stats   func() any                    // /stats
	Admin   func(*admin.Server)           // adds the service's own admin endpoints (nil: none)
	// Reload applies the configuration file again on SIGHUP (nil: SIGHUP is
	// ignored); an error leaves the running configuration as it was.
	Reload func() error
	// Close releases what Build opened, after every part stopped (nil: none).
	Close func() error
}

// Env is what Build gets besides the configuration.
type Env struct {
	Path        string // the configuration file
	Log         *slog.Logger
	Flags       *cli.Context
	StopTimeout time.Duration
}

// StopContext returns a context that ends at the stop deadline, counted from
// now: a part calls it once its run context is cancelled.
func (e Env) StopContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), e.StopTimeout)
}

// Spec describes a service binary.
type Spec[C any] struct {
	Name, Usage, Description string
	// StopTimeout is --stop-timeout's default.
	StopTimeout time.Duration
	Flags       []cli.Flag // beyond --config, --check-config and --stop-timeout
	Load        func(path string) (C, error)
	Common      func(C) Common
	Build       func(cfg C, env Env) (*Service, error)
}

// Main runs the service and exits: status 1 with the error on stderr when it
// fails to start or stops with an error (through the service's logger, in
// its format, once the configuration is read; plain text before that).
func Main[C any](spec Spec[C]) {
	if err := App(spec, os.Stdout, os.Stderr).Run(os.Args); err != nil {
		var logged loggedError
		if !errors.As(err, &logged) {
			fmt.Fprintf(os.Stderr, "%s: %v\n", spec.Name, err)
		}
		os.Exit(1)
	}
}

// loggedError is an error App already wrote through the service's logger:
// Main does not print it again.
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }

// App is the command line of the service, for Main and for tests.
func App[C any](spec Spec[C], stdout, stderr io.Writer) *cli.App {
	env := "CONSTHASH_" + strings.ToUpper(strings.ReplaceAll(spec.Name, "-", "_")) + "_CONFIG"
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration file", EnvVars: []string{env, "CONSTHASH_CONFIG"}, Required: true},
		&cli.BoolFlag{Name: "check-config", Usage: "validate the configuration and exit"},
		&cli.GenericFlag{Name: "stop-timeout", Value: config.NewDuration(spec.StopTimeout), Usage: "how long a stop may take to send what the service holds (a duration: 30s, 2m)"},
	}, spec.Flags...)
	return &cli.App{
		Name: spec.Name, Usage: spec.Usage, Description: spec.Description, Flags: flags,
		Writer: stdout, ErrWriter: stderr,
		Action: func(c *cli.Context) error {
			path := c.String("config")
			cfg, err := spec.Load(path)
			if err != nil {
				return err
			}
			common := spec.Common(cfg)
			if c.Bool("check-config") {
				fmt.Fprintf(stdout, "%s: ok (%s)\n", path, common.Summary)
				return nil
			}
			log := logging.New(stderr, common.LogLevel, common.LogFormat)
			// Libraries that write through the standard log package (the metrics
			// package's process metrics, for one) log through this logger too, at
			// info: in a JSON-logging container every line stays a JSON object.
			slog.SetDefault(log)
			stopTimeout := c.Generic("stop-timeout").(*config.Duration).D()
			sig := make(chan os.Signal, 4)
			signal.Notify(sig, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(sig)
			err = run(spec.Name, common, log, sig, func() (*Service, error) {
				return spec.Build(cfg, Env{Path: path, Log: log, Flags: c, StopTimeout: stopTimeout})
			}, stopTimeout)
			if err != nil {
				log.Error(spec.Name+" failed", "err", err)
				return loggedError{err}
			}
			return nil
		},
	}
}

// running is a started part.
type running struct {
	part   Part
	cancel context.CancelFunc
	done   chan error
}

// run builds and starts the service, serves until a stop signal or a part's
// failure, and stops it in order. Signals come in on sig (tests send their own).
func run(name string, common Common, log *slog.Logger, sig <-chan os.Signal, build func() (*Service, error), stopTimeout time.Duration) (err error) {
	started := time.Now()
	svc, err := build()
	if err != nil {
		return err
	}
	defer func() {
		if svc.Close != nil {
			if cerr := svc.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("closing %s: %w", name, cerr)
			}
		}
	}()

	failed := make(chan struct{}, len(svc.Parts))
	parts := make([]running, 0, len(svc.Parts))
	for _, p := range svc.Parts {
		ctx, cancel := context.WithCancel(context.Background())
		r := running{part: p, cancel: cancel, done: make(chan error, 1)}
		go func() {
			err := p.Run(ctx)
			if ctx.Err() == nil {
				failed <- struct{}{} // it ended on its own: stop the rest
			}
			r.done <- err
		}()
		parts = append(parts, r)
	}

	var adm *admin.Server
	if svc.Metrics != nil {
		adm = admin.New(name, common.Admin, log, svc.Metrics, svc.Status, svc.Stats)
		if svc.Admin != nil {
			svc.Admin(adm)
		}
		if aerr := adm.Start(); aerr != nil {
			return errors.Join(aerr, stopParts(log, parts, stopTimeout))
		}
	}
	log.Info(name+" started", "took", time.Since(started))

wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				if svc.Reload == nil {
					log.Info("SIGHUP ignored: nothing to reload")
					continue
				}
				if rerr := svc.Reload(); rerr != nil {
					log.Error("reload rejected; the running configuration stays", "err", rerr)
				} else {
					log.Info("configuration reloaded")
				}
				continue
			}
			log.Info("stopping", "signal", s.String())
			break wait
		case <-failed:
			log.Error("a part ended on its own; stopping the rest")
			break wait
		}
	}
	stopStart := time.Now()
	err = stopParts(log, parts, stopTimeout)
	if adm != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if aerr := adm.Shutdown(ctx); aerr != nil {
			err = errors.Join(err, fmt.Errorf("stopping the admin server: %w", aerr))
		}
	}
	log.Info(name+" stopped", "took", time.Since(stopStart), "err", err)
	return err
}

// stopParts cancels the parts in reverse order, waiting for each, within one
// deadline for them all; a part still running then is reported, not waited for.
func stopParts(log *slog.Logger, parts []running, timeout time.Duration) error {
	deadline := time.NewTimer(timeout + time.Second) // the parts' own deadlines end first
	defer deadline.Stop()
	var errs []error
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		start := time.Now()
		p.cancel()
		select {
		case err := <-p.done:
			log.Info("stopped", "part", p.part.Name, "took", time.Since(start), "err", err)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.part.Name, err))
			}
		case <-deadline.C:
			errs = append(errs, fmt.Errorf("%s: %w", p.part.Name, ErrStopTimeout))
			log.Error("part did not stop in time", "part", p.part.Name, "stop_timeout", timeout)
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}

// ErrStopTimeout means a part was still running at the stop deadline.
var ErrStopTimeout = errors.New("did not stop within --stop-timeout")
