package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/pkg/testenv"
)

// outageDB starts a MariaDB of this test's own (port 3318), so stopping it
// for the outage disturbs no other test. It uses the project's script.
func outageDB(t *testing.T) (dsn string, stop, start func()) {
	t.Helper()
	if os.Getenv(testenv.EnvMySQLDSN) == "" && !testenv.InCI() {
		t.Skip("MariaDB not available: start it with scripts/mariadb.sh start (this test runs its own on port 3318)")
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "mariadb.sh")
	env := append(os.Environ(), "MARIADB_PORT=3318", "MARIADB_DATA="+filepath.Join(os.TempDir(), "consthash-mariadb-outage"))
	run := func(arg string) {
		cmd := exec.Command(script, arg)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mariadb.sh %s: %v\n%s", arg, err, out)
		}
	}
	run("start")
	t.Cleanup(func() { run("stop") })
	db, err := sqlx.Open("mysql", "consthash:consthash@tcp(127.0.0.1:3318)/")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.MustExec("DROP DATABASE IF EXISTS outage")
	db.MustExec("CREATE DATABASE outage")
	return "consthash:consthash@tcp(127.0.0.1:3318)/outage", func() { run("stop") }, func() { run("start") }
}

// TestCrashAndOutageStoreEverythingOnce publishes rollups steadily while the
// writer is killed with SIGKILL and restarted, and while storage is down for
// 30 s: every point is stored, exactly once, with its value.
func TestCrashAndOutageStoreEverythingOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about a minute: a 30 s storage outage")
	}
	dsn, stopDB, startDB := outageDB(t)
	url := testenv.NATS(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "writer")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(dir, "writer.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
nats = %q
batch = 64
batch_wait = "200ms"
ack_wait = "5s"
write_timeout = "3s"
max_deliver = 1000
retry_max_delay = "2s"
persist_interval = "1s"
[membership]
interval = "200ms"
[admin]
listen = ""
[storage]
driver = "mysql"
dsn = %q
`, url, dsn)), 0o644)
	var mu sync.Mutex
	var writers []*exec.Cmd
	logPath := filepath.Join(dir, "writer.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("writer logs:\n%s", b)
		}
	})
	startWriter := func() *exec.Cmd {
		cmd := exec.Command(bin, "--config", cfgPath)
		cmd.Stderr = logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		writers = append(writers, cmd)
		mu.Unlock()
		return cmd
	}
	t.Cleanup(func() {
		for _, w := range writers {
			w.Process.Kill()
			w.Wait()
		}
	})
	w1 := startWriter()

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	// Wait for the writer to create the stream.
	for deadline := time.Now().Add(15 * time.Second); ; {
		if _, err := js.Stream(ctx, "CONSTHASH_ROLLUPS"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer did not create the stream")
		}
		time.Sleep(50 * time.Millisecond)
	}
	res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
	want := map[string]float64{}
	stop := make(chan struct{})
	published := make(chan int)
	go func() {
		seq := 0
		for {
			select {
			case <-stop:
				published <- seq
				return
			default:
			}
			seq++
			b := &rollup.Batch{Source: "agg", Resolution: res, Flush: int64(seq), Seq: uint64(seq), Final: true}
			for j := 0; j < 10; j++ {
				var p rollup.Point
				p.Path, p.Time = fmt.Sprintf("o.b%d.p%d", seq, j), 1700000000
				p.Add(float64(seq*10+j), 1)
				b.Points = append(b.Points, p)
				want[p.Path] = float64(seq*10 + j)
			}
			// As an aggregator publishes it: a message per shard of the paths.
			byShard := map[int][]rollup.Point{}
			for _, p := range b.Points {
				s := bus.PathShard(p.Path, bus.DefaultShards)
				byShard[s] = append(byShard[s], p)
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			for s, pts := range byShard {
				part := *b
				part.Points = pts
				id := fmt.Sprintf("%s:%d", b.MsgID(), s)
				if _, err := js.Publish(pctx, bus.RollupSubject(res, s), part.Append(nil), jetstream.WithMsgID(id)); err != nil {
					t.Error(err)
				}
			}
			cancel()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(3 * time.Second)
	w1.Process.Signal(syscall.SIGKILL) // mid-stream
	w1.Wait()
	time.Sleep(time.Second)
	startWriter()
	time.Sleep(2 * time.Second)
	stopDB() // storage down for 30 s under load
	time.Sleep(30 * time.Second)
	startDB()
	time.Sleep(3 * time.Second)
	close(stop)
	batches := <-published

	db, err := sqlx.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Each path has one point, so one block.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n int
		err := db.Get(&n, "SELECT COUNT(*) FROM metrics_blocks_10s")
		if err == nil && n == len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d blocks stored, want %d (%v)", n, len(want), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	st, err := store.Open(store.Config{Driver: "mysql", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	for path, v := range want {
		got, err := st.(store.Reader).Read(ctx, path, res, 0, 2e9)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Sum != v || got[0].Count != 1 {
			t.Fatalf("%s = %+v, published %v once", path, got, v)
		}
	}
	t.Logf("%d batches (%d points) across a SIGKILL and a 30 s storage outage: every point stored once", batches, len(want))
}
