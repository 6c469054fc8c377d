package cli

import (
	"context"

	"github.com/kubeward/kubeward/internal/alert/source"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/cve/ingest"
	"github.com/kubeward/kubeward/internal/deadletter"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/eventstore"
	"github.com/kubeward/kubeward/internal/flow/sensor"
	"github.com/kubeward/kubeward/internal/policy/admission"
	"github.com/kubeward/kubeward/internal/scan/job"
	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/workers"
)

func newWorkerSet(ctx context.Context, app *App) (*workers.Set, context.Context) {
	return workers.New(ctx, app.Logger)
}

// newIngestConsumer returns the CVE consumer tuned for the store backend.
func newIngestConsumer(app *App, st store.Store) *ingest.Consumer {
	c := &ingest.Consumer{Store: st, Logger: app.Logger}
	if st.Backend() == "postgres" {
		c.Writers = 2
	}
	return c
}

// consumer is one bus consumer a worker set runs.
type consumer struct {
	name    string
	opts    bus.ConsumeOptions
	handler bus.Handler
}

// startConsumerSet runs the CVE consumer c, the alert pipeline and its
// consumers when al is not nil, and the dead-letter recorder for every
// topic consumed. Groups are declared first, so a drain that follows
// counts them even before their goroutines have joined.
func startConsumerSet(ctx context.Context, app *App, st store.Store, b bus.Bus, c *ingest.Consumer, al *alerting) (*workers.Set, context.Context) {
	set, wctx := workers.New(ctx, app.Logger)
	consumers := []consumer{{"cve-ingest", ingest.Options(), c.Handle}}
	dlqTopics := []string{ingest.Topic, detect.Topic}
	if es, ok := st.(interface{ Events() eventstore.Store }); ok {
		consumers = append(consumers, consumer{"event-store", eventstore.Options(), eventstore.NewHandler(es.Events(), app.Logger)})
	}
	if al != nil {
		set.Go(wctx, "alert-dispatch", func(ctx context.Context) error { return al.dispatcher.Run(ctx, 0) })
		scs := append(source.Consumers(al.dispatcher, source.Converter{}, app.Logger),
			source.FindingConsumer(al.dispatcher, source.FindingConverter{}, app.Logger))
		for _, sc := range scs {
			consumers = append(consumers, consumer{sc.Options.Group, sc.Options, sc.Handler})
		}
		dlqTopics = append(dlqTopics, admission.TopicViolations, source.TopicAlerts, sensor.Topic, job.Topic)
	}
	rec := &deadletter.Recorder{Store: st}
	dlq := make([]string, len(dlqTopics))
	for i, t := range dlqTopics {
		dlq[i] = bus.DeadLetterTopic(t)
	}
	if d, ok := b.(bus.GroupDeclarer); ok {
		for _, cs := range consumers {
			if err := d.DeclareGroup(cs.opts.Group, cs.opts.Topics...); err != nil {
				app.Logger.Warn("declaring consumer group failed; a drain may not wait for it", "group", cs.opts.Group, "err", err)
			}
		}
		if err := d.DeclareGroup(deadletter.Group, dlq...); err != nil {
			app.Logger.Warn("declaring consumer group failed; a drain may not wait for it", "group", deadletter.Group, "err", err)
		}
	}
	for _, cs := range consumers {
		set.Go(wctx, cs.name, func(ctx context.Context) error { return b.Consume(ctx, cs.opts, cs.handler) })
	}
	set.Go(wctx, "dead-letter-recorder", func(ctx context.Context) error { return rec.Run(ctx, b, dlqTopics...) })
	return set, wctx
}
