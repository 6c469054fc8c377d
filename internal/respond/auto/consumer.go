package auto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/source"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/flow/sensor"
	"github.com/kubeward/kubeward/internal/policy/admission"
	"github.com/kubeward/kubeward/internal/respond"
)

// Group is the consumer group of the automatic responder. It is separate
// from the alert pipeline's groups, so responding never holds back
// alerting and each sees every message.
const Group = "kubeward-auto-respond"

var messagesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_respond_auto_messages_total",
	Help: "Bus messages read by the automatic responder, by topic and result (handled; malformed: not a valid alert, dead-lettered; invalid: a matching rule built an action the executor refused).",
}, []string{"topic", "result"})

// topics are the topics the automatic responder reads: runtime detections,
// admission policy violations, ready-made alerts and flow anomalies (whose
// alerts carry the source_ip label that IP-ban rules name).
var topics = []string{detect.Topic, admission.TopicViolations, source.TopicAlerts, sensor.Topic}

// ConsumeOptions returns the options to consume, in Group, the topics the
// automatic responder reads: runtime detections, admission policy
// violations, ready-made alerts and flow anomalies.
func ConsumeOptions() bus.ConsumeOptions {
	return bus.ConsumeOptions{Group: Group, Topics: slices.Clone(topics)}
}

// NewHandler returns the bus handler that converts each message of the
// topics of ConsumeOptions with conv (by its topic) and passes the alert
// to r. A message that is not a valid alert, or of a topic it does not
// read, is rejected (dead-lettered). An
// action the executor refuses as invalid (e.g. a label that is not an IP
// address) is logged and counted, not retried; any other failure (the
// action store) makes the batch be redelivered: enforced actions already
// in place then come back busy and dry runs are not repeated, so a retry
// does not act twice.
func NewHandler(r *Responder, conv source.Converter, logger *slog.Logger) bus.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	converters := map[string]source.ConvertFunc{
		detect.Topic:              conv.Detection,
		admission.TopicViolations: conv.Violation,
		source.TopicAlerts:        conv.Alert,
		sensor.Topic:              conv.Anomaly,
	}
	return func(ctx context.Context, batch []bus.Message) error {
		var rejected []bus.Rejected
		for i, msg := range batch {
			a, err := convertMessage(converters, msg)
			if err != nil {
				messagesTotal.WithLabelValues(msg.Topic, "malformed").Inc()
				logger.WarnContext(ctx, "auto response: dropping a message that is not a valid alert", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "err", err)
				rejected = append(rejected, bus.Rejected{Index: i, Err: err})
				continue
			}
			if err := handle(ctx, r, a); err != nil {
				if !errors.Is(err, respond.ErrInvalid) {
					return fmt.Errorf("auto response to message %s/%d/%d: %w", msg.Topic, msg.Partition, msg.Offset, err)
				}
				messagesTotal.WithLabelValues(msg.Topic, "invalid").Inc()
				logger.WarnContext(ctx, "auto response: a rule built an action the executor refuses; fix the rule's target or params", "topic", msg.Topic, "offset", msg.Offset, "alert", a.Name(), "err", err)
				continue
			}
			messagesTotal.WithLabelValues(msg.Topic, "handled").Inc()
		}
		return bus.Reject(rejected...)
	}
}

func convertMessage(converters map[string]source.ConvertFunc, msg bus.Message) (alert.Alert, error) {
	convert, ok := converters[msg.Topic]
	if !ok {
		return alert.Alert{}, fmt.Errorf("topic %q is not one the automatic responder reads (%s)", msg.Topic, strings.Join(topics, ", "))
	}
	return convert(msg)
}

// handle passes a to r; an error that only wraps ErrInvalid failures is
// returned as such so the caller can tell it from a transient one.
func handle(ctx context.Context, r *Responder, a alert.Alert) error {
	_, err := r.Handle(ctx, a)
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			if !errors.Is(e, respond.ErrInvalid) {
				return e
			}
		}
	}
	return err
}
