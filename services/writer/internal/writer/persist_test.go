package writer

import (
	"testing"
	"time"

	pkgconfig "github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/services/writer/internal/config"
)

// TestNextPersistStaggersShards: each shard's persist_interval persist
// falls at its own phase, n/shards of the interval past each multiple of it,
// whenever its last persist was.
func TestNextPersistStaggersShards(t *testing.T) {
	cfg := config.Default()
	cfg.Shards = 4
	cfg.PersistInterval = pkgconfig.Duration(time.Minute)
	w := &Writer{cfg: cfg}
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.TimeOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2026, 11, 30, v.Hour(), v.Minute(), v.Second(), 0, time.UTC)
	}
	for _, c := range []struct {
		shard      int
		last, want string
	}{
		{0, "12:00:30", "12:01:00"},
		{0, "12:00:00", "12:01:00"},
		{1, "12:00:10", "12:00:15"},
		{1, "12:00:30", "12:01:15"},
		{2, "12:00:59", "12:01:30"},
		{3, "12:00:45", "12:01:45"},
		{3, "12:00:44", "12:00:45"},
	} {
		sh := &shard{n: c.shard, lastTry: at(c.last)}
		if got := w.nextPersist(sh); !got.Equal(at(c.want)) {
			t.Errorf("shard %d, last persist %s: next %s, want %s", c.shard, c.last, got.UTC().Format(time.TimeOnly), c.want)
		}
	}
}
