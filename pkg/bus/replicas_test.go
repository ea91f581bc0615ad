package bus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/testenv"
)

// TestStreamReplicas: the stream is made with the configured replicas (a
// single server refuses 3), and on a 3-node cluster it keeps every batch
// through the loss of one node.
func TestStreamReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	single, _ := jetstream.New(testenv.NATSConn(t))
	three := DefaultStreamConfig()
	three.Replicas = 3
	if _, _, err := EnsureStream(ctx, single, three, true); err == nil {
		t.Fatal("a single server made a stream of 3 replicas")
	}

	servers := testenv.NATSCluster(t, 3)
	nc, err := nats.Connect(testenv.ClusterURL(servers), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var st jetstream.Stream
	retry(t, func() error { // until the cluster has a JetStream leader
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		defer acancel()
		st, _, err = EnsureStream(actx, js, three, true)
		return err
	})
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream config replicas %d, cluster %+v; want 3 replicas", info.Config.Replicas, info.Cluster)
	}
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			retry(t, func() error {
				actx, acancel := context.WithTimeout(ctx, 5*time.Second)
				defer acancel()
				_, err := js.Publish(actx, RollupsPrefix+"10", []byte{byte(i)}, jetstream.WithMsgID(fmt.Sprint("m", i)))
				return err
			})
		}
	}
	publish(0, 100)
	// Stop the stream's leader: another takes over with every message.
	for _, s := range servers {
		if s.Name() == info.Cluster.Leader {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}
	publish(100, 200)
	retry(t, func() error {
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs != 200 {
			return fmt.Errorf("%d messages, want 200", info.State.Msgs)
		}
		return nil
	})
}

// retry calls f until it returns nil, failing the test with its last error
// after 30 s.
func retry(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
