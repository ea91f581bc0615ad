package agg

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/testenv"
)

// TestHeartbeatAnnouncesShards: relays check their shard count against the
// one aggregators announce, so the heartbeat carries it.
func TestHeartbeatAnnouncesShards(t *testing.T) {
	url := testenv.NATS(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	hbs := make(chan *nats.Msg, 16)
	if _, err := nc.ChanSubscribe(bus.HeartbeatSubject, hbs); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	a := startAgg(t, url, "hb") // shards = 8
	defer stopAgg(t, a)
	select {
	case m := <-hbs:
		var hb bus.Heartbeat
		if err := hb.Decode(m.Data); err != nil || hb.ID != a.Source || hb.Shards != 8 {
			t.Fatalf("heartbeat %+v, %v: want id %s, 8 shards", hb, err, a.Source)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat")
	}
}
