package main

// logs.go keeps the log small whatever clients do: what a client sent
// goes into a log line cut to a short preview, and a warning that can
// repeat without end (an accept that fails, a connection turned away) is
// written a few times a second at most, with a count of those held back.

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// logPreviewLen is the most of a client's bytes (a request target, a
// header value) that a log line shows.
const logPreviewLen = 64

// preview is s cut to logPreviewLen bytes, saying how long it was.
func preview(s string) string {
	if len(s) <= logPreviewLen {
		return s
	}
	return s[:logPreviewLen] + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// logLimit writes at most logBurst lines of each message a second.
type logLimit struct {
	log *slog.Logger

	mu    sync.Mutex
	kinds map[string]*logWindow
}

// logWindow counts one message's lines in the current second.
type logWindow struct {
	start   time.Time // when the second began
	written int       // lines written in it
	held    int       // lines held back since the last one written
}

// logBurst is how many lines of one message are written a second.
const logBurst = 5

// newLogLimit limits warnings written to log.
func newLogLimit(log *slog.Logger) *logLimit {
	return &logLimit{log: log, kinds: make(map[string]*logWindow)}
}

// warn writes msg as a warning, a few lines a second at most (write).
func (l *logLimit) warn(msg string, args ...any) { l.write(slog.LevelWarn, msg, args...) }

// info writes msg at level info, a few lines a second at most (write).
func (l *logLimit) info(msg string, args ...any) { l.write(slog.LevelInfo, msg, args...) }

// write writes msg unless logBurst lines of it were already written this
// second; the next line written says how many were held back.
func (l *logLimit) write(level slog.Level, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	w := l.kinds[msg]
	if w == nil {
		w = &logWindow{}
		l.kinds[msg] = w
	}
	if now.Sub(w.start) >= time.Second {
		w.start, w.written = now, 0
	}
	if w.written >= logBurst {
		w.held++
		l.mu.Unlock()
		return
	}
	w.written++
	held := w.held
	w.held = 0
	l.mu.Unlock()
	if held > 0 {
		args = append(args, "held back", held)
	}
	l.log.Log(context.Background(), level, msg, args...)
}
