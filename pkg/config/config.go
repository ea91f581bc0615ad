// Package config loads consthash's TOML configuration files: a file is
// decoded over a struct that already holds the defaults, unknown keys are
// errors, and every error names the file, the key and the reason.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Duration is a time.Duration that TOML spells as a string, "10s" or "1m30s".
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"10s\" or \"1m\"", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String returns the duration as a Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// Error is a configuration error: what is wrong with which key of which file.
type Error struct {
	File string // "" for flags and environment
	Key  string // dotted TOML key, e.g. "clusters.main.members"
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.File != "" {
		b.WriteString(" " + e.File)
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
			return &Error{File: name, Key: pe.LastKey, Err: fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)}
		}
		return &Error{File: name, Err: err}
	}
	if und := md.Undecoded(); strict && len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return &Error{File: name, Key: keys[0], Err: fmt.Errorf("unknown key (unknown keys: %s)", strings.Join(keys, ", "))}
	}
	return nil
}
