package respond

import (
	"context"
	"log/slog"
	"time"
)

// Reconciler reverts expired actions: once at start (so actions that
// expired while kubeward was down are reverted after a restart) and then
// every Interval.
type Reconciler struct {
	// Manager does the work.
	Manager *Manager
	// Interval between passes (10s when zero).
	Interval time.Duration
	// Logger (slog.Default when nil).
	Logger *slog.Logger
}

// Run reconciles until ctx ends; it returns ctx's error.
func (r *Reconciler) Run(ctx context.Context) error {
	interval := r.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := r.Manager.ReconcileOnce(ctx)
		if n > 0 {
			log.InfoContext(ctx, "respond: reverted expired actions", "count", n)
		}
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "respond: reconcile actions", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
