package testenv

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATSServer starts an in-process NATS server with JetStream on a random
// loopback port and a temporary store directory, and shuts it down when the
// test ends. Tests that need to stop and restart the server use this; most
// use NATS.
func NATSServer(t testing.TB) *server.Server {
	t.Helper()
	opts := &server.Options{
		ServerName: "consthash-test",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoLog:      true,
		NoSigs:     true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("cannot create in-process NATS server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatalf("in-process NATS server did not become ready within 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// NATS returns the URL of a NATS server with JetStream for this test: the one
// named by CONSTHASH_TEST_NATS_URL; else, where Docker answers (see Docker), a
// container of its own (nats:2.10-alpine through testcontainers-go); else a
// fresh in-process server.
func NATS(t testing.TB) string {
	t.Helper()
	if url := os.Getenv(EnvNATSURL); url != "" {
		nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
		if err != nil {
			missing(t, "NATS", err.Error(), "nats-server -js, then export "+EnvNATSURL)
		}
		nc.Close()
		return url
	}
	if Docker() == nil {
		return natsContainer(t)
	}
	return NATSServer(t).ClientURL()
}

// NATSConn connects to NATS (see NATS) and closes the connection when the
// test ends.
func NATSConn(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(NATS(t), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("cannot connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// NATSCluster starts n in-process NATS servers with JetStream, routed to
// each other as one cluster, and returns them; each is shut down when the
// test ends (a test may Shutdown one before). Their client URLs joined by
// commas are what a client connects to.
func NATSCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	ports := make([]int, n)
	var routes []string
	for i := range ports {
		addr := FreePort(t)
		_, p, _ := net.SplitHostPort(addr)
		ports[i], _ = strconv.Atoi(p)
		routes = append(routes, "nats-route://"+addr)
	}
	var servers []*server.Server
	for i := range n {
		opts := &server.Options{ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "consthash", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ","))}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("cannot create in-process NATS cluster node %d: %v", i+1, err)
		}
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		servers = append(servers, s)
	}
	for _, s := range servers {
		// A minute: on a loaded machine one node was seen not ready in 10 s.
		if !s.ReadyForConnections(time.Minute) {
			t.Fatalf("NATS cluster node %s did not become ready within a minute", s.Name())
		}
	}
	return servers
}

// ClusterURL returns the servers' client URLs joined by commas.
func ClusterURL(servers []*server.Server) string {
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}
