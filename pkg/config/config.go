// Package config loads consthash's TOML configuration files: a file is
// decoded over a struct that already holds the defaults, unknown keys are
// errors, and every error names the file, the key and the reason.
package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// ParseDuration reads every duration consthash takes, in configuration
// files, rollup times and command-line flags: a Go duration ("10s", "1m30s",
// "1.5h", "300ms", "-1h") or, as graphite retentions spell them, a whole
// number and one unit: s, m, h, d (24h), w (7d), y (365d), or their words
// (second(s), min, minute(s), hour(s), day(s), week(s), year(s)).
func ParseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j > i && j < len(s) {
		n, err := strconv.ParseInt(s[i:j], 10, 64)
		unit, ok := durationUnit(s[j:])
		if err == nil && ok && n <= int64(math.MaxInt64/unit) {
			d := time.Duration(n) * unit
			if s[0] == '-' {
				d = -d
			}
			return d, nil
		}
	}
	return 0, fmt.Errorf("%q is not a duration such as 10s, 1m30s, 168h, 7d, 2w or 5y", s)
}

// durationUnit is carbon's retention units (storage-schemas.conf).
func durationUnit(u string) (time.Duration, bool) {
	const day = 24 * time.Hour
	switch u {
	case "s", "second", "seconds":
		return time.Second, true
	case "m", "min", "minute", "minutes":
		return time.Minute, true
	case "h", "hour", "hours":
		return time.Hour, true
	case "d", "day", "days":
		return day, true
	case "w", "week", "weeks":
		return 7 * day, true
	case "y", "year", "years":
		return 365 * day, true
	}
	return 0, false
}

// Duration is a time.Duration that TOML spells as a string read by
// ParseDuration: "10s", "1m30s", "7d". It is also a flag.Value, so command
// line flags read durations the same way.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalText reads a duration with ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// NewDuration returns a *Duration holding d: the default of a command-line
// flag (cli.GenericFlag{Value: config.NewDuration(30 * time.Second)}).
func NewDuration(d time.Duration) *Duration {
	v := Duration(d)
	return &v
}

// Set reads a duration with ParseDuration (flag.Value).
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String returns the duration as a Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// Error is a configuration error: what is wrong with which key of which file.
type Error struct {
	File string // "" for flags and environment
	Line int    // 1-based line of the key in File, 0 when unknown
	Key  string // dotted TOML key, e.g. "clusters.main.members"
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.File != "" {
		b.WriteString(" " + e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error for key with a formatted reason.
func Errorf(file, key, format string, args ...any) error {
	return &Error{File: file, Key: key, Err: fmt.Errorf(format, args...)}
}

// Load decodes the TOML file at path over dst, which holds the defaults.
// A key that dst has no field for is an error, so typos fail at start-up.
func Load(path string, dst any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &Error{File: path, Err: err}
	}
	return Decode(path, string(b), dst)
}

// Decode is Load for TOML text; name is used in errors.
func Decode(name, text string, dst any) error {
	return decode(name, text, dst, true)
}

// DecodeLoose decodes without rejecting unknown keys: for reading a file into
// a generic map (to learn which keys it sets) before the strict Decode.
func DecodeLoose(name, text string, dst any) error {
	return decode(name, text, dst, false)
}

func decode(name, text string, dst any, strict bool) error {
	md, err := toml.Decode(text, dst)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return &Error{File: name, Line: pe.Position.Line, Key: pe.LastKey, Err: errors.New(pe.Message)}
		}
		return &Error{File: name, Err: err}
	}
	if und := md.Undecoded(); strict && len(und) > 0 {
		// One error per unknown key, each naming its line: "config f.toml:7: admin.lisen: unknown key".
		lines := KeyLines(text)
		var errs []error
		for _, k := range und {
			if typ := md.Type(k...); (typ == "Hash" || typ == "ArrayHash") && hasUndecodedBelow(und, k) {
				continue // a table whose keys are reported themselves
			}
			errs = append(errs, &Error{File: name, Line: lineOf(lines, k), Key: k.String(), Err: errors.New("unknown key")})
		}
		return errors.Join(errs...)
	}
	return nil
}

func hasUndecodedBelow(und []toml.Key, k toml.Key) bool {
	for _, o := range und {
		if len(o) > len(k) && slices.Equal(o[:len(k)], k) {
			return true
		}
	}
	return false
}

// lineOf is the line of key k, or of the nearest enclosing key or table that
// has one (an inline table's keys are on its line).
func lineOf(lines map[string]int, k toml.Key) int {
	for n := len(k); n > 0; n-- {
		if l, ok := lines[toml.Key(k[:n]).String()]; ok {
			return l
		}
	}
	return 0
}

// KeyLines maps each dotted key (as toml.Key.String spells it, without array
// indexes) and each table header of a TOML document to the line where it
// first appears. It reads the document line by line, skipping multi-line
// strings and arrays, which is all configuration files need.
func KeyLines(text string) map[string]int {
	out := map[string]int{}
	table := ""
	var inString string // the delimiter of the multi-line string we are in
	depth := 0          // open brackets of a multi-line array or inline table
	for i, ln := range strings.Split(text, "\n") {
		no := i + 1
		if inString != "" {
			if strings.Contains(ln, inString) {
				inString = ""
			}
			continue
		}
		t := strings.TrimSpace(ln)
		if depth > 0 {
			depth += bracketDepth(t)
			continue
		}
		if t == "" || t[0] == '#' {
			continue
		}
		if t[0] == '[' {
			name := strings.TrimPrefix(t, "[[")
			name = strings.TrimPrefix(name, "[")
			if j := strings.Index(name, "]"); j >= 0 {
				name = name[:j]
			}
			table = joinKey(splitKey(name))
			if _, ok := out[table]; !ok {
				out[table] = no
			}
			continue
		}
		eq := keyEnd(t)
		if eq < 0 {
			continue
		}
		key := joinKey(splitKey(t[:eq]))
		if table != "" {
			key = table + "." + key
		}
		if _, ok := out[key]; !ok {
			out[key] = no
		}
		val := strings.TrimSpace(t[eq+1:])
		for _, d := range []string{`"""`, "'''"} {
			if strings.HasPrefix(val, d) && !strings.Contains(val[3:], d) {
				inString = d
			}
		}
		if inString == "" {
			depth = max(0, bracketDepth(val))
		}
	}
	return out
}

// keyEnd is the index of the '=' that ends a key/value line's key, outside
// quotes; -1 when there is none.
func keyEnd(t string) int {
	var quote byte
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			return i
		}
	}
	return -1
}

// splitKey splits a dotted key on the dots outside quotes and unquotes
// each part.
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}

func joinKey(parts []string) string { return toml.Key(parts).String() }

// bracketDepth counts '[' and '{' minus ']' and '}' outside strings and
// comments.
func bracketDepth(t string) int {
	d := 0
	var quote byte
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return d
		case c == '[' || c == '{':
			d++
		case c == ']' || c == '}':
			d--
		}
	}
	return d
}
