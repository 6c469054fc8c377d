package kafka

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// slogAdapter routes franz-go's logs to slog. franz-go's debug logs are
// very chatty; they are emitted only when the slog handler enables debug.
type slogAdapter struct{ log *slog.Logger }

// Level implements kgo.Logger.
func (a slogAdapter) Level() kgo.LogLevel {
	ctx := context.Background()
	switch {
	case a.log.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelDebug
	case a.log.Enabled(ctx, slog.LevelInfo):
		return kgo.LogLevelInfo
	case a.log.Enabled(ctx, slog.LevelWarn):
		return kgo.LogLevelWarn
	default:
		return kgo.LogLevelError
	}
}

// Log implements kgo.Logger.
func (a slogAdapter) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var l slog.Level
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	case kgo.LogLevelInfo:
		l = slog.LevelInfo
	default:
		l = slog.LevelDebug
	}
	a.log.Log(context.Background(), l, "kafka client: "+msg, keyvals...)
}
