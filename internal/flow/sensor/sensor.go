// Package sensor turns closed flows into anomaly events on the bus: each
// flow the extractor ends is classified, and the ones judged not benign are
// published on Topic. It is the flow-sensor role of `kubeward serve`.
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

// Anomaly is the message published for a flow judged not benign.
type Anomaly struct {
	FlowID  string          `json:"flow_id"`
	Reason  string          `json:"end_reason"`
	Verdict model.Verdict   `json:"verdict"`
	Flow    json.RawMessage `json:"flow"`
	Time    time.Time       `json:"time"`
}

// Sensor classifies closed flows and publishes anomalies.
type Sensor struct {
	classifier model.Classifier
	pub        bus.Publisher
	log        *slog.Logger
	queue      chan pending
	buf        bytes.Buffer
	enc        flow.Writer
}

type pending struct {
	msg    bus.Message
	closed time.Time
}

// New returns a sensor publishing to pub with a queue of queueLen
// anomalies (DefaultQueue when ≤ 0). Call Run to publish.
func New(c model.Classifier, pub bus.Publisher, queueLen int, log *slog.Logger) (*Sensor, error) {
	if c == nil || pub == nil {
		return nil, errors.New("flow sensor: a classifier and a publisher are required")
	}
	if queueLen <= 0 {
		queueLen = DefaultQueue
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Sensor{classifier: c, pub: pub, log: log, queue: make(chan pending, queueLen)}
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
	id := r.FlowID()
	now := time.Now().UTC()
	body, err := json.Marshal(Anomaly{
		FlowID: id, Reason: fmt.Sprint(reason), Verdict: v,
		Flow: json.RawMessage(bytes.TrimSpace(s.buf.Bytes())), Time: now,
	})
	if err != nil {
		s.log.Warn("flow sensor: encode anomaly", "err", err)
		return
	}
	select {
	case s.queue <- pending{msg: bus.Message{Topic: Topic, Key: id, Value: body}, closed: now}:
	default:
		anomaliesDropped.Inc()
	}
}

// Run publishes queued anomalies in batches until ctx ends, then publishes
// what is left (bounded by a short grace) and returns.
func (s *Sensor) Run(ctx context.Context) error {
	batch := make([]pending, 0, 256)
	// flush publishes the batch; it keeps the batch when the publish was
	// cut short by ctx, so the shutdown path can still deliver it.
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		msgs := make([]bus.Message, len(batch))
		for i, p := range batch {
			msgs[i] = p.msg
		}
		if err := s.pub.Publish(ctx, msgs...); err != nil {
			if ctx.Err() != nil {
				return
			}
			publishErrors.Inc()
			s.log.Warn("flow sensor: publish anomalies", "count", len(msgs), "err", err)
		} else {
			for _, p := range batch {
				closeToPublish.Observe(time.Since(p.closed).Seconds())
			}
		}
		batch = batch[:0]
	}
	for ctx.Err() == nil {
		select {
		case p := <-s.queue:
			batch = append(batch, p)
		drain:
			for len(batch) < cap(batch) {
				select {
				case p := <-s.queue:
					batch = append(batch, p)
				default:
					break drain
				}
			}
			flush(ctx)
		case <-ctx.Done():
		}
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for {
		select {
		case p := <-s.queue:
			batch = append(batch, p)
			if len(batch) == cap(batch) {
				flush(gctx)
			}
		default:
			flush(gctx)
			if len(batch) > 0 {
				anomaliesDropped.Add(float64(len(batch)))
				s.log.Warn("flow sensor: anomalies not published before shutdown", "count", len(batch))
			}
			return nil
		}
	}
}
