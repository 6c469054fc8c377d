// Package source turns bus messages into alerts: it holds the bus consumers
// that feed the alert pipeline with runtime detections (topic
// detect.Topic), admission policy violations (topic
// admission.TopicViolations) and alerts that other producers publish ready
// made (topic TopicAlerts).
//
// Each consumer converts a batch, ingests the converted alerts in one call
// and rejects (dead-letters) the messages that cannot become an alert, so
// that one malformed message never blocks the stream. A storage failure is
// returned as a transient error: the batch is redelivered.
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/flow/sensor"
	"github.com/kubeward/kubeward/internal/policy/admission"
)

// TopicAlerts is the bus topic on which producers publish ready-made alerts
// (the JSON encoding of alert.Alert, read with alert.Decode): findings,
// anomalies, response actions.
const TopicAlerts = "alerts"

// Consumer group names of the alert pipeline's consumers. Each topic has
// its own group so that a slow or failing topic never holds back another.
const (
	GroupDetections = "kubeward-alert-detections"
	GroupViolations = "kubeward-alert-violations"
	GroupAlerts     = "kubeward-alert-alerts"
)

// Kinds of messages, the "kind" label of the messages metric.
const (
	KindDetection = "detection"
	KindViolation = "violation"
	KindAlert     = "alert"
)

// DefaultResolveAfter is how long an alert raised by a point event (a
// detection or a violation) fires when no further event repeats it.
const DefaultResolveAfter = time.Hour

var messagesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_alert_source_messages_total",
	Help: "Bus messages consumed by the alert pipeline, by kind (detection, violation, alert) and result (ingested; malformed: the message is not a valid alert; rejected: the pipeline refused the alert). Malformed and rejected messages are dead-lettered.",
}, []string{"kind", "result"})

// Ingester receives converted alerts; *dispatch.Dispatcher implements it.
type Ingester interface {
	Ingest(ctx context.Context, alerts ...alert.Alert) (dispatch.IngestResult, error)
}

// ConvertFunc converts one bus message into an alert, or says why it
// cannot.
type ConvertFunc func(msg bus.Message) (alert.Alert, error)

// Converter converts the messages of each supported topic into alerts.
type Converter struct {
	// ResolveAfter sets the EndsAt of alerts raised by point events
	// (detections, violations) to their time plus ResolveAfter, so that an
	// alert resolves on its own once its cause stops recurring: a repeat
	// within that time extends the same firing episode (see alert.Merge).
	// Zero means DefaultResolveAfter.
	ResolveAfter time.Duration
}

func (c Converter) resolveAfter() time.Duration {
	if c.ResolveAfter <= 0 {
		return DefaultResolveAfter
	}
	return c.ResolveAfter
}

// Alert converts a message of TopicAlerts: its value is one alert in JSON
// (see alert.Decode).
func (Converter) Alert(msg bus.Message) (alert.Alert, error) {
	a, err := alert.Decode(msg.Value)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: %w", coordinates(msg), err)
	}
	return a, nil
}

// NewHandler returns the bus handler that converts each message of a batch
// with convert and ingests the results in one call. kind labels the
// metric and the logs. Messages that convert fails on, or whose alert the
// ingester refuses, are rejected (dead-lettered) with the reason; a
// storage failure makes the whole batch be redelivered.
func NewHandler(kind string, ing Ingester, convert ConvertFunc, logger *slog.Logger) bus.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("kind", kind)
	return func(ctx context.Context, batch []bus.Message) error {
		var rejected []bus.Rejected
		alerts := make([]alert.Alert, 0, len(batch))
		index := make([]int, 0, len(batch)) // message index of alerts[i]
		for i, msg := range batch {
			a, err := convert(msg)
			if err != nil {
				messagesTotal.WithLabelValues(kind, "malformed").Inc()
				logger.WarnContext(ctx, "dropping a message that is not a valid alert", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "err", err)
				rejected = append(rejected, bus.Rejected{Index: i, Err: err})
				continue
			}
			alerts = append(alerts, a)
			index = append(index, i)
		}
		if len(alerts) > 0 {
			res, err := ing.Ingest(ctx, alerts...)
			if err != nil {
				return fmt.Errorf("alert source %s: ingest %d alerts: %w", kind, len(alerts), err)
			}
			for _, r := range res.Rejected {
				result := "malformed"
				if errors.Is(r.Err, dispatch.ErrTooManyAlerts) {
					result = "rejected"
				}
				messagesTotal.WithLabelValues(kind, result).Inc()
				msg := batch[index[r.Index]]
				logger.WarnContext(ctx, "the alert pipeline refused an alert", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "err", r.Err)
				rejected = append(rejected, bus.Rejected{Index: index[r.Index], Err: r.Err})
			}
			messagesTotal.WithLabelValues(kind, "ingested").Add(float64(res.Accepted))
		}
		return bus.Reject(rejected...)
	}
}

// Consumer is one consumer of the alert pipeline: run it with
// bus.Bus.Consume(ctx, c.Options, c.Handler).
type Consumer struct {
	Options bus.ConsumeOptions
	Handler bus.Handler
}

// Consumers returns the pipeline's consumers: detections, policy
// violations and ready-made alerts, each in its own group.
func Consumers(ing Ingester, conv Converter, logger *slog.Logger) []Consumer {
	return []Consumer{
		{bus.ConsumeOptions{Group: GroupDetections, Topics: []string{detect.Topic}}, NewHandler(KindDetection, ing, conv.Detection, logger)},
		{bus.ConsumeOptions{Group: GroupViolations, Topics: []string{admission.TopicViolations}}, NewHandler(KindViolation, ing, conv.Violation, logger)},
		{bus.ConsumeOptions{Group: GroupAlerts, Topics: []string{TopicAlerts}}, NewHandler(KindAlert, ing, conv.Alert, logger)},
		{bus.ConsumeOptions{Group: GroupAnomalies, Topics: []string{sensor.Topic}}, NewHandler(KindAnomaly, ing, conv.Anomaly, logger)},
	}
}

// coordinates names a message by where it lies on the bus.
func coordinates(msg bus.Message) string {
	return fmt.Sprintf("%s/%d/%d", msg.Topic, msg.Partition, msg.Offset)
}

// checkSize refuses a message larger than an alert may be.
func checkSize(msg bus.Message) error {
	if len(msg.Value) > alert.MaxAlertBytes {
		return fmt.Errorf("message %s of %d bytes exceeds the %d-byte limit", coordinates(msg), len(msg.Value), alert.MaxAlertBytes)
	}
	return nil
}

// eventTime is t, or the message's bus time when t is zero.
func eventTime(t time.Time, msg bus.Message) (time.Time, error) {
	if t.IsZero() {
		t = msg.Time
	}
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("message %s has no time: set the event time", coordinates(msg))
	}
	return t, nil
}
