package eventstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect"
)

// Group is the bus consumer group that stores detections; it consumes
// topic detect.Topic.
const Group = "kubeward-events"

// Options are the bus consume options of NewHandler's consumer: group
// Group on topic detect.Topic.
func Options() bus.ConsumeOptions {
	return bus.ConsumeOptions{Group: Group, Topics: []string{detect.Topic}}
}

var messagesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_eventstore_messages_total",
	Help: "Detection messages consumed by the event store, by result (stored; duplicate: already stored; malformed: not a Falco alert, dead-lettered).",
}, []string{"result"})

// NewHandler returns the bus handler that stores the detections of topic
// detect.Topic in st, one batch insert per delivered batch. Malformed
// messages are rejected (dead-lettered) and the others stored; a storage
// error fails the whole batch so the bus redelivers it (storing is
// idempotent).
func NewHandler(st Store, logger *slog.Logger) bus.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(ctx context.Context, batch []bus.Message) error {
		events := make([]Event, 0, len(batch))
		var rejected []bus.Rejected
		for i, m := range batch {
			e, err := Decode(m.Value)
			if err != nil {
				messagesTotal.WithLabelValues("malformed").Inc()
				logger.WarnContext(ctx, "malformed detection message rejected", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
				rejected = append(rejected, bus.Rejected{Index: i, Err: fmt.Errorf("topic %s: %w", detect.Topic, err)})
				continue
			}
			events = append(events, e)
		}
		if len(events) > 0 {
			added, err := st.Add(ctx, events)
			if err != nil {
				return fmt.Errorf("storing %d detection events: %w", len(events), err)
			}
			messagesTotal.WithLabelValues("stored").Add(float64(added))
			messagesTotal.WithLabelValues("duplicate").Add(float64(len(events) - added))
		}
		return bus.Reject(rejected...)
	}
}
