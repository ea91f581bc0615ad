package testenv

import (
	"net"
	"testing"
	"time"
)

// Eventually polls cond every 20 ms until it holds, failing the test after
// 15 s: tests wait for a condition with a deadline instead of sleeping.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a loopback address whose TCP port was free a moment ago,
// for a process a test starts with that address in its configuration.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
