package fn

import (
	"fmt"
	"regexp"
	"strings"
)

// TagMatcher is one seriesByTag expression: tag=value, tag!=value,
// tag=~regex or tag!=~regex (regexes anchored at the start, as Python's
// re.match).
type TagMatcher struct {
	Tag   string
	Op    string // =, !=, =~ or !=~
	Value string
	re    *regexp.Regexp
}

// tagSpec is graphite-web's grammar of a tag expression.
const tagSpec = `^([^;!=]+)(!?=~?)([^;]*)$`

// ParseTagExpr reads a tag expression.
func ParseTagExpr(s string) (TagMatcher, error) {
	p := regexp.MustCompile(tagSpec).FindStringSubmatch(s)
	if p == nil {
		return TagMatcher{}, fmt.Errorf("invalid tag expression %q: want tag=value, tag!=value, tag=~regex or tag!=~regex", s)
	}
	m := TagMatcher{Tag: p[1], Op: p[2], Value: p[3]}
	if strings.HasSuffix(m.Op, "~") {
		// graphite-web anchors the regex at the start unless it already
		// is, and then has SQLite search with it (so "^a|b" finds a b
		// anywhere); but an expression that holds for an empty value it
		// checks itself, with Python's re.match (anchored at the start).
		spec := m.Value
		if !strings.HasPrefix(spec, "^") {
			spec = "^(?:" + spec + ")"
		}
		re, err := PyRegexp(spec)
		if err != nil {
			return m, fmt.Errorf("tag expression %q: %v", s, err)
		}
		if re.MatchString("") == (m.Op == "=~") {
			re, _ = PyRegexp("^(?:" + spec + ")")
		}
		m.re = re
	}
	return m, nil
}

// Match reports whether a series of these tags matches.
func (m TagMatcher) Match(tags map[string]string) bool {
	v := tags[m.Tag]
	switch m.Op {
	case "=":
		return v == m.Value
	case "!=":
		return v != m.Value
	case "=~":
		return m.re.MatchString(v)
	}
	return !m.re.MatchString(v)
}

// TagsOf returns a series' tags, parsed from its path: at least its name.
func TagsOf(path string) map[string]string {
	name, rest, _ := strings.Cut(path, ";")
	tags := map[string]string{"name": name}
	for _, kv := range strings.Split(rest, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			tags[k] = v
		}
	}
	return tags
}

// nameTags are the tags graphite-web gives a new series of this name
// (TimeSeries): only the name when it looks like a call (letters, "(", ...,
// ")") or when its tags do not parse as graphite's TaggedSeries.parse reads
// them, else those its path carries.
func nameTags(name string) map[string]string {
	i := strings.IndexFunc(name, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if i > 0 && name[i] == '(' && len(name) > i+2 && strings.HasSuffix(name, ")") {
		return map[string]string{"name": name}
	}
	if tags, ok := parseCarbonTags(name); ok {
		return tags
	}
	return map[string]string{"name": name}
}

// parseCarbonTags is graphite's TaggedSeries.parse_carbon: metric;tag=value;...
// with each tag non-empty and without ';', '!', '^' or '=', each value
// non-empty and not starting with '~', and the metric a valid tag value
// once leading '~' are stripped.
func parseCarbonTags(path string) (map[string]string, bool) {
	segments := strings.Split(path, ";")
	metric := segments[0]
	if metric == "" {
		return nil, false
	}
	tags := map[string]string{}
	for _, seg := range segments[1:] {
		k, v, ok := strings.Cut(seg, "=")
		if !ok || k == "" || v == "" || strings.ContainsAny(k, ";!^=") || v[0] == '~' {
			return nil, false
		}
		tags[k] = v
	}
	name := strings.TrimLeft(metric, "~")
	if name == "" {
		return nil, false
	}
	tags["name"] = name
	return tags, true
}
