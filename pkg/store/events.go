package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Event is one of graphite's events, the annotations Grafana draws: what
// happened, when, free text, and tags.
type Event struct {
	ID   int64
	When int64 // microseconds since the epoch
	What string
	Data string
	// Tags is the text posted (a list is joined by spaces): graphite-web
	// answers it split on white space, as given, duplicates included.
	Tags string
	// TagSet is what tag queries match: Tags as django-tagging parses it
	// (ParseTagInput), sorted, each once.
	TagSet []string
}

// EventQuery selects events: From <= When <= Until (microseconds), and by
// tags. With no Tags every event in the range; with Any, events that hold
// one of Tags; else events that hold all of them.
type EventQuery struct {
	From, Until int64
	Tags        []string
	Any         bool
	// Limit is the most events answered (> 0): past it Events returns
	// ErrTooManyEvents.
	Limit int
}

// EventStore keeps events. The SQL stores (SQLite, MySQL/MariaDB) and
// Cassandra implement it; the file store does not (it cannot be queried).
type EventStore interface {
	// InitEvents creates the event tables (idempotent). The SQL stores'
	// Init does it; Cassandra creates them on first use, or here: query-api
	// calls it at start, so its first event request does not wait on
	// Cassandra's schema changes.
	InitEvents(ctx context.Context) error
	// AddEvent stores e (its ID is ignored) and returns the ID given to it.
	AddEvent(ctx context.Context, e Event) (int64, error)
	// Events returns the events q selects, by When then ID.
	Events(ctx context.Context, q EventQuery) ([]Event, error)
	// Event returns the event of an ID; false when there is none.
	Event(ctx context.Context, id int64) (Event, bool, error)
	// DeleteEvent removes the event of an ID; false when there was none.
	DeleteEvent(ctx context.Context, id int64) (bool, error)
	// KnownEventTags returns those of tags that any event was ever stored
	// with (as django-tagging's tag table, they outlive their events).
	KnownEventTags(ctx context.Context, tags []string) ([]string, error)
}

// ErrTooManyEvents is returned by Events when more events than the query's
// Limit match.
var ErrTooManyEvents = errors.New("too many events")

// The bounds of an event, checked by CheckEvent.
const (
	MaxEventWhat = 255 // characters, as graphite-web's column
	MaxEventTag  = 255 // characters of one tag
	MaxEventTags = 100 // tags of one event
	MaxEventData = 64 << 10
)

// CheckEvent returns e with TagSet parsed from Tags, or an error naming the
// field past its bound.
func CheckEvent(e Event) (Event, error) {
	if e.What == "" {
		return e, errors.New(`"what" is required`)
	}
	if n := len([]rune(e.What)); n > MaxEventWhat {
		return e, fmt.Errorf(`"what" has %d characters, at most %d`, n, MaxEventWhat)
	}
	if len(e.Data) > MaxEventData {
		return e, fmt.Errorf(`"data" has %d bytes, at most %d`, len(e.Data), MaxEventData)
	}
	e.TagSet = ParseTagInput(e.Tags)
	if len(e.TagSet) > MaxEventTags {
		return e, fmt.Errorf(`%d tags, at most %d`, len(e.TagSet), MaxEventTags)
	}
	for _, t := range e.TagSet {
		if n := len([]rune(t)); n > MaxEventTag {
			return e, fmt.Errorf("a tag of %d characters, at most %d", n, MaxEventTag)
		}
	}
	return e, nil
}

// ParseTagInput parses tags as django-tagging's parse_tag_input, which
// graphite-web's events use: without commas or double quotes, words split on
// spaces; double quotes group words (and may hold commas); with a comma
// outside quotes, the unquoted parts split on commas instead. The tags come
// back trimmed, sorted and each once.
func ParseTagInput(input string) []string {
	if input == "" {
		return nil
	}
	var words []string
	if !strings.ContainsAny(input, `,"`) {
		words = splitStrip(input, " ")
	} else {
		var toSplit []string
		var buf []rune
		looseComma, openQuote := false, false
		rs := []rune(input)
		for i := 0; i < len(rs); i++ {
			c := rs[i]
			if c != '"' {
				if c == ',' {
					looseComma = true
				}
				buf = append(buf, c)
				continue
			}
			if len(buf) > 0 {
				toSplit = append(toSplit, string(buf))
				buf = buf[:0]
			}
			// Find the matching quote; an unclosed one leaves the rest unquoted.
			openQuote = true
			j := i + 1
			for j < len(rs) && rs[j] != '"' {
				buf = append(buf, rs[j])
				j++
			}
			if j == len(rs) {
				break
			}
			if w := strings.TrimSpace(string(buf)); w != "" {
				words = append(words, w)
			}
			buf = buf[:0]
			openQuote = false
			i = j
		}
		if len(buf) > 0 {
			if openQuote && slices.Contains(buf, ',') {
				looseComma = true
			}
			toSplit = append(toSplit, string(buf))
		}
		sep := " "
		if looseComma {
			sep = ","
		}
		for _, chunk := range toSplit {
			words = append(words, splitStrip(chunk, sep)...)
		}
	}
	slices.Sort(words)
	return slices.Compact(words)
}

// splitStrip is django-tagging's split_strip: the non-empty trimmed parts.
func splitStrip(s, sep string) []string {
	var out []string
	for _, w := range strings.Split(s, sep) {
		if w = strings.TrimSpace(w); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// matchTags reports whether an event's tag set holds all of tags (or, with
// any, one of them).
func matchTags(set, tags []string, any bool) bool {
	if len(tags) == 0 {
		return true
	}
	for _, t := range tags {
		has := slices.Contains(set, t)
		if any && has {
			return true
		}
		if !any && !has {
			return false
		}
	}
	return !any
}

// The stores that keep events.
var (
	_ EventStore = (*sqlStore)(nil)
	_ EventStore = (*cassandraStore)(nil)
)
