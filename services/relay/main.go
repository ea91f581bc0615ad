// Command relay is consthash's consistent-hashing line relay: a drop-in for
// carbon-relay.py, carbon-c-relay and statsd's proxy.js that does not lose
// lines by default.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/consthash/consthash/pkg/admin"
	pkgconfig "github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/logging"
	"github.com/consthash/consthash/services/relay/internal/config"
	"github.com/consthash/consthash/services/relay/internal/relay"
)

func main() {
	app := &cli.App{
		Name:  "relay",
		Usage: "the consistent-hashing line relay (carbon-relay.py, carbon-c-relay and statsd proxy.js compatible)",
		Description: "Listens on tcp, udp, unix and http for graphite, statsd or regex-keyed lines, applies each section's\n" +
			"pre-routing rules (prefix, substring, regex; route or reject) and forwards each key by consistent hashing\n" +
			"(carbon_ch, carbon_fnv1a_ch, carbon_c_ch, fnv1a_ch, jump_fnv1a_ch, statsd, murmur3, crc32, fnv1a) or to\n" +
			"forward, any_of, failover or blackhole clusters, with replication, health checks and bounded queues that\n" +
			"push back on senders before they drop. SIGHUP reloads the configuration; SIGINT/SIGTERM stop after the\n" +
			"queues are sent (up to --stop-timeout). Configuration reference: docs/relay.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration file", EnvVars: []string{"CONSTHASH_RELAY_CONFIG", "CONSTHASH_CONFIG"}, Required: true},
			&cli.BoolFlag{Name: "check-config", Usage: "validate the configuration and exit"},
			&cli.GenericFlag{Name: "stop-timeout", Value: pkgconfig.NewDuration(30 * time.Second), Usage: "how long a stop may take to send what is queued"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
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
		fmt.Printf("%s: ok (%d sections)\n", path, len(cfg.Sections))
		return nil
	}
	log := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	started := time.Now()
	r, err := relay.New(cfg, log)
	if err != nil {
		return err
	}
	r.Start()
	adm := admin.New("relay", cfg.Admin, log, r.Metrics, r.Healthy, func() any { return r.Stats() })
	adm.Handle("GET /hashcheck", func(w http.ResponseWriter, req *http.Request) {
		key := req.URL.Query().Get("key")
		if key == "" {
			http.Error(w, "give ?key=<metric key>", http.StatusBadRequest)
			return
		}
		admin.WriteJSON(w, http.StatusOK, map[string]any{"key": key, "sections": r.HashCheck(key)})
	})
	adm.Handle("GET /servers", func(w http.ResponseWriter, _ *http.Request) { admin.WriteJSON(w, http.StatusOK, r.Servers()) })
	adm.HandleMutating("POST /{section}/addserver", func(w http.ResponseWriter, req *http.Request) {
		server := req.FormValue("server")
		if server == "" {
			http.Error(w, "give the form field server=<URL>", http.StatusBadRequest)
			return
		}
		if err := r.AddServer(req.PathValue("section"), server, req.FormValue("check_server"), req.FormValue("hashkey")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "Server %s Added\n", server)
	})
	adm.HandleMutating("POST /{section}/purgeserver", func(w http.ResponseWriter, req *http.Request) {
		server := req.FormValue("server")
		if err := r.PurgeServer(req.PathValue("section"), server); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "Server %s Purged\n", server)
	})
	if err := adm.Start(); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), c.Generic("stop-timeout").(*pkgconfig.Duration).D())
		defer cancel()
		_ = r.Close(stopCtx)
		return err
	}
	log.Info("relay started", "config", path, "sections", len(cfg.Sections), "took", time.Since(started))

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	for s := range sig {
		if s == syscall.SIGHUP {
			ncfg, err := config.Load(path)
			if err == nil {
				err = r.Reload(ncfg)
			}
			if err != nil {
				log.Error("reload rejected; the running configuration stays", "config", path, "err", err)
			} else {
				log.Info("configuration reloaded", "config", path, "sections", len(ncfg.Sections))
			}
			continue
		}
		log.Info("stopping", "signal", s.String())
		break
	}
	stopStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.Generic("stop-timeout").(*pkgconfig.Duration).D())
	defer cancel()
	err = r.Close(ctx)
	log.Info("relay stopped: listeners closed, queues sent", "took", time.Since(stopStart), "err", err)
	if aerr := adm.Shutdown(ctx); aerr != nil && err == nil {
		err = aerr
	}
	return err
}
