// Package event holds the event representation every detection source
// shares: one JSON document parsed once (with github.com/valyala/fastjson,
// the parser the upstream k8saudit plugin uses), its source and time, and
// the fields that apply to any JSON event (Falco's json plugin fields
// json.* / jevt.* and the generic evt.* fields).
package event

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/kubeward/kubeward/internal/detect/condition"
)

// Event is one event of a detection source.
type Event struct {
	// Source is the rule source the event belongs to ("k8s_audit", …).
	Source string
	// Time is the event's own timestamp (zero when it has none).
	Time time.Time
	// Value is the parsed document. It lives in memory owned by the
	// Decoder that produced it and is valid until that Decoder is reused.
	Value *fastjson.Value
	// Kind is a source-specific sub-type, e.g. "process_exec" for Tetragon.
	Kind string
	// Body is a source-specific inner object, e.g. the "process_exec"
	// object of a Tetragon event; nil when the source has none.
	Body *fastjson.Value

	raw []byte
}

// Raw returns the event's JSON text. For events cut out of a batch it is
// rendered compactly on first use.
func (e *Event) Raw() []byte {
	if e.raw == nil && e.Value != nil {
		e.raw = e.Value.MarshalTo(nil)
	}
	return e.raw
}

// SetRaw records the event's JSON text as received. The event keeps a
// reference to b; the caller must not modify it afterwards.
func (e *Event) SetRaw(b []byte) { e.raw = b }

// Decoder parses JSON documents. It reuses its memory: the values of the
// events it returned are valid only until the next call. A Decoder is not
// safe for concurrent use.
type Decoder struct {
	p fastjson.Parser
}

// Parse parses one JSON document.
func (d *Decoder) Parse(b []byte) (*fastjson.Value, error) {
	v, err := d.p.ParseBytes(b)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return v, nil
}

// Bytes returns the value as Falco's plugins print a JSON value: the
// contents of a string, the compact JSON text of anything else.
func Bytes(v *fastjson.Value) []byte {
	if v == nil {
		return nil
	}
	if v.Type() == fastjson.TypeString {
		return v.GetStringBytes()
	}
	return v.MarshalTo(nil)
}

// Pointer resolves an RFC 6901 JSON pointer ("/a/0/b", with ~1 for '/' and
// ~0 for '~') in v.
func Pointer(v *fastjson.Value, ptr string) *fastjson.Value {
	if ptr == "" {
		return v
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		if strings.Contains(tok, "~") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		}
		v = v.Get(tok)
		if v == nil {
			return nil
		}
	}
	return v
}

// ValidatePointer checks the syntax of a JSON pointer.
func ValidatePointer(ptr string) error {
	if ptr != "" && !strings.HasPrefix(ptr, "/") {
		return errors.New("a JSON pointer must be empty or start with '/'")
	}
	for i := 0; i < len(ptr); i++ {
		if ptr[i] == '~' && (i+1 >= len(ptr) || (ptr[i+1] != '0' && ptr[i+1] != '1')) {
			return fmt.Errorf("invalid escape in JSON pointer %q: '~' must be followed by 0 or 1", ptr)
		}
	}
	return nil
}

type field = condition.Field[*Event]

// one appends a single string value.
func one(dst []condition.Value, b []byte) ([]condition.Value, bool) {
	return append(dst, condition.Value{S: b}), true
}

func noArg(ex condition.Extractor[*Event]) func(string, bool) (condition.Extractor[*Event], error) {
	return func(string, bool) (condition.Extractor[*Event], error) { return ex, nil }
}

func pointerField(arg string, _ bool) (condition.Extractor[*Event], error) {
	if err := ValidatePointer(arg); err != nil {
		return nil, err
	}
	return func(e *Event, dst []condition.Value) ([]condition.Value, bool) {
		v := Pointer(e.Value, arg)
		if v == nil {
			return dst, false
		}
		return one(dst, Bytes(v))
	}, nil
}

func objField(e *Event, dst []condition.Value) ([]condition.Value, bool) {
	if e.Value == nil {
		return dst, false
	}
	return one(dst, e.Raw())
}

func rawtime(e *Event, dst []condition.Value) ([]condition.Value, bool) {
	if e.Time.IsZero() {
		return append(dst, condition.Value{N: 0}), true
	}
	return append(dst, condition.Value{N: e.Time.UnixNano()}), true
}

func timeField(layout string) condition.Extractor[*Event] {
	return func(e *Event, dst []condition.Value) ([]condition.Value, bool) {
		return one(dst, e.Time.UTC().AppendFormat(nil, layout))
	}
}

// Fields returns the fields every JSON event source provides: json.value,
// json.obj, json.rawtime and their jevt.* aliases (Falco's json plugin),
// and evt.time, evt.time.iso8601, evt.rawtime, evt.source.
func Fields() []*condition.Field[*Event] {
	var fs []*field
	for _, p := range []string{"json", "jevt"} {
		fs = append(fs,
			&field{Name: p + ".value", Arg: condition.ArgRequired, Desc: "The value at a JSON pointer in the event, e.g. " + p + ".value[/user/username]; strings unquoted, other values as compact JSON", Bind: pointerField},
			&field{Name: p + ".obj", Desc: "The whole event as JSON", Bind: noArg(objField)},
			&field{Name: p + ".rawtime", Type: condition.Int, Desc: "The event time in nanoseconds since the epoch", Bind: noArg(rawtime)},
		)
	}
	fs = append(fs,
		&field{Name: "evt.time", Desc: "The event time as HH:MM:SS.nnnnnnnnn (UTC)", Bind: noArg(timeField("15:04:05.000000000"))},
		&field{Name: "evt.time.iso8601", Desc: "The event time in ISO 8601 (UTC)", Bind: noArg(timeField("2006-01-02T15:04:05.000000000Z"))},
		&field{Name: "evt.rawtime", Type: condition.Int, Desc: "The event time in nanoseconds since the epoch", Bind: noArg(rawtime)},
		&field{Name: "evt.source", Desc: "The event source name", Bind: noArg(func(e *Event, dst []condition.Value) ([]condition.Value, bool) {
			return one(dst, []byte(e.Source))
		})},
	)
	return fs
}

// ParseTime parses an RFC 3339 timestamp as Kubernetes, Tetragon and Falco
// write them; the zero time is returned for a missing or invalid value.
func ParseTime(v *fastjson.Value) time.Time {
	b := v.GetStringBytes()
	if len(b) == 0 {
		if v != nil && v.Type() == fastjson.TypeNumber {
			if n, err := strconv.ParseInt(string(v.MarshalTo(nil)), 10, 64); err == nil {
				return time.Unix(0, n).UTC()
			}
		}
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}
	}
	return t
}
