// Command relay is consthash's consistent-hashing line relay: a drop-in for
// carbon-relay.py, carbon-c-relay and statsd's proxy.js that does not lose
// lines by default.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/consthash/consthash/pkg/service"
	"github.com/consthash/consthash/services/relay/internal/config"
	"github.com/consthash/consthash/services/relay/internal/relay"
)

func main() {
	service.Main(service.Spec[*config.Config]{
		Name:  "relay",
		Usage: "the consistent-hashing line relay (carbon-relay.py, carbon-c-relay and statsd proxy.js compatible)",
		Description: "Listens on tcp, udp, unix and http for graphite, statsd or regex-keyed lines, applies each section's\n" +
			"pre-routing rules (prefix, substring, regex; route or reject) and forwards each key by consistent hashing\n" +
			"(carbon_ch, carbon_fnv1a_ch, carbon_c_ch, fnv1a_ch, jump_fnv1a_ch, statsd, murmur3, crc32, fnv1a) or to\n" +
			"forward, any_of, failover or blackhole clusters, with replication, health checks and bounded queues that\n" +
			"push back on senders before they drop. SIGHUP reloads the configuration; SIGINT/SIGTERM stop after the\n" +
			"queues are sent (up to --stop-timeout). Configuration reference: docs/relay.md.",
		StopTimeout: 30 * time.Second,
		Load:        config.Load,
		Common: func(c *config.Config) service.Common {
			return service.Common{LogLevel: c.Log.Level, LogFormat: c.Log.Format, Admin: c.Admin,
				Summary: fmt.Sprintf("%d sections", len(c.Sections))}
		},
		Build: build,
	})
}

// build makes the relay (its listeners are bound and read from here on) and
// its one part: health checks and self-metrics until the stop, then the
// listeners closed and the queues sent within the stop deadline.
func build(cfg *config.Config, env service.Env) (*service.Service, error) {
	r, err := relay.New(cfg, env.Log)
	if err != nil {
		return nil, err
	}
	return &service.Service{
		Parts: []service.Part{{Name: "relay", Run: func(ctx context.Context) error {
			r.Start()
			<-ctx.Done()
			sctx, cancel := env.StopContext()
			defer cancel()
			return r.Close(sctx)
		}}},
		Metrics: r.Metrics, Status: r.Healthy, Stats: func() any { return r.Stats() },
		Admin: r.AdminRoutes,
		Reload: func() error {
			ncfg, err := config.Load(env.Path)
			if err != nil {
				return err
			}
			if err := r.Reload(ncfg); err != nil {
				return err
			}
			env.Log.Info("sections", "config", env.Path, "sections", len(ncfg.Sections))
			return nil
		},
	}, nil
}
