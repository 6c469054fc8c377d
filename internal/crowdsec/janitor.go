package crowdsec

import (
	"context"
	"log/slog"
	"time"
)

// Janitor prunes decisions that ended more than Retention ago. Retention
// must exceed the longest bouncer poll interval, or a bouncer may miss a
// deletion (it still drops the decision itself when its duration runs out).
type Janitor struct {
	// Store is pruned.
	Store Store
	// Retention is how long ended decisions are kept (24h when zero).
	Retention time.Duration
	// Interval between prunes (10m when zero).
	Interval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger (slog.Default when nil).
	Logger *slog.Logger
}

// Run prunes until ctx ends and returns ctx's error.
func (j *Janitor) Run(ctx context.Context) error {
	retention, interval, now, log := j.Retention, j.Interval, j.Now, j.Logger
	if retention <= 0 {
		retention = 24 * time.Hour
	}
	if interval <= 0 {
		interval = 10 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		n, err := j.Store.Prune(ctx, now().Add(-retention))
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "crowdsec: prune ended decisions", "err", err)
		} else if n > 0 {
			log.DebugContext(ctx, "crowdsec: pruned ended decisions", "count", n)
		}
	}
}
