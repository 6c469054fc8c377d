// Package deadletter records dead-lettered bus messages in the store so
// operators can inspect them through the API and CLI whatever the bus
// (the in-process bus keeps nothing across restarts).
package deadletter

import (
	"context"
	"fmt"
	"time"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/store"
)

// Group is the consumer group of the dead-letter recorder.
const Group = "kubeward-dead-letter-recorder"

// Recorder consumes dead-letter topics into a store.DeadLetterStore.
type Recorder struct {
	Store store.DeadLetterStore
}

// Run consumes the dead-letter topics of topics until ctx is cancelled.
func (r *Recorder) Run(ctx context.Context, b bus.Bus, topics ...string) error {
	dlq := make([]string, len(topics))
	for i, t := range topics {
		dlq[i] = bus.DeadLetterTopic(t)
	}
	return b.Consume(ctx, bus.ConsumeOptions{Group: Group, Topics: dlq, MaxBatch: 100, MaxAttempts: -1}, r.Handle)
}

// Handle stores one batch of dead letters.
func (r *Recorder) Handle(ctx context.Context, batch []bus.Message) error {
	for _, m := range batch {
		created := m.Time
		if ts, err := time.Parse(time.RFC3339Nano, m.Headers[bus.HeaderDLQTime]); err == nil {
			created = ts
		}
		if created.IsZero() {
			created = time.Now()
		}
		topic := m.Headers[bus.HeaderDLQTopic]
		if topic == "" {
			topic = m.Topic
		}
		dl := store.DeadLetter{
			Topic:     topic,
			Key:       m.Key,
			Value:     m.Value,
			Headers:   m.Headers,
			Reason:    m.Headers[bus.HeaderDLQReason],
			CreatedAt: created.UTC(),
		}
		if err := r.Store.AddDeadLetter(ctx, dl); err != nil {
			return fmt.Errorf("record dead letter of %s key %q: %w", topic, m.Key, err)
		}
	}
	return nil
}
