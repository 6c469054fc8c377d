package k8saudit

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/valyala/fastjson"

	"github.com/kubeward/kubeward/internal/detect/event"
)

// Size limits of the upstream k8saudit plugin (maxEventSize and
// webhookMaxBatchSize).
const (
	// MaxEventSize bounds one audit event (256 KiB).
	MaxEventSize = 256 << 10
	// MaxBatchSize bounds one webhook request body (12 MiB, about 20% more
	// than the apiserver's default 10 MiB batch).
	MaxBatchSize = 12 << 20
)

// Errors for events that are rejected individually.
var (
	// ErrNotAuditEvent means a JSON object is not a Kubernetes audit event.
	ErrNotAuditEvent = errors.New("not a Kubernetes audit event: the auditID field is missing")
	// ErrEventTooLarge means an event exceeds MaxEventSize.
	ErrEventTooLarge = fmt.Errorf("audit event larger than %d bytes", MaxEventSize)
)

// ItemError reports one event of a batch that was rejected.
type ItemError struct {
	Index int
	Err   error
}

func (e ItemError) Error() string { return fmt.Sprintf("event %d: %v", e.Index, e.Err) }

func (e ItemError) Unwrap() error { return e.Err }

// IsAuditEvent reports whether v looks like an audit event.
func IsAuditEvent(v *fastjson.Value) bool {
	return v != nil && v.Type() == fastjson.TypeObject && v.Get("auditID") != nil
}

// FromValue wraps one parsed audit event. raw is its JSON text if known
// (nil to render it on demand).
func FromValue(v *fastjson.Value, raw []byte) (*event.Event, error) {
	if !IsAuditEvent(v) {
		return nil, ErrNotAuditEvent
	}
	t := event.ParseTime(v.Get("stageTimestamp"))
	if t.IsZero() {
		t = event.ParseTime(v.Get("requestReceivedTimestamp"))
	}
	e := &event.Event{Source: SourceName, Time: t, Value: v, Kind: string(v.GetStringBytes("stage"))}
	if raw != nil {
		e.SetRaw(raw)
	}
	return e, nil
}

// Decode splits an apiserver payload into events: an EventList (as the
// webhook backend posts), a single Event, or a JSON array of events.
// Events that are not audit events or exceed MaxEventSize are reported in
// rejected and left out; err is set only when body is not usable at all.
// The events are valid until d is used again.
func Decode(d *event.Decoder, body []byte) (events []*event.Event, rejected []ItemError, err error) {
	v, err := d.Parse(body)
	if err != nil {
		return nil, nil, err
	}
	var items []*fastjson.Value
	switch {
	case v.Type() == fastjson.TypeArray:
		items = v.GetArray()
	case v.Type() == fastjson.TypeObject && string(v.GetStringBytes("kind")) == "EventList":
		iv := v.Get("items")
		if iv != nil && iv.Type() != fastjson.TypeArray && iv.Type() != fastjson.TypeNull {
			return nil, nil, errors.New("EventList.items is not an array")
		}
		items = iv.GetArray()
	case v.Type() == fastjson.TypeObject:
		if len(body) > MaxEventSize {
			return nil, []ItemError{{Index: 0, Err: ErrEventTooLarge}}, nil
		}
		e, err := FromValue(v, body)
		if err != nil {
			return nil, []ItemError{{Index: 0, Err: err}}, nil
		}
		return []*event.Event{e}, nil, nil
	default:
		return nil, nil, fmt.Errorf("want an audit Event, an EventList or an array of events, got a JSON %s", v.Type())
	}
	events = make([]*event.Event, 0, len(items))
	var scratch []byte
	for i, it := range items {
		scratch = it.MarshalTo(scratch[:0])
		raw := bytes.Clone(scratch)
		if len(raw) > MaxEventSize {
			rejected = append(rejected, ItemError{Index: i, Err: ErrEventTooLarge})
			continue
		}
		e, err := FromValue(it, raw)
		if err != nil {
			rejected = append(rejected, ItemError{Index: i, Err: err})
			continue
		}
		events = append(events, e)
	}
	return events, rejected, nil
}
