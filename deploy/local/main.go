// Command local runs the whole consthash pipeline on one machine with
// embedded defaults: an in-process NATS server with JetStream, and the relay,
// aggregator, writer (SQLite under the data directory) and query-api as separate
// processes, with query-api serving the Graphite API over the same SQLite.
// `make run` starts it; Ctrl-C stops everything cleanly, in order.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	var (
		data     = flag.String("data", "data", "directory for NATS's store, SQLite and the generated configs")
		bin      = flag.String("bin", "bin", "directory holding the relay, aggregator and writer binaries")
		graphite = flag.Int("graphite-port", 2003, "graphite plaintext, tcp and udp, on 127.0.0.1")
		statsd   = flag.Int("statsd-port", 8125, "statsd, udp, on 127.0.0.1")
		natsPort = flag.Int("nats-port", 4222, "embedded NATS, on 127.0.0.1")
		admin    = flag.Int("admin-port", 8081, "first admin port: relay, aggregator +1, writer +2, query-api +3")
		query    = flag.Int("query-port", 8080, "query-api (the Graphite HTTP API), on 127.0.0.1")
		times    = flag.String("times", `["10s:168h", "1m:720h", "10m:17520h"]`, "the aggregator's times")
		logFmt   = flag.String("log-format", "text", "the services' log format: text or json")
	)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *logFmt != "text" && *logFmt != "json" {
		log.Error("local pipeline", "err", fmt.Sprintf("--log-format %q is not one of text, json", *logFmt))
		os.Exit(2)
	}
	if err := run(log, *data, *bin, *graphite, *statsd, *natsPort, *admin, *query, *times, *logFmt); err != nil {
		log.Error("local pipeline", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, data, bin string, graphite, statsd, natsPort, admin, query int, times, logFormat string) error {
	etc := filepath.Join(data, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	// nats-server only logs a bind failure (and NoLog hides it), so a taken
	// port would show as a 10 s wait and "did not start": try the port first.
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", natsPort)); err != nil {
		return fmt.Errorf("embedded NATS cannot listen on 127.0.0.1:%d (--nats-port moves it): %w", natsPort, err)
	} else if err := l.Close(); err != nil {
		return fmt.Errorf("embedded NATS: releasing the probed port: %w", err)
	}
	ns, err := server.NewServer(&server.Options{ServerName: "consthash-local", Host: "127.0.0.1", Port: natsPort,
		JetStream: true, StoreDir: filepath.Join(data, "nats"), NoSigs: true, NoLog: true})
	if err != nil {
		return fmt.Errorf("embedded NATS: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		return fmt.Errorf("embedded NATS did not start on 127.0.0.1:%d", natsPort)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	url := ns.ClientURL()
	// The relay writes the token of its mutating admin endpoints
	// (addserver, purgeserver) here at start, readable only by this user.
	tokenFile, err := filepath.Abs(filepath.Join(data, "run", "relay-admin.token"))
	if err != nil {
		return err
	}
	configs := map[string]string{
		"relay": fmt.Sprintf(`[admin]
listen = "127.0.0.1:%d"
token_file = %q
[sections.graphite]
listen = ["tcp://127.0.0.1:%d", "udp://127.0.0.1:%d"]
format = "graphite"
cluster = "forward"
servers = [%q]
[sections.statsd]
listen = ["udp://127.0.0.1:%d", "tcp://127.0.0.1:%d"]
format = "statsd"
cluster = "forward"
servers = [%q]
`, admin, tokenFile, graphite, graphite, url, statsd, statsd, url),
		"aggregator": fmt.Sprintf(`times = %s
[admin]
listen = "127.0.0.1:%d"
[nats]
url = %q
`, times, admin+1, url),
		"writer": fmt.Sprintf(`nats = %q
[admin]
listen = "127.0.0.1:%d"
[storage]
driver = "sqlite"
dsn = "file:%s"
`, url, admin+2, filepath.Join(data, "consthash.db")),
		"query-api": fmt.Sprintf(`listen = "127.0.0.1:%d"
times = %s
[admin]
listen = "127.0.0.1:%d"
[recent]
nats = %q
[storage]
driver = "sqlite"
dsn = "file:%s"
`, query, times, admin+3, url, filepath.Join(data, "consthash.db")),
	}
	for name, text := range configs {
		text += fmt.Sprintf("[log]\nformat = %q\n", logFormat)
		if err := os.WriteFile(filepath.Join(etc, name+".toml"), []byte(text), 0o644); err != nil {
			return err
		}
	}
	// Start consumers first (writer, aggregator), then the relay, so no line
	// is published before someone listens; stop in the reverse order.
	order := []string{"writer", "aggregator", "relay", "query-api"}
	var procs []*exec.Cmd
	var wg sync.WaitGroup
	stopAll := func() {
		for i := len(procs) - 1; i >= 0; i-- {
			p := procs[i]
			start := time.Now()
			_ = p.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(40 * time.Second):
				_ = p.Process.Kill()
			}
			log.Info("stopped", "service", filepath.Base(p.Path), "took", time.Since(start).Round(time.Millisecond))
		}
		wg.Wait()
	}
	for _, name := range order {
		cmd := exec.Command(filepath.Join(bin, name), "--config", filepath.Join(etc, name+".toml"))
		// Their own process group: a terminal's Ctrl-C reaches only this
		// launcher, which stops them one by one in order.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		// A pipe of our own, not StderrPipe: Wait closes that one as soon as the
		// child exits, losing its last lines (its stop) before prefix reads them.
		// Ours ends when the child has written everything and exited.
		stderr, w, err := os.Pipe()
		if err != nil {
			stopAll()
			return err
		}
		cmd.Stderr = w
		cmd.Stdout = os.Stdout
		err = cmd.Start()
		w.Close() // the child has its copy
		if err != nil {
			stderr.Close()
			stopAll()
			return fmt.Errorf("starting %s (run make build first): %w", name, err)
		}
		wg.Add(1)
		go prefix(&wg, name, stderr)
		procs = append(procs, cmd)
		if name == "aggregator" {
			time.Sleep(500 * time.Millisecond) // let it subscribe to its shards
		}
	}
	fmt.Printf(`
consthash is running (data in %s):
  graphite   tcp+udp 127.0.0.1:%d       e.g. echo "test.metric 42 $(date +%%s)" > /dev/tcp/127.0.0.1/%d
  statsd     udp+tcp 127.0.0.1:%d       e.g. echo "test.counter:1|c" > /dev/udp/127.0.0.1/%d
  NATS       %s
  query-api  http://127.0.0.1:%d       the Graphite API: point Grafana's graphite datasource here
  admin      relay http://127.0.0.1:%d  aggregator :%d  writer :%d  query-api :%d  (/ops/status, /stats, /metrics)
             relay addserver/purgeserver need the token in %s:
             curl -H "Authorization: Bearer $(cat %s)" -d server=tcp://host:2003 http://127.0.0.1:%d/graphite/addserver
  storage    SQLite %s
Ctrl-C stops everything (query-api, relay, aggregator, writer, then NATS).
`, data, graphite, graphite, statsd, statsd, url, query, admin, admin+1, admin+2, admin+3, tokenFile, tokenFile, admin, filepath.Join(data, "consthash.db"))
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	exited := make(chan string, len(procs))
	for _, p := range procs {
		go func() { p.Wait(); exited <- filepath.Base(p.Path) }()
	}
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case name := <-exited:
		log.Error("a service exited; stopping the rest", "service", name)
	}
	stopAll()
	return nil
}

// prefix copies a child's log lines to stderr with its name in front.
func prefix(wg *sync.WaitGroup, name string, r io.Reader) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fmt.Fprintf(os.Stderr, "%-10s %s\n", name, sc.Text())
	}
}
