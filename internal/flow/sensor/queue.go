package sensor

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/flow/model"
)

// shutdownGrace bounds how long Run keeps publishing what is queued once
// its context ended.
const shutdownGrace = 5 * time.Second

// Queue publishes anomalies on Topic. Offer never blocks (it is called on
// the goroutine reading packets or Hubble flows); Run drains the queue to
// the bus in batches. Both anomaly sources — the packet Sensor and the
// Hubble detector — publish through a Queue, so the bus sees one message
// shape and one set of metrics.
type Queue struct {
	pub   bus.Publisher
	log   *slog.Logger
	queue chan pending
}

type pending struct {
	msg    bus.Message
	closed time.Time
}

// NewQueue returns a queue of size anomalies (DefaultQueue when ≤ 0)
// publishing to pub. Call Run to publish.
func NewQueue(pub bus.Publisher, size int, log *slog.Logger) (*Queue, error) {
	if pub == nil {
		return nil, errors.New("flow sensor: a publisher is required")
	}
	if size <= 0 {
		size = DefaultQueue
	}
	if log == nil {
		log = slog.Default()
	}
	return &Queue{pub: pub, log: log, queue: make(chan pending, size)}, nil
}

// Offer queues a for publishing, keyed by its FlowID. closed is when the
// flow or window behind the anomaly ended; the time from it to the bus's
// acknowledgement is observed in kubeward_flow_sensor_close_to_publish_seconds.
// When the queue is full the anomaly is dropped, counted in
// kubeward_flow_sensor_anomalies_dropped_total, and Offer returns false;
// it also returns false (and logs) when the anomaly cannot be encoded.
func (q *Queue) Offer(a Anomaly, closed time.Time) bool {
	body, err := a.appendJSON(make([]byte, 0, 512+len(a.Flow)))
	if err != nil {
		q.log.Warn("flow sensor: encode anomaly", "flow_id", a.FlowID, "err", err)
		return false
	}
	return q.offer(pending{msg: bus.Message{Topic: Topic, Key: a.FlowID, Value: body}, closed: closed})
}

func (q *Queue) offer(p pending) bool {
	select {
	case q.queue <- p:
		return true
	default:
		anomaliesDropped.Inc()
		return false
	}
}

// Run publishes queued anomalies in batches until ctx ends, then publishes
// what is left (bounded by a short grace) and returns.
func (q *Queue) Run(ctx context.Context) error {
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
		if err := q.pub.Publish(ctx, msgs...); err != nil {
			if ctx.Err() != nil {
				return
			}
			publishErrors.Inc()
			q.log.Warn("flow sensor: publish anomalies", "count", len(msgs), "err", err)
		} else {
			for _, p := range batch {
				closeToPublish.Observe(time.Since(p.closed).Seconds())
			}
		}
		batch = batch[:0]
	}
	for ctx.Err() == nil {
		select {
		case p := <-q.queue:
			batch = append(batch, p)
		drain:
			for len(batch) < cap(batch) {
				select {
				case p := <-q.queue:
					batch = append(batch, p)
				default:
					break drain
				}
			}
			flush(ctx)
		case <-ctx.Done():
		}
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	for {
		select {
		case p := <-q.queue:
			batch = append(batch, p)
			if len(batch) == cap(batch) {
				flush(gctx)
			}
		default:
			flush(gctx)
			if len(batch) > 0 {
				anomaliesDropped.Add(float64(len(batch)))
				q.log.Warn("flow sensor: anomalies not published before shutdown", "count", len(batch))
			}
			return nil
		}
	}
}

// appendJSON appends a's JSON encoding (the one json.Marshal gives) to b.
// The flow record is copied as it is: json.Marshal would validate and
// compact it again, which costs a third of the sensor's time when every
// flow of a flood is an anomaly. Callers must put valid JSON in Flow.
func (a *Anomaly) appendJSON(b []byte) ([]byte, error) {
	head, err := json.Marshal(struct {
		FlowID  string        `json:"flow_id"`
		Reason  string        `json:"end_reason"`
		Verdict model.Verdict `json:"verdict"`
	}{a.FlowID, a.Reason, a.Verdict})
	if err != nil {
		return b, err
	}
	tail, err := json.Marshal(struct {
		Time   time.Time         `json:"time"`
		Labels map[string]string `json:"labels,omitempty"`
	}{a.Time, a.Labels})
	if err != nil {
		return b, err
	}
	flow := a.Flow
	if len(flow) == 0 {
		flow = json.RawMessage("null")
	}
	b = append(b, head[:len(head)-1]...)
	b = append(b, `,"flow":`...)
	b = append(b, flow...)
	b = append(b, ',')
	b = append(b, tail[1:]...)
	return b, nil
}
