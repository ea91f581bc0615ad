// Package logging builds the structured logger every service uses.
package logging

import (
	"io"
	"log/slog"
)

// New returns a slog logger writing text or JSON to w at level ("debug",
// "info", "warn", "error"; anything else means info).
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
