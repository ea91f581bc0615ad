// Package find expands graphite path patterns against the path index, one
// level at a time: each node of "a.b*.{c,d}.[0-9]?" is matched against the
// children of the nodes the previous level matched, so no level is scanned
// beyond the branches the pattern selects.
package find

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/services/query-api/internal/par"
)

// Node is a matched path.
type Node struct {
	Path string
	Leaf bool
}

// Glob is one level of a pattern: * and ? (not across '.'), [...] classes,
// {a,b} alternatives. A level without them matches literally. A level that
// is "**" alone (Globstar) is Find's, not a Glob.
type Glob struct {
	literal string
	re      *regexp.Regexp
	sqlGlob string
}

// CompileGlob compiles one node of a pattern as graphite-web's finder
// matches it (fnmatch, after expanding {a,b} alternatives): * and ? match
// any run and any one character, [...] classes as Python's fnmatch reads
// them ('!' negates, '^' is a character, a ']' right after '[' or "[!" is
// one too, a '[' never closed matches itself, a reversed range matches
// nothing), and a '{' or '}' without its pair matches itself.
func CompileGlob(node string) (*Glob, error) {
	if !strings.ContainsAny(node, "*?[{") {
		return &Glob{literal: node}, nil
	}
	opens, closes := pairBraces(node)
	var b strings.Builder
	b.WriteString("(?s)^")
	depth := 0
	for i := 0; i < len(node); i++ {
		c := node[i]
		switch {
		case c == '*':
			b.WriteString(".*")
		case c == '?':
			b.WriteString(".")
		case c == '[':
			re, next := fnmatchClass(node, i+1)
			b.WriteString(re)
			i = next - 1
		case c == '{' && opens[i]:
			depth++
			b.WriteString("(?:")
		case c == '}' && closes[i]:
			depth--
			b.WriteString(")")
		case c == ',' && depth > 0:
			b.WriteString("|")
		default:
			b.WriteString(regexp.QuoteMeta(node[i : i+1])) // a byte: a character of several stays whole
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", node, err)
	}
	return &Glob{re: re, sqlGlob: sqlGlob(node)}, nil
}

// pairBraces pairs each '}' with the nearest unpaired '{' before it, outside
// classes, as graphite-web's expansion of the innermost {...} first does:
// the braces left unpaired are characters.
func pairBraces(node string) (opens, closes map[int]bool) {
	opens, closes = map[int]bool{}, map[int]bool{}
	var stack []int
	for i := 0; i < len(node); i++ {
		switch node[i] {
		case '[':
			if _, next := fnmatchClass(node, i+1); next > i+1 {
				i = next - 1
			}
		case '{':
			stack = append(stack, i)
		case '}':
			if len(stack) > 0 {
				opens[stack[len(stack)-1]], closes[i] = true, true
				stack = stack[:len(stack)-1]
			}
		}
	}
	return opens, closes
}

// fnmatchClass translates the class that starts at pat[i] (just after its
// '[') as Python 3.11's fnmatch.translate does, into a regular expression,
// and returns where the pattern goes on. With no ']' to close it, the '['
// is a character and the pattern goes on at i.
func fnmatchClass(pat string, i int) (re string, next int) {
	n, j := len(pat), i
	if j < n && pat[j] == '!' {
		j++
	}
	if j < n && pat[j] == ']' {
		j++
	}
	for j < n && pat[j] != ']' {
		j++
	}
	if j >= n {
		return `\[`, i
	}
	stuff := pat[i:j]
	if !strings.Contains(stuff, "-") {
		stuff = strings.ReplaceAll(stuff, `\`, `\\`)
	} else {
		var chunks []string
		lo, k := i, i+1
		if pat[i] == '!' {
			k = i + 2
		}
		for k < j {
			d := strings.IndexByte(pat[k:j], '-')
			if d < 0 {
				break
			}
			k += d
			chunks = append(chunks, pat[lo:k])
			lo, k = k+1, k+3
		}
		if chunk := pat[lo:j]; chunk != "" {
			chunks = append(chunks, chunk)
		} else {
			chunks[len(chunks)-1] += "-"
		}
		// Remove empty ranges (reversed), as Python does.
		for k := len(chunks) - 1; k > 0; k-- {
			a, b := chunks[k-1], chunks[k]
			if a != "" && b != "" && a[len(a)-1] > b[0] {
				chunks[k-1] = a[:len(a)-1] + b[1:]
				chunks = slices.Delete(chunks, k, k+1)
			}
		}
		for k, c := range chunks {
			chunks[k] = strings.ReplaceAll(strings.ReplaceAll(c, `\`, `\\`), "-", `\-`)
		}
		stuff = strings.Join(chunks, "-")
	}
	var esc strings.Builder
	for k := 0; k < len(stuff); k++ {
		if c := stuff[k]; c == '&' || c == '~' || c == '|' {
			esc.WriteByte('\\')
		}
		esc.WriteByte(stuff[k])
	}
	stuff = esc.String()
	switch {
	case stuff == "":
		return `[^\x00-\x{10FFFF}]`, j + 1 // an empty set: matches nothing
	case stuff == "!":
		return ".", j + 1
	case stuff[0] == '!':
		stuff = "^" + stuff[1:]
	case stuff[0] == '^' || stuff[0] == '[':
		stuff = `\` + stuff
	}
	return "[" + stuff + "]", j + 1
}

// SQLGlob returns the level as an SQLite GLOB pattern that matches every
// name the level matches (maybe more), or "" when it cannot say or should
// not: {a,b} alternatives, classes with more than letters, digits, '-' and
// '_', more than three '*'.
func (g *Glob) SQLGlob() string {
	if g.re == nil {
		if strings.ContainsAny(g.literal, "*?[]") {
			return ""
		}
		return g.literal
	}
	return g.sqlGlob
}

func sqlGlob(node string) string {
	// SQLite matches '*' by backtracking: more than a few could cost more
	// than the rows they save.
	if strings.ContainsAny(node, "{}") || strings.Count(node, "*") > 3 {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(node); i++ {
		c := node[i]
		if c != '[' {
			if c == ']' {
				return ""
			}
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(node[i:], ']')
		if j < 0 {
			return "" // a '[' never closed: a character, which GLOB would read as a class
		}
		class := node[i+1 : i+j]
		neg := strings.HasPrefix(class, "!")
		if neg {
			class = class[1:]
		}
		for _, r := range class {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return ""
			}
		}
		if neg {
			class = "^" + class
		}
		b.WriteString("[" + class + "]")
		i += j
	}
	return b.String()
}

// Match reports whether name (one level) matches.
func (g *Glob) Match(name string) bool {
	if g.re == nil {
		return name == g.literal
	}
	return g.re.MatchString(name)
}

// Literal returns the level's text when it has no wildcard.
func (g *Glob) Literal() (string, bool) { return g.literal, g.re == nil }

// splitLevels splits a pattern on the dots outside {...}.
func splitLevels(pattern string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '{':
			depth++
		case '}':
			depth--
		case '.':
			if depth == 0 {
				out = append(out, pattern[start:i])
				start = i + 1
			}
		}
	}
	return append(out, pattern[start:])
}

// Concurrency is how many parents' children one level lists at once.
const Concurrency = 8

// children lists the children of parents in chunks of 500, chunks side by
// side.
func children(ctx context.Context, r store.Reader, parents []Node, glob string) ([][]store.Node, error) {
	const chunk = 500
	out := make([][]store.Node, len(parents))
	err := par.For(ctx, (len(parents)+chunk-1)/chunk, Concurrency, func(c int) error {
		lo, hi := c*chunk, min((c+1)*chunk, len(parents))
		paths := make([]string, 0, hi-lo)
		for _, p := range parents[lo:hi] {
			paths = append(paths, p.Path)
		}
		kids, err := r.ChildrenOf(ctx, paths, glob)
		for i := lo; i < hi; i++ {
			out[i] = kids[parents[i].Path]
		}
		return err
	})
	return out, err
}

// Leaves returns every leaf path, level by level (a node can be a leaf and
// have children), at most limit (0: no limit; past it an error says so).
func Leaves(ctx context.Context, r store.Reader, limit int) ([]string, error) {
	var out []string
	frontier := []Node{{Path: ""}}
	for len(frontier) > 0 {
		kids, err := children(ctx, r, frontier, "")
		if err != nil {
			return nil, err
		}
		var next []Node
		for _, list := range kids {
			for _, c := range list {
				if c.Leaf {
					if out = append(out, c.Path); limit > 0 && len(out) > limit {
						return nil, fmt.Errorf("more than %d paths (max_find)", limit)
					}
				}
				next = append(next, Node{Path: c.Path, Leaf: c.Leaf})
			}
		}
		frontier = next
	}
	return out, nil
}

// Globstar is the level that matches any number of levels, none included,
// as graphite-web's standard finder has it: "a.**.b" finds a.b, a.x.b and
// a.x.y.b; a last "**" finds every node below ("a.**" is "a.**.*").
const Globstar = "**"

// Find returns the paths matching pattern, level by level, at most limit
// (0: no limit; past it an error says so). A "**" level walks every node
// below the nodes matched so far, at most limit of them too.
func Find(ctx context.Context, r store.Reader, pattern string, limit int) ([]Node, error) {
	// graphite-web's finder drops every backslash before it matches.
	levels := splitLevels(strings.ReplaceAll(pattern, `\`, ""))
	if levels[len(levels)-1] == Globstar {
		levels = append(levels, "*")
	}
	globs := make([]*Glob, len(levels))
	star := false
	for i, l := range levels {
		if l == Globstar {
			star = true
			continue // globs[i] stays nil
		}
		g, err := CompileGlob(l)
		if err != nil {
			return nil, err
		}
		globs[i] = g
	}
	frontier := []Node{{Path: ""}}
	for depth, g := range globs {
		if g == nil {
			var err error
			if frontier, err = descendants(ctx, r, frontier, pattern, limit); err != nil {
				return nil, err
			}
			continue
		}
		kids, err := children(ctx, r, frontier, g.SQLGlob())
		if err != nil {
			return nil, err
		}
		var next []Node
		for i, parent := range frontier {
			for _, c := range kids[i] {
				name := c.Path
				if parent.Path != "" {
					name = strings.TrimPrefix(c.Path, parent.Path+".")
				}
				if depth == len(globs)-1 {
					// the last level may carry ;tags on a leaf
					if bare, _, ok := strings.Cut(name, ";"); ok && c.Leaf && !g.Match(name) {
						name = bare
					}
				}
				if g.Match(name) {
					next = append(next, Node{Path: c.Path, Leaf: c.Leaf})
					if limit > 0 && len(next) > limit {
						return nil, fmt.Errorf("pattern %q matches more than %d paths", pattern, limit)
					}
				}
			}
		}
		frontier = next
		if len(frontier) == 0 {
			break
		}
	}
	if star {
		// "**" walks level by level: answer in path order, as without it.
		slices.SortFunc(frontier, func(a, b Node) int { return strings.Compare(a.Path, b.Path) })
		frontier = slices.CompactFunc(frontier, func(a, b Node) bool { return a.Path == b.Path })
	}
	return frontier, nil
}

// descendants returns nodes and every node below them, each once, walking
// a level at a time; past limit nodes (0: none) an error says so.
func descendants(ctx context.Context, r store.Reader, nodes []Node, pattern string, limit int) ([]Node, error) {
	seen := make(map[string]bool, len(nodes))
	var out []Node
	for _, n := range nodes {
		if !seen[n.Path] {
			seen[n.Path] = true
			out = append(out, n)
		}
	}
	level := out
	for len(level) > 0 {
		kids, err := children(ctx, r, level, "")
		if err != nil {
			return nil, err
		}
		var next []Node
		for _, list := range kids {
			for _, c := range list {
				if seen[c.Path] {
					continue
				}
				seen[c.Path] = true
				next = append(next, Node{Path: c.Path, Leaf: c.Leaf})
			}
		}
		out = append(out, next...)
		if limit > 0 && len(out) > limit {
			return nil, fmt.Errorf("pattern %q: %s walks more than %d paths", pattern, Globstar, limit)
		}
		level = next
	}
	return out, nil
}
