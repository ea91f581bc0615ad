// Package expr parses graphite render targets: path patterns, function
// calls with positional and keyword arguments, numbers, quoted strings and
// booleans, as graphite-web's grammar accepts them.
package expr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind is what an expression is.
type Kind int

// The kinds.
const (
	Path Kind = iota
	Call
	Number
	String
	Bool
	None // Python's None, an argument written none (any case)
)

// Expr is one parsed expression.
type Expr struct {
	Kind   Kind
	Text   string // path pattern, function name or string value
	Number float64
	Bool   bool
	Args   []*Expr
	Kwargs map[string]*Expr
	Raw    string // a call's text as the target wrote it (graphite's call.raw)
}

// DefaultMaxDepth is how deeply Parse lets function calls nest: far more
// than any dashboard writes, few enough that evaluating the names graphite
// builds level by level stays cheap.
const DefaultMaxDepth = 64

// ErrTooDeep is returned (wrapped) for a target whose calls nest deeper
// than the parser allows.
var ErrTooDeep = errors.New("functions nest too deeply")

// Parse parses a whole target, with calls nested up to DefaultMaxDepth.
func Parse(s string) (*Expr, error) { return ParseDepth(s, DefaultMaxDepth) }

// ParseDepth parses a whole target whose calls nest at most maxDepth levels
// (0: DefaultMaxDepth), in time linear in its length. Errors quote at most
// a few dozen bytes of it.
func ParseDepth(s string, maxDepth int) (*Expr, error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	p := &parser{s: s, maxDepth: maxDepth}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.rest(), p.i)
	}
	return e, nil
}

// snippetLen is the most of a target an error quotes.
const snippetLen = 32

// rest is what follows the parser's offset, cut for an error message.
func (p *parser) rest() string { return cut(p.s[p.i:]) }

// cut shortens s for an error message.
func cut(s string) string {
	if len(s) > snippetLen {
		return s[:snippetLen] + "..."
	}
	return s
}

// FirstPath returns the first path pattern in e, following first arguments,
// as graphite-web's aliasByNode does for names that carry functions.
func (e *Expr) FirstPath() (string, bool) {
	for e != nil {
		switch e.Kind {
		case Path:
			return e.Text, true
		case Call:
			if len(e.Args) == 0 {
				return "", false
			}
			e = e.Args[0]
		default:
			return "", false
		}
	}
	return "", false
}

type parser struct {
	s        string
	i        int
	depth    int // calls open at the offset
	maxDepth int
}

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func isIdent(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

func (p *parser) expr() (*Expr, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("unexpected end of target")
	}
	switch c := p.s[p.i]; {
	case c == '"' || c == '\'':
		end := strings.IndexByte(p.s[p.i+1:], c)
		if end < 0 {
			return nil, fmt.Errorf("unterminated string at offset %d", p.i)
		}
		e := &Expr{Kind: String, Text: p.s[p.i+1 : p.i+1+end]}
		p.i += end + 2
		return e, nil
	case c == ')' || c == ',':
		return nil, fmt.Errorf("unexpected %q at offset %d", c, p.i)
	}
	// A function call is an identifier followed by '('.
	j := p.i
	for j < len(p.s) && isIdent(p.s[j], j == p.i) {
		j++
	}
	if j > p.i && j < len(p.s) && p.s[j] == '(' {
		if p.depth >= p.maxDepth {
			return nil, fmt.Errorf("%w: more than %d levels of calls at offset %d", ErrTooDeep, p.maxDepth, p.i)
		}
		p.depth++
		start := p.i
		e, err := p.call(p.s[p.i:j], j+1)
		p.depth--
		if err == nil {
			e.Raw = p.s[start:p.i]
		}
		return e, err
	}
	tok := p.token()
	if tok == "" {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.s[p.i:p.i+1], p.i)
	}
	switch strings.ToLower(tok) {
	case "true":
		return &Expr{Kind: Bool, Bool: true}, nil
	case "false":
		return &Expr{Kind: Bool}, nil
	case "none":
		if p.depth > 0 { // graphite's grammar has none among the arguments only
			return &Expr{Kind: None}, nil
		}
	}
	if f, err := strconv.ParseFloat(tok, 64); err == nil && tok[0] != '+' && !strings.ContainsAny(tok, "xXnN_") {
		return &Expr{Kind: Number, Number: f, Text: tok}, nil
	}
	return &Expr{Kind: Path, Text: tok}, nil
}

// token reads a path or number: up to a ',' or ')' outside braces and
// brackets.
func (p *parser) token() string {
	start, depth := p.i, 0
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ',', ')':
			if depth <= 0 {
				return strings.TrimRight(p.s[start:p.i], " \t")
			}
		case ' ', '\t':
			if depth <= 0 {
				return p.s[start:p.i]
			}
		}
		p.i++
	}
	return p.s[start:p.i]
}

func (p *parser) call(fn string, at int) (*Expr, error) {
	p.i = at
	e := &Expr{Kind: Call, Text: fn}
	name := cut(fn) // for errors
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
		return e, nil
	}
	for {
		p.space()
		// keyword argument: name=value
		j := p.i
		for j < len(p.s) && isIdent(p.s[j], j == p.i) {
			j++
		}
		key := ""
		if j > p.i && j < len(p.s) && p.s[j] == '=' && (j+1 >= len(p.s) || p.s[j+1] != '~') {
			key = p.s[p.i:j]
			p.i = j + 1
		}
		arg, err := p.expr()
		if err != nil {
			if errors.Is(err, ErrTooDeep) {
				return nil, err // naming every enclosing call would repeat maxDepth names
			}
			return nil, fmt.Errorf("%s(): %w", name, err)
		}
		if key != "" {
			if e.Kwargs == nil {
				e.Kwargs = map[string]*Expr{}
			}
			e.Kwargs[key] = arg
		} else {
			if e.Kwargs != nil {
				return nil, fmt.Errorf("%s(): positional argument after keyword argument", name)
			}
			e.Args = append(e.Args, arg)
		}
		p.space()
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("%s(): missing ')'", name)
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ')':
			p.i++
			return e, nil
		default:
			return nil, fmt.Errorf("%s(): unexpected %q at offset %d", name, p.s[p.i], p.i)
		}
	}
}
