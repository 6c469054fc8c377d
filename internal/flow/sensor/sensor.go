// Package sensor turns closed flows into anomaly events on the bus: each
// flow the extractor ends is classified, and the ones judged not benign are
// published on Topic. It is the flow-sensor role of `kubeward serve`.
// Queue, the non-blocking publisher behind it, also carries the Hubble
// detector's anomalies (package hubble/anomaly) in the same Anomaly shape.
package sensor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/model"
)

// Topic carries one anomaly per message, keyed by flow ID.
const Topic = "flow.anomalies"

// DefaultQueue bounds the anomalies waiting to be published.
const DefaultQueue = 10000

var (
	flowsJudged = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_flow_sensor_flows_total",
		Help: "Flows classified by the sensor, by verdict (benign or alert).",
	}, []string{"verdict"})
	anomaliesDropped = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_flow_sensor_anomalies_dropped_total",
		Help: "Anomalies dropped because the publish queue was full (the bus is slower than the alerts).",
	})
	publishErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_flow_sensor_publish_errors_total",
		Help: "Anomaly batches the bus refused.",
	})
	closeToPublish = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "kubeward_flow_sensor_close_to_publish_seconds",
		Help:    "Time from a flow's end to its anomaly being acknowledged by the bus.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
)

// Anomaly is the message published for a flow judged not benign, or for a
// Hubble window in which a pod behaved anomalously.
type Anomaly struct {
	FlowID  string          `json:"flow_id"`
	Reason  string          `json:"end_reason"`
	Verdict model.Verdict   `json:"verdict"`
	Flow    json.RawMessage `json:"flow"`
	Time    time.Time       `json:"time"`
	// Labels identify the workload behind the anomaly when the source knows
	// it (namespace, pod, workload, node for Hubble windows); packet flows
	// carry none.
	Labels map[string]string `json:"labels,omitempty"`
}

// Sensor classifies closed flows and publishes anomalies.
type Sensor struct {
	classifier model.Classifier
	queue      *Queue
	log        *slog.Logger
	buf        bytes.Buffer
	enc        flow.Writer
}

// New returns a sensor publishing to pub with a queue of queueLen
// anomalies (DefaultQueue when ≤ 0). Call Run to publish.
func New(c model.Classifier, pub bus.Publisher, queueLen int, log *slog.Logger) (*Sensor, error) {
	if c == nil || pub == nil {
		return nil, errors.New("flow sensor: a classifier and a publisher are required")
	}
	if log == nil {
		log = slog.Default()
	}
	q, err := NewQueue(pub, queueLen, log)
	if err != nil {
		return nil, err
	}
	s := &Sensor{classifier: c, queue: q, log: log}
	enc, err := flow.NewWriter(&s.buf, "json")
	if err != nil {
		return nil, err
	}
	s.enc = enc
	return s, nil
}

// Emit is the extractor's EmitFunc. It runs on the capture goroutine, so
// it never blocks: when the queue is full the anomaly is dropped and
// counted.
func (s *Sensor) Emit(r *flow.Record, reason flow.EndReason) {
	v := s.classifier.Classify(r)
	if !v.Alert {
		flowsJudged.WithLabelValues("benign").Inc()
		return
	}
	flowsJudged.WithLabelValues("alert").Inc()
	s.buf.Reset()
	if err := s.enc.Write(r); err != nil {
		s.log.Warn("flow sensor: encode flow", "err", err)
		return
	}
	if err := s.enc.Flush(); err != nil {
		s.log.Warn("flow sensor: encode flow", "err", err)
		return
	}
	now := time.Now().UTC()
	s.queue.Offer(Anomaly{
		FlowID: r.FlowID(), Reason: fmt.Sprint(reason), Verdict: v,
		Flow: json.RawMessage(bytes.TrimSpace(s.buf.Bytes())), Time: now,
	}, now)
}

// Run publishes queued anomalies in batches until ctx ends, then publishes
// what is left (bounded by a short grace) and returns.
func (s *Sensor) Run(ctx context.Context) error { return s.queue.Run(ctx) }
