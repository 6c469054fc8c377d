package eventstore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// DefaultRetention is how long events are kept unless configured.
const DefaultRetention = 7 * 24 * time.Hour

var prunedTotal = promauto.NewCounter(prometheus.CounterOpts{
	Name: "kubeward_eventstore_pruned_events_total",
	Help: "Events deleted from the event store because they were older than the retention.",
})

// Retention keeps a Store bounded by deleting events older than Keep.
type Retention struct {
	Store Store
	// Keep is how long events are kept (DefaultRetention when zero).
	Keep time.Duration
	// Every is how often Run prunes (an hour when zero).
	Every  time.Duration
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// PruneOnce deletes the events older than Keep and returns how many.
func (r Retention) PruneOnce(ctx context.Context) (int, error) {
	keep := r.Keep
	if keep == 0 {
		keep = DefaultRetention
	}
	if keep < 0 {
		return 0, fmt.Errorf("eventstore: retention %s: want a positive duration", keep)
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	n, err := r.Store.Prune(ctx, now().Add(-keep))
	if err != nil {
		return 0, fmt.Errorf("eventstore: pruning events older than %s: %w", keep, err)
	}
	prunedTotal.Add(float64(n))
	return n, nil
}

// Run prunes at once and then every Every until ctx ends; failures are
// logged and retried at the next tick. It returns ctx's error.
func (r Retention) Run(ctx context.Context) error {
	logger := r.Logger
	if logger == nil {
		logger = slog.Default()
	}
	every := r.Every
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := r.PruneOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.ErrorContext(ctx, "event retention prune failed", "err", err)
		case n > 0:
			logger.InfoContext(ctx, "pruned old events", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
