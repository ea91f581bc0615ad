package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/go-connections/nat"
	"github.com/go-sql-driver/mysql"
	"github.com/testcontainers/testcontainers-go"
	tcmariadb "github.com/testcontainers/testcontainers-go/modules/mariadb"
	tcnats "github.com/testcontainers/testcontainers-go/modules/nats"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// The images testcontainers-go starts: the official ones where a registry
// answers, else the stand-ins deploy/offline/build.sh builds under the same
// tags.
const (
	NATSImage      = "nats:2.10-alpine"
	MariaDBImage   = "mariadb:10.11"
	CassandraImage = "cassandra:5.0"
)

// EnvDocker set to "off" keeps the helpers from Docker even where a daemon
// answers: NATS in-process, MariaDB and Cassandra from the scripts' servers.
const EnvDocker = "CONSTHASH_TEST_DOCKER"

// The containers' root password for MariaDB (a throwaway server).
const mariadbRootPassword = "consthash"

// docker is what the test process found out about Docker, once, and the
// containers and network it shares between its tests: MariaDB and Cassandra
// are started once per test process (each test gets its own database or
// keyspace), NATS once per test. The shared ones live until the process
// exits: Ryuk removes them then, or, with TESTCONTAINERS_RYUK_DISABLED=true,
// whoever ran the tests (scripts/test.sh removes every container and network
// labelled org.testcontainers=true).
var docker struct {
	once sync.Once
	err  error // nil: a daemon answers
	net  *testcontainers.DockerNetwork

	mariadbOnce sync.Once
	mariadbDSN  string
	mariadbErr  error

	cassandraOnce sync.Once
	cassandraHost string
	cassandraErr  error
}

// quiet drops testcontainers-go's own log lines for the shared containers,
// which outlive the test that started them.
type quiet struct{}

func (quiet) Printf(string, ...any) {}

// Docker reports whether the helpers start backends with testcontainers-go:
// a Docker daemon answers (DOCKER_HOST, the docker context, or the default
// socket) and CONSTHASH_TEST_DOCKER is not "off". A non-nil error says why
// not. The first call also makes the network the containers share (a
// user-defined bridge: it works where the daemon runs with --bridge=none).
func Docker() error {
	docker.once.Do(func() {
		if v := strings.ToLower(os.Getenv(EnvDocker)); v == "off" || v == "0" || v == "false" {
			docker.err = errors.New(EnvDocker + "=" + v)
			return
		}
		p, err := dockerProvider()
		if err != nil {
			docker.err = err
			return
		}
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Health(ctx); err != nil {
			docker.err = err
			return
		}
		docker.net, docker.err = network.New(ctx)
	})
	return docker.err
}

// dockerProvider is testcontainers-go's provider, or the reason there is
// none: where it finds no Docker host at all it panics ("rootless Docker not
// found"), which here means only that Docker is absent.
func dockerProvider() (p *testcontainers.DockerProvider, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("no Docker host: %v", r)
		}
	}()
	return testcontainers.NewDockerProvider(testcontainers.WithLogger(quiet{}))
}

// natsContainer starts a NATS server with JetStream in a container of its
// own for this test (testcontainers-go's nats module) and returns its URL.
func natsContainer(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := tcnats.Run(ctx, NATSImage, testcontainers.WithLogger(quiet{}), network.WithNetwork(nil, docker.net))
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("NATS container %s: %v (no registry? deploy/offline/build.sh %s builds it)", NATSImage, err, NATSImage)
	}
	url, err := c.ConnectionString(ctx)
	if err != nil {
		t.Fatalf("NATS container: %v", err)
	}
	return url
}

// mariadbContainer starts the process's MariaDB container (testcontainers-go's
// mariadb module) on first use and returns a DSN for its root user.
func mariadbContainer() (string, error) {
	docker.mariadbOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		dsn := func(host string, port nat.Port) string {
			return fmt.Sprintf("root:%s@tcp(%s:%s)/", mariadbRootPassword, host, port.Port())
		}
		// Ready when it answers a query over the mapped port: the official image's
		// first start runs a temporary server without networking, and the
		// stand-in's log lines are Debian's (deploy/offline/mariadb). The driver
		// logs every refused try ("unexpected EOF") to its process-wide logger:
		// silenced while waiting, then back to the driver's default.
		_ = mysql.SetLogger(stdlog.New(io.Discard, "", 0))
		defer mysql.SetLogger(stdlog.New(os.Stderr, "[mysql] ", stdlog.Ldate|stdlog.Ltime|stdlog.Lshortfile))
		c, err := tcmariadb.Run(ctx, MariaDBImage, testcontainers.WithLogger(quiet{}), network.WithNetwork(nil, docker.net),
			tcmariadb.WithUsername("root"), tcmariadb.WithPassword(mariadbRootPassword),
			testcontainers.WithWaitStrategy(wait.ForSQL("3306/tcp", "mysql", dsn).WithStartupTimeout(4*time.Minute)))
		if err != nil {
			docker.mariadbErr = fmt.Errorf("MariaDB container %s: %w (no registry? deploy/offline/build.sh %s builds it)", MariaDBImage, err, MariaDBImage)
			return
		}
		host, err := c.Host(ctx)
		if err != nil {
			docker.mariadbErr = err
			return
		}
		port, err := c.MappedPort(ctx, "3306/tcp")
		if err != nil {
			docker.mariadbErr = err
			return
		}
		docker.mariadbDSN = dsn(host, port)
	})
	return docker.mariadbDSN, docker.mariadbErr
}

// cassandraContainer starts the process's Cassandra container (a generic
// container: one node, the gossip waits skipped) on first use and returns its
// host:port.
func cassandraContainer() (string, error) {
	docker.cassandraOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		c, err := testcontainers.Run(ctx, CassandraImage, testcontainers.WithLogger(quiet{}), network.WithNetwork(nil, docker.net),
			testcontainers.WithExposedPorts("9042/tcp"),
			testcontainers.WithEnv(map[string]string{"MAX_HEAP_SIZE": "768M", "HEAP_NEWSIZE": "128M",
				"CASSANDRA_CLUSTER_NAME": "consthash-test",
				"JVM_EXTRA_OPTS":         "-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=1000"}),
			testcontainers.WithWaitStrategy(wait.ForListeningPort("9042/tcp").WithStartupTimeout(5*time.Minute)))
		if err != nil {
			docker.cassandraErr = fmt.Errorf("Cassandra container %s: %w (no registry? deploy/offline/build.sh %s builds it)", CassandraImage, err, CassandraImage)
			return
		}
		host, err := c.Host(ctx)
		if err != nil {
			docker.cassandraErr = err
			return
		}
		port, err := c.MappedPort(ctx, "9042/tcp")
		if err != nil {
			docker.cassandraErr = err
			return
		}
		addr := host + ":" + port.Port()
		// The mapped port accepts (docker-proxy) before Cassandra serves CQL: ready
		// when a session opens.
		for {
			sess, err := CassandraCluster(addr).CreateSession()
			if err == nil {
				sess.Close()
				break
			}
			if ctx.Err() != nil {
				docker.cassandraErr = fmt.Errorf("Cassandra container %s: no CQL session: %w", CassandraImage, err)
				return
			}
			time.Sleep(2 * time.Second)
		}
		docker.cassandraHost = addr
	})
	return docker.cassandraHost, docker.cassandraErr
}
