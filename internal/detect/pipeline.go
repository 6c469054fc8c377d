package detect

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect/event"
)

// Topic is the bus topic detections are published on, keyed by rule name.
const Topic = "detections"

// Bus message headers set on published detections.
const (
	HeaderSource   = "kubeward-detect-source"
	HeaderPriority = "kubeward-detect-priority"
)

// Pipeline evaluates events and publishes their detections. It is safe
// for concurrent use.
type Pipeline struct {
	Engine *Engine
	// Publisher receives the detections; nil only evaluates.
	Publisher bus.Publisher
	// Output, when set, also receives every detection as a Falco JSON line.
	Output io.Writer

	mu sync.Mutex // serialises writes to Output
}

// Process evaluates events and publishes the detections (one message per
// detection on Topic, keyed by rule, valued with the Falco JSON alert).
// It returns the detections; an error means the bus did not take them.
func (p *Pipeline) Process(ctx context.Context, events []*event.Event) ([]Detection, error) {
	var dets []Detection
	for _, ev := range events {
		dets = p.Engine.Evaluate(dets, ev)
	}
	if len(dets) == 0 {
		return dets, nil
	}
	if p.Output != nil {
		p.mu.Lock()
		err := WriteJSON(p.Output, dets)
		p.mu.Unlock()
		if err != nil {
			return dets, fmt.Errorf("writing detections: %w", err)
		}
	}
	if p.Publisher == nil {
		return dets, nil
	}
	msgs, err := Messages(dets)
	if err != nil {
		return dets, err
	}
	if err := p.Publisher.Publish(ctx, msgs...); err != nil {
		publishErrors.Inc()
		return dets, fmt.Errorf("publishing %d detections on %q: %w", len(msgs), Topic, err)
	}
	return dets, nil
}

// Messages encodes detections as bus messages.
func Messages(dets []Detection) ([]bus.Message, error) {
	msgs := make([]bus.Message, 0, len(dets))
	for _, d := range dets {
		b, err := d.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encoding detection of rule %q: %w", d.Rule, err)
		}
		msgs = append(msgs, bus.Message{
			Topic:   Topic,
			Key:     d.Rule,
			Value:   b,
			Headers: map[string]string{HeaderSource: d.Source, HeaderPriority: d.Priority.String()},
		})
	}
	return msgs, nil
}
