package testenv

import (
	"os"
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
