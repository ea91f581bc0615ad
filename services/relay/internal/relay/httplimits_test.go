package relay

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPListenerLimits: [http_listeners] reaches the relay's http
// listeners: an idle keep-alive connection is closed after idle_timeout, and
// /stats and /metrics show the listener's server counters.
func TestHTTPListenerLimits(t *testing.T) {
	out := newSinkF(t)
	r := startRelay(t, fmt.Sprintf(`
[http_listeners]
idle_timeout = "100ms"
max_concurrent = 7
[sections.main]
listen = ["http://127.0.0.1:0/lines"]
cluster = "forward"
servers = ["tcp://%s"]
`, out.Addr()))
	addr := r.ListenerAddrs("main")[0].String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /lines HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\na.b 1 1700\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("%d close=%v, want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the idle connection stayed open past idle_timeout")
	}
	waitFor(t, "the line", 10*time.Second, func() bool { return len(out.Lines()) == 1 })

	k := "main|http://127.0.0.1:0/lines"
	st := r.Stats()["listeners"].(map[string]any)[k].(map[string]any)["http"].(map[string]any)
	if st["max_concurrent"] != 7 || st["requests"] != uint64(1) || st["busy"] != uint64(0) {
		t.Errorf("/stats of the listener's server: %v", st)
	}
	var b strings.Builder
	r.Metrics.WritePrometheus(&b)
	for _, want := range []string{`consthash_http_requests_total{server="listener ` + k + `"} 1`, `consthash_http_max_concurrent{server="listener ` + k + `"} 7`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
