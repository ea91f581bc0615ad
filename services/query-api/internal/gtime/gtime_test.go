package gtime

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	loc := time.UTC
	now := time.Date(2026, 11, 25, 14, 37, 21, 0, loc) // a Wednesday
	day := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, loc) }
	tests := []struct {
		in   string
		want time.Time
	}{
		{"now", now},
		{"", now},
		{"-1h", now.Add(-time.Hour)},
		{"-5min", now.Add(-5 * time.Minute)},
		{"-10s", now.Add(-10 * time.Second)},
		{"-2d", now.AddDate(0, 0, -2)},
		{"-1w", now.AddDate(0, 0, -7)},
		{"-1mon", now.AddDate(0, 0, -30)},
		{"-1y", now.AddDate(0, 0, -365)},
		{"-1hours", now.Add(-time.Hour)},
		{"now-1d2h", now.Add(-26 * time.Hour)},
		{"+3minutes", now.Add(3 * time.Minute)},
		{"1700000000", time.Unix(1700000000, 0).UTC()},
		{"20261120", day(2026, 11, 20, 0, 0)},
		{"14:30_20261120", day(2026, 11, 20, 14, 30)},
		{"midnight", day(2026, 11, 25, 0, 0)},
		{"noon", day(2026, 11, 25, 12, 0)},
		{"noon yesterday", day(2026, 11, 24, 12, 0)},
		{"midnight+1h", day(2026, 11, 25, 1, 0)},
		{"teatime", day(2026, 11, 25, 16, 0)},
		{"6pm today", day(2026, 11, 25, 18, 0)},
		{"8am tomorrow", day(2026, 11, 26, 8, 0)},
		{"10:15pm", day(2026, 11, 25, 22, 15)},
		{"11/20/26", day(2026, 11, 20, 0, 0)},
		{"11/20/2025", day(2025, 11, 20, 0, 0)},
		{"nov20", day(2026, 11, 20, 0, 0)},
		{"Jan 5", day(2026, 1, 5, 0, 0)},
		{"monday", day(2026, 11, 23, 0, 0)},
		{"wednesday", day(2026, 11, 25, 0, 0)},
		{"yesterday", day(2026, 11, 24, 0, 0)},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, now, loc)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"-1m", "-1x", "-h", "bogus", "nov", "-1hx2"} {
		if _, err := Parse(bad, now, loc); err == nil {
			t.Errorf("Parse(%q): want an error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"-1h", "noon yesterday", "14:30_20261120", "11/20/26", "nov20", "1700000000", "-1mon2d"} {
		f.Add(s)
	}
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = Parse(s, now, time.UTC) // must not panic
	})
}
