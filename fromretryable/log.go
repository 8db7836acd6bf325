package fromretryable

// This file holds the loggers: resilient's log lines written to a
// go-retryablehttp Logger or LeveledLogger (retryableLog), and the Logger
// the hooks receive for a LeveledLogger (hookLogger).

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/hashicorp/go-retryablehttp"
)

// hookLogger is the Logger that the log hooks receive for a
// LeveledLogger, as go-retryablehttp gives them: Printf logs at Info.
type hookLogger struct{ l retryablehttp.LeveledLogger }

func (h hookLogger) Printf(format string, args ...any) { h.l.Info(fmt.Sprintf(format, args...)) }

// retryableLog is an slog.Handler that writes resilient's log lines to a
// go-retryablehttp logger: to a LeveledLogger at the record's level, with
// the attributes as key-value pairs, or to a Logger as one line with
// go-retryablehttp's level prefixes. It is safe for concurrent use if
// the logger is.
type retryableLog struct {
	leveled retryablehttp.LeveledLogger // nil when printf is set
	printf  retryablehttp.Logger
	attrs   []any  // WithAttrs', as key-value pairs
	group   string // WithGroup's prefix for keys: "a.b."
}

func (h *retryableLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *retryableLog) Handle(_ context.Context, r slog.Record) error {
	kv := make([]any, len(h.attrs), len(h.attrs)+2*r.NumAttrs())
	copy(kv, h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		kv = appendAttr(kv, h.group, a)
		return true
	})
	if l := h.leveled; l != nil {
		switch {
		case r.Level >= slog.LevelError:
			l.Error(r.Message, kv...)
		case r.Level >= slog.LevelWarn:
			l.Warn(r.Message, kv...)
		case r.Level >= slog.LevelInfo:
			l.Info(r.Message, kv...)
		default:
			l.Debug(r.Message, kv...)
		}
		return nil
	}
	var b strings.Builder
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("[ERR] ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("[WARN] ")
	case r.Level >= slog.LevelInfo:
		b.WriteString("[INFO] ")
	default:
		b.WriteString("[DEBUG] ")
	}
	b.WriteString(r.Message)
	for i := 0; i+1 < len(kv); i += 2 {
		v := fmt.Sprint(kv[i+1])
		if v == "" || strings.ContainsAny(v, " =\"\n") {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, " %s=%s", kv[i], v)
	}
	h.printf.Printf("%s", b.String())
	return nil
}

func (h *retryableLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]any(nil), h.attrs...)
	for _, a := range as {
		c.attrs = appendAttr(c.attrs, h.group, a)
	}
	return &c
}

func (h *retryableLog) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group += name + "."
	return &c
}

// appendAttr appends a's key, prefixed, and value to kv; a group's
// attributes are appended one by one, under its name.
func appendAttr(kv []any, prefix string, a slog.Attr) []any {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return kv
	}
	if a.Value.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			kv = appendAttr(kv, prefix, g)
		}
		return kv
	}
	return append(kv, prefix+a.Key, a.Value.Any())
}
