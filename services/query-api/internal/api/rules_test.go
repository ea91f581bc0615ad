package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/services/query-api/internal/config"
)

// TestRulesFromConfig: the column a series is read from follows the
// aggregators' name rules, including the ones configured in [graphite] rules
// (the same option as the aggregator's).
func TestRulesFromConfig(t *testing.T) {
	dir := t.TempDir()
	dsn := "file:" + filepath.Join(dir, "q.db")
	s := openStore(t, store.Config{Driver: "sqlite", DSN: dsn})
	res, _ := rollup.ParseTimes([]string{"60s:24h"})
	b := &rollup.Batch{Source: "agg-a", Resolution: res[0]}
	p := rollup.Point{Path: "servers.web01.cpu", Time: now - 60}
	p.Add(2, 1)
	p.Add(4, 2)
	b.Points = append(b.Points, p)
	if err := s.Write(context.Background(), []*rollup.Batch{b}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, toml string
		want       float64
	}{
		{"default rules: mean", "", 3},
		{"configured rule: max", "[graphite]\nrules = [['^servers\\.', 'max']]\n", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "query-api.toml")
			text := fmt.Sprintf("times = [\"60s:24h\"]\n[storage]\ndriver = \"sqlite\"\ndsn = %q\n%s", dsn, tc.toml)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			a := New(Config{Resolutions: cfg.Resolutions, MaxSeries: 10, MaxPoints: 1000, MaxFind: 10, QueryTimeout: 10 * time.Second,
				Now: func() time.Time { return time.Unix(now, 0) }, Rules: cfg.Rules}, s.(store.Reader), slog.New(slog.DiscardHandler))
			mux := http.NewServeMux()
			a.Register(mux)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			var got rendered
			if code := getJSON(t, srv, "/render?target=servers.web01.cpu&from=-2min&until=now&format=json", &got); code != http.StatusOK {
				t.Fatalf("render: %d", code)
			}
			var vals []float64
			for _, s := range got {
				for _, dp := range s.Datapoints {
					if dp[0] != nil {
						vals = append(vals, *dp[0])
					}
				}
			}
			if len(vals) != 1 || vals[0] != tc.want {
				t.Errorf("values %v, want [%v]", vals, tc.want)
			}
		})
	}
	if _, err := config.Load(writeFile(t, dir, "[graphite]\nrules = [['x', 'median']]\n")); err == nil {
		t.Error("an unknown reducer in graphite.rules was accepted")
	}
}

func writeFile(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
