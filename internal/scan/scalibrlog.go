package scan

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	scalibrlog "github.com/google/osv-scalibr/log"
)

// scalibrLogger forwards osv-scalibr's process-wide log output to slog.
// osv-scalibr's informational chatter (walk progress) goes to debug level;
// its errors and warnings go to warn. The destination can be swapped per
// scan because osv-scalibr only has one global logger.
type scalibrLogger struct {
	mu  sync.RWMutex
	log *slog.Logger
}

var scalibrLog = &scalibrLogger{log: slog.Default()}

func init() { scalibrlog.SetLogger(scalibrLog) }

func (l *scalibrLogger) set(log *slog.Logger) {
	l.mu.Lock()
	l.log = log
	l.mu.Unlock()
}

func (l *scalibrLogger) emit(level slog.Level, msg string) {
	l.mu.RLock()
	log := l.log
	l.mu.RUnlock()
	log.Log(context.Background(), level, "osv-scalibr: "+msg)
}

func (l *scalibrLogger) Errorf(format string, args ...any) {
	l.emit(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (l *scalibrLogger) Error(args ...any) { l.emit(slog.LevelWarn, fmt.Sprint(args...)) }
func (l *scalibrLogger) Warnf(format string, args ...any) {
	l.emit(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (l *scalibrLogger) Warn(args ...any) { l.emit(slog.LevelWarn, fmt.Sprint(args...)) }
func (l *scalibrLogger) Infof(format string, args ...any) {
	l.emit(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (l *scalibrLogger) Info(args ...any) { l.emit(slog.LevelDebug, fmt.Sprint(args...)) }
func (l *scalibrLogger) Debugf(format string, args ...any) {
	l.emit(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (l *scalibrLogger) Debug(args ...any) { l.emit(slog.LevelDebug, fmt.Sprint(args...)) }
