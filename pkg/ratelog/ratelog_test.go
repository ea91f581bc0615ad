package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), 2, time.Second)
	now := time.Unix(100, 0)
	l.now = func() time.Time { return now }
	for i := 0; i < 5; i++ {
		l.Warn("bad line", "i", i)
	}
	if n := strings.Count(buf.String(), "bad line"); n != 2 {
		t.Fatalf("%d messages in the first interval, want 2", n)
	}
	now = now.Add(time.Second)
	l.Warn("bad line", "i", 5)
	if !strings.Contains(buf.String(), "suppressed_since_last=3") {
		t.Fatalf("missing the suppressed count: %s", buf.String())
	}
}
