// Package logging builds the structured logger every service uses.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// CheckLevel returns an error unless level is one New understands (debug,
// info, warn, error): configurations call it so that a typo fails
// --check-config instead of silently logging at info.
func CheckLevel(level string) error {
	if levels := []string{"debug", "info", "warn", "error"}; !slices.Contains(levels, level) {
		return fmt.Errorf("%q is not one of %s", level, strings.Join(levels, ", "))
	}
	return nil
}

// CheckFormat returns an error unless format is one New understands (text,
// json).
func CheckFormat(format string) error {
	if formats := []string{"text", "json"}; !slices.Contains(formats, format) {
		return fmt.Errorf("%q is not one of %s", format, strings.Join(formats, ", "))
	}
	return nil
}

// New returns a slog logger writing text or JSON to w at level ("debug",
// "info", "warn", "error"; anything else means info: validate with
// CheckLevel and CheckFormat first).
func New(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
