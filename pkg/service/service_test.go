package service

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// recorder notes what the parts did, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// part runs until cancelled, then takes stopFor to stop.
func (r *recorder) part(name string, stopFor time.Duration, err error) Part {
	return Part{Name: name, Run: func(ctx context.Context) error {
		r.add("start " + name)
		<-ctx.Done()
		time.Sleep(stopFor)
		r.add("stop " + name)
		return err
	}}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestPartsStopInReverseOrderOnASignal(t *testing.T) {
	var rec recorder
	sig := make(chan os.Signal, 2)
	reloads := 0
	done := make(chan error, 1)
	go func() {
		done <- run("test", Common{}, quiet(), sig, func() (*Service, error) {
			return &Service{
				Parts:  []Part{rec.part("input", 0, nil), rec.part("output", 0, errors.New("flush lost 3 lines"))},
				Reload: func() error { reloads++; return nil },
				Close:  func() error { rec.add("close"); return nil },
			}, nil
		}, 5*time.Second)
	}()
	waitFor(t, func() bool { return len(rec.get()) == 2 })
	sig <- syscall.SIGHUP
	sig <- syscall.SIGTERM
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "output: flush lost 3 lines") {
		t.Fatalf("run: %v, want the output part's error", err)
	}
	got := rec.get()
	want := []string{"stop output", "stop input", "close"}
	if !slices.Equal(got[2:], want) {
		t.Fatalf("events %v, want starts then %v", got, want)
	}
	if reloads != 1 {
		t.Fatalf("%d reloads after one SIGHUP", reloads)
	}
}

func TestAPartThatEndsStopsTheRest(t *testing.T) {
	var rec recorder
	boom := errors.New("lost the NATS connection")
	err := run("test", Common{}, quiet(), make(chan os.Signal), func() (*Service, error) {
		return &Service{Parts: []Part{
			rec.part("listener", 0, nil),
			{Name: "consumer", Run: func(context.Context) error { return boom }},
		}}, nil
	}, 5*time.Second)
	if !errors.Is(err, boom) {
		t.Fatalf("run: %v, want the consumer's error", err)
	}
	if got := rec.get(); !slices.Equal(got, []string{"start listener", "stop listener"}) {
		t.Fatalf("events %v: the listener was not stopped", got)
	}
}

func TestAStopPastTheDeadlineIsReported(t *testing.T) {
	var rec recorder
	sig := make(chan os.Signal, 1)
	sig <- syscall.SIGINT
	err := run("test", Common{}, quiet(), sig, func() (*Service, error) {
		return &Service{Parts: []Part{rec.part("stuck", time.Hour, nil)}}, nil
	}, 10*time.Millisecond)
	if !errors.Is(err, ErrStopTimeout) {
		t.Fatalf("run: %v, want ErrStopTimeout", err)
	}
}

// TestCheckConfigAndTheRealSignal runs a service binary built from a Spec:
// --check-config answers and exits; a real SIGTERM stops it in order.
func TestCheckConfigAndTheRealSignal(t *testing.T) {
	if os.Getenv("SERVICE_TEST_CHILD") == "1" {
		childMain()
		return
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "svc.toml")
	if err := os.WriteFile(cfg, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCheckConfigAndTheRealSignal$", "--", "--config", cfg, "--check-config")
	cmd.Env = append(os.Environ(), "SERVICE_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), cfg+": ok (one part)") {
		t.Fatalf("--check-config: %v\n%s", err, out)
	}

	cmd = exec.Command(os.Args[0], "-test.run=^TestCheckConfigAndTheRealSignal$", "--", "--config", cfg)
	cmd.Env = append(os.Environ(), "SERVICE_TEST_CHILD=1")
	var buf lockedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(buf.String(), "svc started") })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, buf.String())
	}
	for _, want := range []string{"stopping", "part=work", "svc stopped"} {
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

func childMain() {
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = append([]string{"svc"}, args[i+1:]...)
		}
	}
	spec := Spec[string]{Name: "svc", StopTimeout: 5 * time.Second,
		Load:   func(path string) (string, error) { return path, nil },
		Common: func(string) Common { return Common{LogLevel: "info", LogFormat: "text", Summary: "one part"} },
		Build: func(string, Env) (*Service, error) {
			return &Service{Parts: []Part{{Name: "work", Run: func(ctx context.Context) error { <-ctx.Done(); return nil }}}}, nil
		}}
	if err := App(spec, os.Stdout, os.Stderr).Run(args); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(0)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
