package relay

import (
	"fmt"
	"slices"

	"github.com/consthash/consthash/services/relay/internal/config"
)

// AddServer adds a server to a section's cluster at run time (the seed's
// /<section>/addserver): server is a destination URL (optionally
// "=instance"), check and hashKey are optional. The change lasts until the
// next reload from the file.
func (r *Relay) AddServer(section, server, check, hashKey string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg := r.cfg.Clone()
	s, ok := cfg.Sections[section]
	if !ok {
		return fmt.Errorf("no section named %q", section)
	}
	if slices.Contains(s.Servers, server) {
		return fmt.Errorf("section %s already has server %s", section, server)
	}
	// The same checks as the configuration file's (Validate below), plus:
	// a unix socket added by hand must exist now.
	if err := config.CheckSocketExists(server); err != nil {
		return err
	}
	if check != "" {
		if err := config.CheckSocketExists(check); err != nil {
			return err
		}
	}
	if check != "" && len(s.CheckServers) == 0 {
		s.CheckServers = make([]string, len(s.Servers))
	}
	if hashKey != "" && len(s.HashKeys) == 0 {
		s.HashKeys = make([]string, len(s.Servers))
	}
	s.Servers = append(s.Servers, server)
	if len(s.CheckServers) > 0 {
		s.CheckServers = append(s.CheckServers, check)
	}
	if len(s.HashKeys) > 0 {
		s.HashKeys = append(s.HashKeys, hashKey)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := r.apply(cfg); err != nil {
		return err
	}
	r.log.Info("server added", "section", section, "server", server)
	return nil
}

// PurgeServer removes a server from a section's cluster at run time; what is
// queued for it is still sent (for up to 30 s).
func (r *Relay) PurgeServer(section, server string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg := r.cfg.Clone()
	s, ok := cfg.Sections[section]
	if !ok {
		return fmt.Errorf("no section named %q", section)
	}
	i := slices.Index(s.Servers, server)
	if i < 0 {
		return fmt.Errorf("section %s has no server %s", section, server)
	}
	if len(s.Servers) == 1 {
		return fmt.Errorf("%s is the last server of section %s: purging it would leave its lines nowhere to go; add another server first", server, section)
	}
	s.Servers = slices.Delete(s.Servers, i, i+1)
	if len(s.CheckServers) > 0 {
		s.CheckServers = slices.Delete(s.CheckServers, i, i+1)
	}
	if len(s.HashKeys) > 0 {
		s.HashKeys = slices.Delete(s.HashKeys, i, i+1)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := r.apply(cfg); err != nil {
		return err
	}
	r.log.Info("server purged", "section", section, "server", server)
	return nil
}

// Stats is the /stats document.
func (r *Relay) Stats() map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.table.Load()
	sections := map[string]any{}
	for name, s := range t.sections {
		bad := map[string]uint64{}
		for reason, c := range s.st.bad {
			if v := c.Get(); v > 0 {
				bad[reason.String()] = v
			}
		}
		sections[name] = map[string]any{"lines_in": s.st.in.Get(), "lines_routed": s.st.routed.Get(),
			"lines_rejected": s.st.rejected.Get(), "lines_blackholed": s.st.blackholed.Get(),
			"lines_unroutable": s.st.unroutable.Get(), "lines_bad": bad, "nats_shard_mismatch": s.st.shardMismatch.Get()}
	}
	listeners := map[string]any{}
	for k, l := range r.listeners {
		listeners[k] = map[string]any{"lines": l.Lines.Load(), "bytes": l.Bytes.Load(), "too_long": l.TooLong.Load(),
			"rejected": l.Rejected.Load(), "connections": l.Connections.Load(), "refused": l.Refused.Load(),
			"idle_closed": l.IdleClosed.Load(), "accept_errors": l.AcceptErrors.Load(), "accepting": l.Accepting()}
		if hs := l.HTTPServer(); hs != nil {
			listeners[k].(map[string]any)["http"] = hs.Snapshot()
		}
	}
	// A NATS server's shard subjects are one destination each inside the
	// relay; /stats shows their totals as one entry (/metrics has each).
	type destStats struct {
		sentLines, sentBytes, droppedFull, droppedDown, droppedClosing uint64
		writeErrors, connects, spooled, replayed, spoolErrors          uint64
		publishRetries                                                 uint64
		queuedLines, queuedBytes, shards                               int
		down                                                           bool
	}
	sums := map[string]*destStats{}
	for name, d := range r.dests {
		info := r.destInfo[name]
		e := sums[info.stats]
		if e == nil {
			e = &destStats{}
			sums[info.stats] = e
		}
		ql, qb := d.Queued()
		e.sentLines += d.SentLines.Load()
		e.sentBytes += d.SentBytes.Load()
		e.droppedFull += d.DroppedFull.Load()
		e.droppedDown += d.DroppedDown.Load()
		e.droppedClosing += d.DroppedClosing.Load()
		e.writeErrors += d.WriteErrors.Load()
		e.connects += d.Reconnects.Load()
		e.spooled += d.Spooled.Load()
		e.replayed += d.Replayed.Load()
		e.spoolErrors += d.SpoolErrors.Load()
		e.publishRetries += d.PublishRetries.Load()
		e.queuedLines += ql
		e.queuedBytes += qb
		e.down = e.down || d.Down()
		if info.shard {
			e.shards++
		}
	}
	dests := map[string]any{}
	for name, e := range sums {
		m := map[string]any{"sent_lines": e.sentLines, "sent_bytes": e.sentBytes,
			"queued_lines": e.queuedLines, "queued_bytes": e.queuedBytes, "dropped_queue_full": e.droppedFull,
			"dropped_down": e.droppedDown, "dropped_closing": e.droppedClosing,
			"write_errors": e.writeErrors, "connects": e.connects, "down": e.down,
			"spooled": e.spooled, "replayed": e.replayed, "spool_errors": e.spoolErrors, "publish_retries": e.publishRetries}
		if e.shards > 0 {
			m["shards"] = e.shards
		}
		dests[name] = m
	}
	return map[string]any{"sections": sections, "listeners": listeners, "destinations": dests}
}
