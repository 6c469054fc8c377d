package detect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/valyala/fastjson"

	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/falcoalert"
	"github.com/kubeward/kubeward/internal/detect/k8saudit"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
)

// AutoSource asks Decode to recognise each event's source by its shape.
const AutoSource = ""

// Classify returns the source an event belongs to by its shape: audit
// events (and EventLists) have auditID (items), Tetragon events one of the
// process_* keys, Falco alerts rule, priority and output. It returns ""
// for anything else.
func Classify(v *fastjson.Value) string {
	switch {
	case v == nil || v.Type() != fastjson.TypeObject:
		return ""
	case k8saudit.IsAuditEvent(v) || string(v.GetStringBytes("kind")) == "EventList":
		return k8saudit.SourceName
	case tetragon.Kind(v) != "":
		return tetragon.SourceName
	case falcoalert.IsAlert(v):
		return falcoalert.SourceName
	}
	return ""
}

// DecodeError is a document that could not be turned into events; Reason
// is one of the Reason constants.
type DecodeError struct {
	Reason string
	Err    error
}

func (e *DecodeError) Error() string { return e.Err.Error() }

func (e *DecodeError) Unwrap() error { return e.Err }

// Decode turns one JSON document into events of source (AutoSource to
// recognise each by shape). A document may be a single event, a JSON
// array of events, or an audit EventList. Items that cannot be used are
// counted in kubeward_detect_malformed_events_total and returned as
// errors; the others are returned as events, valid until d is reused.
func Decode(d *event.Decoder, doc []byte, source string) ([]*event.Event, []error) {
	v, err := d.Parse(doc)
	if err != nil {
		CountMalformed(ReasonInvalidJSON)
		return nil, []error{&DecodeError{Reason: ReasonInvalidJSON, Err: err}}
	}
	var items []*fastjson.Value
	var raws [][]byte
	switch {
	case v.Type() == fastjson.TypeArray:
		items = v.GetArray()
	case v.Type() == fastjson.TypeObject && string(v.GetStringBytes("kind")) == "EventList":
		items = v.GetArray("items")
	default:
		items, raws = []*fastjson.Value{v}, [][]byte{doc}
	}
	var events []*event.Event
	var errs []error
	var scratch []byte
	for i, it := range items {
		var raw []byte
		if raws != nil {
			raw = raws[i]
		} else {
			scratch = it.MarshalTo(scratch[:0])
			raw = bytes.Clone(scratch)
		}
		e, err := fromValue(it, raw, source)
		if err != nil {
			errs = append(errs, fmt.Errorf("item %d: %w", i, err))
			continue
		}
		events = append(events, e)
	}
	return events, errs
}

func fromValue(v *fastjson.Value, raw []byte, source string) (*event.Event, error) {
	src := source
	if src == AutoSource {
		src = Classify(v)
	}
	var e *event.Event
	var err error
	switch src {
	case k8saudit.SourceName:
		if len(raw) > k8saudit.MaxEventSize {
			CountMalformed(ReasonTooLarge)
			return nil, &DecodeError{Reason: ReasonTooLarge, Err: k8saudit.ErrEventTooLarge}
		}
		e, err = k8saudit.FromValue(v, raw)
	case tetragon.SourceName:
		e, err = tetragon.FromValue(v, raw)
	case falcoalert.SourceName:
		e, err = falcoalert.FromValue(v, raw)
	case "":
		CountMalformed(ReasonUnknownShape)
		return nil, &DecodeError{Reason: ReasonUnknownShape, Err: errors.New("not a Kubernetes audit event, Tetragon event or Falco alert")}
	default:
		CountMalformed(ReasonUnknownSource)
		return nil, &DecodeError{Reason: ReasonUnknownSource, Err: fmt.Errorf("unknown source %q: want k8s_audit, tetragon or falco_alert", src)}
	}
	if err != nil {
		CountMalformed(ReasonNotAnEvent)
		return nil, &DecodeError{Reason: ReasonNotAnEvent, Err: err}
	}
	return e, nil
}

// MaxDocumentSize bounds one JSON document read by a Splitter.
const MaxDocumentSize = 64 << 20

// Splitter cuts a stream into top-level JSON documents: JSON lines,
// concatenated (pretty-printed) objects, or the elements of one top-level
// array.
type Splitter struct {
	br      *bufio.Reader
	dec     *json.Decoder
	inArray bool
}

// NewSplitter reads documents from r.
func NewSplitter(r io.Reader) *Splitter {
	return &Splitter{br: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next document, or io.EOF at the end.
func (s *Splitter) Next() ([]byte, error) {
	if s.dec == nil {
		if err := s.start(); err != nil {
			return nil, err
		}
	}
	if s.inArray && !s.dec.More() {
		if _, err := s.dec.Token(); err != nil { // the closing ']'
			return nil, fmt.Errorf("reading JSON array: %w", err)
		}
		s.inArray = false
	}
	var raw json.RawMessage
	if err := s.dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("reading JSON document at offset %d: %w", s.dec.InputOffset(), err)
	}
	if len(raw) > MaxDocumentSize {
		return nil, fmt.Errorf("JSON document at offset %d is larger than %d bytes", s.dec.InputOffset(), MaxDocumentSize)
	}
	return raw, nil
}

// start skips leading white space and enters a top-level array.
func (s *Splitter) start() error {
	for {
		b, err := s.br.Peek(1)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if len(b) == 1 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
			_, _ = s.br.ReadByte()
			continue
		}
		s.dec = json.NewDecoder(s.br)
		if len(b) == 1 && b[0] == '[' {
			if _, err := s.dec.Token(); err != nil {
				return fmt.Errorf("reading JSON array: %w", err)
			}
			s.inArray = true
		}
		return nil
	}
}
