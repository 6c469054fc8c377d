package cli

import (
	"context"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/cve/ingest"
	"github.com/kubeward/kubeward/internal/deadletter"
	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/workers"
)

func newWorkerSet(ctx context.Context, app *App) (*workers.Set, context.Context) {
	return workers.New(ctx, app.Logger)
}

// startConsumers starts the bus consumers that write to the store: the CVE
// ingest consumer and the dead-letter recorder. With enabled false the set
// is empty (the api role consumes nothing).
func startConsumers(ctx context.Context, app *App, st store.Store, b bus.Bus, enabled bool) (*workers.Set, context.Context) {
	if !enabled {
		return workers.New(ctx, app.Logger)
	}
	return startConsumerSet(ctx, app, st, b, newIngestConsumer(app, st))
}

// newIngestConsumer returns the CVE consumer tuned for the store backend.
func newIngestConsumer(app *App, st store.Store) *ingest.Consumer {
	c := &ingest.Consumer{Store: st, Logger: app.Logger}
	if st.Backend() == "postgres" {
		c.Writers = 2
	}
	return c
}

// startConsumerSet runs consumer c and the dead-letter recorder. Their
// groups are declared first, so a drain that follows counts them even
// before their goroutines have joined.
func startConsumerSet(ctx context.Context, app *App, st store.Store, b bus.Bus, c *ingest.Consumer) (*workers.Set, context.Context) {
	set, wctx := workers.New(ctx, app.Logger)
	if d, ok := b.(bus.GroupDeclarer); ok {
		for group, topics := range map[string][]string{
			ingest.Group:     {ingest.Topic},
			deadletter.Group: {bus.DeadLetterTopic(ingest.Topic)},
		} {
			if err := d.DeclareGroup(group, topics...); err != nil {
				app.Logger.Warn("declaring consumer group failed; a drain may not wait for it", "group", group, "err", err)
			}
		}
	}
	set.Go(wctx, "cve-ingest", func(ctx context.Context) error { return c.Run(ctx, b) })
	r := &deadletter.Recorder{Store: st}
	set.Go(wctx, "dead-letter-recorder", func(ctx context.Context) error { return r.Run(ctx, b, ingest.Topic) })
	return set, wctx
}
