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
			"lines_unroutable": s.st.unroutable.Get(), "lines_bad": bad}
	}
	listeners := map[string]any{}
	for k, l := range r.listeners {
		listeners[k] = map[string]any{"lines": l.Lines.Load(), "bytes": l.Bytes.Load(), "too_long": l.TooLong.Load(),
			"rejected": l.Rejected.Load(), "connections": l.Connections.Load(), "refused": l.Refused.Load(),
			"idle_closed": l.IdleClosed.Load(), "accept_errors": l.AcceptErrors.Load(), "accepting": l.Accepting()}
	}
	dests := map[string]any{}
	for name, d := range r.dests {
		ql, qb := d.Queued()
		dests[name] = map[string]any{"sent_lines": d.SentLines.Load(), "sent_bytes": d.SentBytes.Load(),
			"queued_lines": ql, "queued_bytes": qb, "dropped_queue_full": d.DroppedFull.Load(),
			"dropped_down": d.DroppedDown.Load(), "dropped_closing": d.DroppedClosing.Load(),
			"write_errors": d.WriteErrors.Load(), "connects": d.Reconnects.Load(), "down": d.Down(),
			"spooled": d.Spooled.Load(), "replayed": d.Replayed.Load()}
	}
	return map[string]any{"sections": sections, "listeners": listeners, "destinations": dests}
}
