package outbound

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSpoolFIFOAndRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := s.Append(chunk(fmt.Sprintf("a.%d 1 1", i), fmt.Sprintf("b.%d 1 1", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		c, ok, err := s.Next()
		if err != nil || !ok || !strings.HasPrefix(string(c.Data), fmt.Sprintf("a.%d ", i)) || c.Lines != 2 {
			t.Fatalf("record %d: %q %v %v", i, c.Data, ok, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart reads the remaining segments again (at least once), in order.
	s2, err := OpenSpool(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	var first string
	n := 0
	for {
		c, ok, err := s2.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if n == 0 {
			first = string(c.Data)
		}
		n++
	}
	if n != 100 || !strings.HasPrefix(first, "a.0 ") {
		t.Fatalf("after restart read %d records starting %q", n, first)
	}
	if s2.Bytes() != 0 {
		t.Fatalf("%d bytes left", s2.Bytes())
	}
}

func TestSpoolBoundDropsOldest(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, 4<<20) // segments of 1 MiB
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 100<<10)
	for i := 0; i < 80; i++ { // 8 MiB into a 4 MiB spool
		if err := s.Append(Chunk{Data: []byte(fmt.Sprintf("%d %s\n", i, big)), Lines: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Bytes() > 4<<20 {
		t.Fatalf("spool holds %d bytes, bound 4 MiB", s.Bytes())
	}
	c, ok, _ := s.Next()
	if !ok || s.Dropped == 0 || strings.HasPrefix(string(c.Data), "0 ") {
		t.Fatalf("oldest not dropped: dropped %d, first %q", s.Dropped, c.Data[:8])
	}
	var size int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		info, _ := os.Stat(filepath.Join(dir, e.Name()))
		size += info.Size()
	}
	if size > 5<<20 {
		t.Fatalf("spool files take %d bytes", size)
	}
}
