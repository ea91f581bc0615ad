package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/consthash/consthash/pkg/testenv"
)

// eventSuite is what every store that keeps events must do.
func eventSuite(t *testing.T, st Store) {
	t.Helper()
	ctx := context.Background()
	if err := st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Init(ctx); err != nil { // idempotent
		t.Fatalf("second Init: %v", err)
	}
	s, ok := st.(EventStore)
	if !ok {
		t.Fatalf("%T keeps no events", st)
	}
	const sec = 1_000_000
	ids := map[string]int64{}
	for _, e := range []Event{
		{What: "deploy web", When: 100 * sec, Tags: "deploy web", Data: "v1"},
		{What: "deploy db", When: 200 * sec, Tags: "db deploy"},
		{What: "same time", When: 200 * sec, Tags: "deploy"},
		{What: "outage", When: 300*sec + 750_000, Tags: "outage web web"},
		{What: "untagged", When: 400 * sec},
		{What: "commas", When: 500 * sec, Tags: "a,b c"},
		{What: "ü", When: 600 * sec, Tags: "ü Deploy"},
		{What: "next month", When: 100*sec + eventBucket, Tags: "deploy"},
		{What: "before 1970", When: -5 * sec, Tags: "deploy"},
	} {
		id, err := s.AddEvent(ctx, e)
		if err != nil {
			t.Fatalf("AddEvent %s: %v", e.What, err)
		}
		ids[e.What] = id
	}
	whats := func(q EventQuery) string {
		t.Helper()
		if q.Limit == 0 {
			q.Limit = 100
		}
		list, err := s.Events(ctx, q)
		if err != nil {
			t.Fatalf("Events %+v: %v", q, err)
		}
		var out []string
		for _, e := range list {
			out = append(out, e.What)
		}
		return strings.Join(out, ", ")
	}
	all := EventQuery{From: -10 * sec, Until: 1000*sec + eventBucket}
	for _, tt := range []struct {
		q    EventQuery
		want string
	}{
		{all, "before 1970, deploy web, deploy db, same time, outage, untagged, commas, ü, next month"},
		{EventQuery{From: 200 * sec, Until: 300 * sec}, "deploy db, same time"},
		{EventQuery{From: 200*sec + 1, Until: 300*sec + 750_000}, "outage"},
		{EventQuery{From: 0, Until: 1000 * sec, Tags: []string{"deploy"}}, "deploy web, deploy db, same time"},
		{EventQuery{From: 0, Until: 1000 * sec, Tags: []string{"deploy", "web"}}, "deploy web"},
		{EventQuery{From: 0, Until: 1000 * sec, Tags: []string{"deploy", "web"}, Any: true}, "deploy web, deploy db, same time, outage"},
		{EventQuery{From: 0, Until: 1000 * sec, Tags: []string{"Deploy"}}, "ü"},
		{EventQuery{From: 0, Until: 1000 * sec, Tags: []string{"b c"}}, "commas"},
		{EventQuery{From: 0, Until: 1000 * sec, Tags: []string{"ü"}}, "ü"},
		{EventQuery{From: 0, Until: 1000 * sec, Tags: []string{"nosuch"}}, ""},
	} {
		if got := whats(tt.q); got != tt.want {
			t.Errorf("Events %+v = %q, want %q", tt.q, got, tt.want)
		}
	}
	if _, err := s.Events(ctx, EventQuery{From: all.From, Until: all.Until, Limit: 8}); !errors.Is(err, ErrTooManyEvents) {
		t.Errorf("9 events with limit 8: err = %v", err)
	}
	e, ok, err := s.Event(ctx, ids["outage"])
	if err != nil || !ok || e.When != 300*sec+750_000 || e.Tags != "outage web web" || !slices.Equal(e.TagSet, []string{"outage", "web"}) || e.ID != ids["outage"] {
		t.Errorf("Event(outage) = %+v %v %v", e, ok, err)
	}
	known, err := s.KnownEventTags(ctx, []string{"deploy", "nosuch", "b c", "outage"})
	slices.Sort(known)
	if err != nil || fmt.Sprint(known) != "[b c deploy outage]" {
		t.Errorf("KnownEventTags = %v %v", known, err)
	}
	if ok, err := s.DeleteEvent(ctx, ids["outage"]); !ok || err != nil {
		t.Errorf("DeleteEvent(outage) = %v %v", ok, err)
	}
	if ok, err := s.DeleteEvent(ctx, ids["outage"]); ok || err != nil {
		t.Errorf("DeleteEvent(outage) again = %v %v", ok, err)
	}
	if _, ok, err := s.Event(ctx, ids["outage"]); ok || err != nil {
		t.Errorf("Event(deleted) = %v %v", ok, err)
	}
	if got := whats(EventQuery{From: 0, Until: 1000 * sec, Tags: []string{"web"}}); got != "deploy web" {
		t.Errorf("web after the delete: %q", got)
	}
	// A tag outlives its events, as graphite-web's tag table.
	if known, err := s.KnownEventTags(ctx, []string{"outage"}); err != nil || len(known) != 1 {
		t.Errorf("KnownEventTags(outage) after the delete = %v %v", known, err)
	}
	for _, bad := range []Event{{When: 1}, {What: strings.Repeat("x", MaxEventWhat+1)}, {What: "x", Data: strings.Repeat("x", MaxEventData+1)},
		{What: "x", Tags: strings.Repeat("t ", 0) + strings.Repeat("y", MaxEventTag+1)}} {
		if _, err := s.AddEvent(ctx, bad); err == nil {
			t.Errorf("AddEvent(%.40q...) stored", bad.What)
		}
	}
}

func TestSQLiteEvents(t *testing.T) {
	s, err := Open(Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "e.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eventSuite(t, s)
}

func TestMariaDBEvents(t *testing.T) {
	_, dsn := testenv.MySQL(t)
	s, err := Open(Config{Driver: "mysql", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eventSuite(t, s)
}

func TestCassandraEvents(t *testing.T) {
	hosts := testenv.CassandraHosts(t)
	_, ks := testenv.Cassandra(t)
	s, err := Open(Config{Driver: "cassandra", DSN: strings.Join(hosts, ","), Options: map[string]string{"keyspace": ks}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eventSuite(t, s)
}

// TestParseTagInput: django-tagging's parse_tag_input; the expected
// answers are what Debian's python3-django-tagging 0.5 (graphite-web
// 1.1.8's) returned for each input.
func TestParseTagInput(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"a b  a", "a|b"},
		{"b a", "a|b"},
		{"a,b c", "a|b c"},
		{`"x y" z`, "x y|z"},
		{`"a,b" c`, "a,b|c"},
		{`"a,b", c d`, "a,b|c d"},
		{`a "unclosed, q`, "a|q|unclosed"},
		{`a "unclosed q`, "a|q|unclosed"},
		{`""`, ""},
		{` , `, ""},
		{"\t a \n", "a"},
		{"a\tb", "a\tb"},
	} {
		if got := strings.Join(ParseTagInput(tt.in), "|"); got != tt.want {
			t.Errorf("ParseTagInput(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParseTagInput: whatever the input, the tags are sorted, unique,
// trimmed and non-empty, and parsing their space-joined form again (when no
// tag holds a space, comma or quote) gives them back.
func FuzzParseTagInput(f *testing.F) {
	for _, s := range []string{"a b", "a,b c", `"x y" z`, `a "unclosed, q`, `"`, ",", "ü Deploy", "\t a \n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tags := ParseTagInput(in)
		if !slices.IsSorted(tags) || len(slices.Compact(slices.Clone(tags))) != len(tags) {
			t.Fatalf("%q: %q not sorted and unique", in, tags)
		}
		plain := true
		for _, tag := range tags {
			if tag == "" || tag != strings.TrimSpace(tag) {
				t.Fatalf("%q: tag %q empty or untrimmed", in, tag)
			}
			plain = plain && !strings.ContainsAny(tag, " ,\"")
		}
		if again := ParseTagInput(strings.Join(tags, " ")); plain && !slices.Equal(again, tags) {
			t.Errorf("%q: %q, then %q", in, tags, again)
		}
	})
}
