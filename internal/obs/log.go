// Package obs is catalogd's observability: structured logs carrying the request id, Prometheus
// metrics (GET /metrics) and OpenTelemetry traces. It imports no other catalogd package:
// others report into it through small hooks wired in cmd/.
package obs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"regexp"
)

// NewLogger returns a logger writing format ("json" or "text") at level (debug, info, warn,
// error) to w. Every line logged with a context that carries a request id (the *Context
// methods, or the logger from Logger) names it.
func NewLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler
	switch format {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: use json or text", format)
	}
	return slog.New(contextHandler{Handler: h}), nil
}

// contextHandler adds a request id to every record: its own (a logger bound to a request,
// see WithLogger), else the record's context's.
type contextHandler struct {
	slog.Handler
	id string
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	id := h.id
	if id == "" {
		id = RequestID(ctx)
	}
	if id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(as), h.id}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name), h.id}
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	loggerKey
)

// WithRequestID returns ctx carrying a request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// WithLogger returns ctx carrying log bound to ctx's request id: every line it writes names
// the request, with or without a context.
func WithLogger(ctx context.Context, log *slog.Logger) context.Context {
	if id := RequestID(ctx); id != "" {
		if h, ok := log.Handler().(contextHandler); ok {
			log = slog.New(contextHandler{h.Handler, id})
		} else {
			log = log.With("request_id", id)
		}
	}
	return context.WithValue(ctx, loggerKey, log)
}

// Logger returns the logger ctx carries, or def.
func Logger(ctx context.Context, def *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok && l != nil {
		return l
	}
	return def
}

// saneRequestID is what an X-Request-Id from outside must look like to be kept: short, and
// nothing a log line or header could be confused by.
var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// RequestIDFrom returns the caller's X-Request-Id when it is sane, else a new random one.
func RequestIDFrom(header string) string {
	if saneRequestID.MatchString(header) {
		return header
	}
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
