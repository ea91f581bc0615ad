// Package pathindex keeps the store's path index in memory: per parent, its
// children sorted by path with their leaf flags, as the store's
// Children/ChildrenOf answer them. An Index is a store.Reader: reads go to
// the store, listings come from memory once the index is loaded, so
// internal/find's matching (the one glob code) runs unchanged over it and
// answers exactly what it answers over the store.
//
// It loads at start by walking the store's index level by level (ChildrenOf
// over 500 parents a query), answering from the store until loaded; it
// reloads every reload_interval (which also drops deleted paths); between
// reloads, paths the writers announce on bus.IndexSubject are listed again
// from the store (their parents' children) and merged in. Past max_paths it
// is disabled and every listing goes to the store (docs/query-api.md, "Path
// index").
package pathindex

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/consthash/consthash/pkg/store"
)

// States of an Index.
const (
	Loading  = "loading"  // not loaded yet: listings go to the store
	Ready    = "ready"    // listings come from memory
	Disabled = "disabled" // over max_paths: listings go to the store
)

// chunk is how many parents one store query lists.
const chunk = 500

// Index is a store.Reader whose listings come from memory once loaded.
type Index struct {
	store.Reader // reads, and listings while not ready
	max          int
	log          *slog.Logger

	mu      sync.RWMutex
	kids    map[string][]store.Node // parent ("" for the roots) -> children by path
	n       int                     // paths in kids
	state   string
	loadAt  time.Time
	loadDur time.Duration
	pending map[string]bool // parents announced while a load runs: listed again after it

	queue chan []string // announced paths waiting to be merged

	loads, loadErrors, overflows, announced, dropped, relisted, memHits, storeHits *metrics.Counter
}

// New returns an Index over r holding at most maxPaths paths, its counters
// in set (consthash_query_api_path_index_*). queue bounds the announcement
// messages waiting to be merged (one a NATS message; past it they are
// dropped and counted, the next reload brings their paths).
func New(r store.Reader, maxPaths, queue int, set *metrics.Set, log *slog.Logger) *Index {
	c := func(n string) *metrics.Counter { return set.GetOrCreateCounter("consthash_query_api_path_index_" + n) }
	x := &Index{Reader: r, max: maxPaths, log: log, state: Loading, queue: make(chan []string, queue),
		loads: c("loads_total"), loadErrors: c("load_errors_total"), overflows: c("overflows_total"),
		announced: c("announced_paths_total"), dropped: c("announcements_dropped_total"), relisted: c("relisted_parents_total"),
		memHits: c("listings_memory_total"), storeHits: c("listings_store_total")}
	set.NewGauge("consthash_query_api_path_index_paths", func() float64 {
		x.mu.RLock()
		defer x.mu.RUnlock()
		return float64(x.n)
	})
	set.NewGauge("consthash_query_api_path_index_ready", func() float64 {
		if x.State() == Ready {
			return 1
		}
		return 0
	})
	return x
}

// State returns Loading, Ready or Disabled.
func (x *Index) State() string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.state
}

// Stats is the index's section of /stats.
func (x *Index) Stats() any {
	x.mu.RLock()
	defer x.mu.RUnlock()
	s := map[string]any{"state": x.state, "paths": x.n, "max_paths": x.max, "loads": x.loads.Get(),
		"load_errors": x.loadErrors.Get(), "overflows": x.overflows.Get(), "announced_paths": x.announced.Get(),
		"announcements_dropped": x.dropped.Get(), "announcements_queued": len(x.queue), "announcement_queue": cap(x.queue),
		"relisted_parents": x.relisted.Get(), "listings_memory": x.memHits.Get(), "listings_store": x.storeHits.Get()}
	if !x.loadAt.IsZero() {
		s["loaded_at"] = x.loadAt.UTC().Format(time.RFC3339)
		s["load_seconds"] = x.loadDur.Seconds()
	}
	return s
}

// Children lists parent's children from memory when ready, else from the
// store.
func (x *Index) Children(ctx context.Context, parent string) ([]store.Node, error) {
	x.mu.RLock()
	if x.state == Ready {
		out := x.kids[parent]
		x.mu.RUnlock()
		x.memHits.Inc()
		return out, nil
	}
	x.mu.RUnlock()
	x.storeHits.Inc()
	return x.Reader.Children(ctx, parent)
}

// ChildrenOf lists many parents' children from memory when ready, else from
// the store. A glob without wildcards (a literal level) picks the children of
// that name by binary search; any other glob is a store's hint and all
// children come back (callers match what they get). The slices are shared:
// callers do not change them.
func (x *Index) ChildrenOf(ctx context.Context, parents []string, glob string) (map[string][]store.Node, error) {
	named := glob != "" && !strings.ContainsAny(glob, "*?[]")
	x.mu.RLock()
	if x.state == Ready {
		out := make(map[string][]store.Node, len(parents))
		for _, p := range parents {
			k := x.kids[p]
			if named {
				k = withName(k, p, glob)
			}
			if len(k) > 0 {
				out[p] = k
			}
		}
		x.mu.RUnlock()
		x.memHits.Inc()
		return out, nil
	}
	x.mu.RUnlock()
	x.storeHits.Inc()
	return x.Reader.ChildrenOf(ctx, parents, glob)
}

// withName returns the children of parent named name (a level without
// wildcards), tagged or not: a run of the sorted children, found by binary
// search, not a scan of the siblings.
func withName(kids []store.Node, parent, name string) []store.Node {
	full := name
	if parent != "" {
		full = parent + "." + name
	}
	lo, _ := slices.BinarySearchFunc(kids, full, func(n store.Node, t string) int { return strings.Compare(n.Path, t) })
	hi := lo
	for ; hi < len(kids) && strings.HasPrefix(kids[hi].Path, full); hi++ {
	}
	var out []store.Node
	for _, k := range kids[lo:hi] {
		if len(k.Path) == len(full) || k.Path[len(full)] == ';' {
			out = append(out, k)
		}
	}
	return out
}

// errTooMany stops a load past max_paths.
type errTooMany struct{ max int }

func (e errTooMany) Error() string {
	return fmt.Sprintf("more than %d paths (path_index.max_paths)", e.max)
}

// list walks the store's index level by level, 500 parents a query, at most
// max paths.
func (x *Index) list(ctx context.Context) (map[string][]store.Node, int, error) {
	kids := map[string][]store.Node{}
	n := 0
	level := []string{""}
	for len(level) > 0 {
		var next []string
		for lo := 0; lo < len(level); lo += chunk {
			part := level[lo:min(lo+chunk, len(level))]
			got, err := x.Reader.ChildrenOf(ctx, part, "")
			if err != nil {
				return nil, 0, err
			}
			for _, p := range part {
				k := got[p]
				if len(k) == 0 {
					continue
				}
				k = slices.Clip(k)
				kids[p] = k
				if n += len(k); n > x.max {
					return nil, 0, errTooMany{x.max}
				}
				for _, c := range k {
					next = append(next, c.Path)
				}
			}
		}
		level = next
	}
	return kids, n, nil
}

// Load lists the whole index from the store and swaps it in; past
// max_paths the index is disabled (listings go to the store) until a later
// load fits. A failed load keeps what the index had.
func (x *Index) Load(ctx context.Context) error {
	x.mu.Lock()
	x.pending = map[string]bool{}
	x.mu.Unlock()
	start := time.Now()
	kids, n, err := x.list(ctx)
	x.loads.Inc()
	x.mu.Lock()
	pending := x.pending
	x.pending = nil
	if err != nil {
		if tm, ok := err.(errTooMany); ok {
			x.overflows.Inc()
			if x.state != Disabled {
				x.log.Warn("path index disabled: finds go to the store", "max_paths", tm.max)
			}
			x.state, x.kids, x.n = Disabled, nil, 0
			x.mu.Unlock()
			return nil
		}
		x.mu.Unlock()
		x.loadErrors.Inc()
		return fmt.Errorf("loading the path index: %w", err)
	}
	if x.state != Ready {
		x.log.Info("path index loaded", "paths", n, "seconds", time.Since(start).Seconds())
	}
	x.kids, x.n, x.state, x.loadAt, x.loadDur = kids, n, Ready, time.Now(), time.Since(start)
	x.mu.Unlock()
	if len(pending) > 0 {
		parents := make([]string, 0, len(pending))
		for p := range pending {
			parents = append(parents, p)
		}
		return x.relist(ctx, parents)
	}
	return nil
}

// Announce queues paths the writers announced (bus.IndexSubject's lines);
// when the queue is full they are dropped and counted.
func (x *Index) Announce(data []byte) {
	paths := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	select {
	case x.queue <- paths:
	default:
		x.dropped.Inc()
	}
}

// parentOf returns the parent of a path: the name before ";tags" up to its
// last dot, "" at the root.
func parentOf(path string) string {
	name, _, _ := strings.Cut(path, ";")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i]
	}
	return ""
}

// merge lists again, from the store, the parents of announced paths.
func (x *Index) merge(ctx context.Context, paths []string) error {
	set := map[string]bool{}
	for _, p := range paths {
		if p != "" {
			set[parentOf(p)] = true
		}
	}
	x.announced.Add(len(paths))
	x.mu.Lock()
	if x.pending != nil { // a load runs: list them again after it too
		for p := range set {
			x.pending[p] = true
		}
	}
	state := x.state
	x.mu.Unlock()
	if state == Disabled {
		return nil
	}
	parents := make([]string, 0, len(set))
	for p := range set {
		parents = append(parents, p)
	}
	return x.relist(ctx, parents)
}

// relist replaces the children of parents with the store's, adding the
// parents to their own parents when new (a writer announces a leaf's
// parents with it, but not always in the same message).
func (x *Index) relist(ctx context.Context, parents []string) error {
	slices.Sort(parents)
	for lo := 0; lo < len(parents); lo += chunk {
		part := parents[lo:min(lo+chunk, len(parents))]
		got, err := x.Reader.ChildrenOf(ctx, part, "")
		if err != nil {
			return fmt.Errorf("listing announced paths: %w", err)
		}
		x.relisted.Add(len(part))
		x.mu.Lock()
		if x.state != Ready {
			x.mu.Unlock()
			continue
		}
		for _, p := range part {
			k := slices.Clip(got[p])
			if len(k) == 0 {
				continue
			}
			x.n += len(k) - len(x.kids[p])
			x.kids[p] = k
			// a new parent is a child of its own parent: add it as a branch
			for c := p; c != ""; {
				pp := parentOf(c)
				sib := x.kids[pp]
				i, found := slices.BinarySearchFunc(sib, c, func(n store.Node, t string) int { return strings.Compare(n.Path, t) })
				if found {
					break
				}
				x.kids[pp] = slices.Insert(slices.Clone(sib), i, store.Node{Path: c})
				x.n++
				c = pp
			}
		}
		over := x.n > x.max
		if over {
			x.overflows.Inc()
			x.log.Warn("path index disabled: finds go to the store", "max_paths", x.max)
			x.state, x.kids, x.n = Disabled, nil, 0
		}
		x.mu.Unlock()
	}
	return nil
}

// Run merges announced paths as they come and reloads every interval (0:
// never again) until ctx ends. The first load is Run's: until it ends,
// listings go to the store.
func (x *Index) Run(ctx context.Context, interval time.Duration) {
	load := func() {
		if err := x.Load(ctx); err != nil && ctx.Err() == nil {
			x.log.Warn("path index", "err", err)
		}
	}
	done := make(chan struct{})
	go func() { // announcements are merged while a load runs
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case paths := <-x.queue:
				if err := x.merge(ctx, paths); err != nil && ctx.Err() == nil {
					x.log.Warn("path index", "err", err)
				}
			}
		}
	}()
	load()
	for x.State() == Loading { // the store did not answer: try again soon
		select {
		case <-ctx.Done():
			<-done
			return
		case <-time.After(5 * time.Second):
		}
		load()
	}
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			<-done
			return
		case <-tick:
			load()
		}
	}
}
