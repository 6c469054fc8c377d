// Package falcoalert provides the falco_alert event source: alerts in the
// shape of Falco's json_output (as its http_output and falcosidekick send
// them), so rules can re-evaluate, enrich and route Falco's findings.
//
// Fields (prefix "falco."):
//
//	falco.rule                 rule name
//	falco.priority             priority as Falco wrote it, e.g. Warning
//	falco.source               source of the original event, e.g. syscall
//	falco.output               full output line
//	falco.hostname             host that raised the alert
//	falco.time                 alert time as written
//	falco.tags                 rule tags (list)
//	falco.output_fields[key]   one output field, e.g. falco.output_fields[k8s.ns.name]
package falcoalert

import (
	"errors"

	"github.com/valyala/fastjson"

	"github.com/kubeward/kubeward/internal/detect/condition"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/rules"
)

// SourceName is the rule source of Falco alerts.
const SourceName = "falco_alert"

// Plugins names the field set for required_plugin_versions.
var Plugins = []rules.Plugin{{Name: "kubeward-falco-alert", Version: "1.0.0"}}

// ErrNotAlert means a JSON object is not a Falco alert.
var ErrNotAlert = errors.New("not a Falco alert: want an object with rule, priority and output")

// IsAlert reports whether v has the shape of a Falco json_output alert.
func IsAlert(v *fastjson.Value) bool {
	if v == nil || v.Type() != fastjson.TypeObject {
		return false
	}
	return v.GetStringBytes("rule") != nil && v.GetStringBytes("priority") != nil &&
		(v.Get("output") != nil || v.Get("output_fields") != nil)
}

// FromValue wraps one parsed alert; raw is its JSON text if known.
func FromValue(v *fastjson.Value, raw []byte) (*event.Event, error) {
	if !IsAlert(v) {
		return nil, ErrNotAlert
	}
	e := &event.Event{Source: SourceName, Kind: string(v.GetStringBytes("source")), Value: v, Body: v.Get("output_fields"), Time: event.ParseTime(v.Get("time"))}
	if raw != nil {
		e.SetRaw(raw)
	}
	return e, nil
}

type (
	ev      = *event.Event
	field   = condition.Field[ev]
	values  = []condition.Value
	extract = condition.Extractor[ev]
)

func key(k string) extract {
	return func(e ev, dst values) (values, bool) {
		v := e.Value.Get(k)
		if v == nil || v.Type() == fastjson.TypeNull {
			return dst, false
		}
		return append(dst, condition.Value{S: event.Bytes(v)}), true
	}
}

func fixed(ex extract) func(string, bool) (extract, error) {
	return func(string, bool) (extract, error) { return ex, nil }
}

// Fields returns the falco_alert field table plus the json.*, jevt.* and
// evt.* fields.
func Fields() *condition.Table[*event.Event] {
	s := func(name, desc string) *field {
		return &field{Name: "falco." + name, Desc: desc, Bind: fixed(key(name))}
	}
	fs := []*field{
		s("rule", "Rule name"),
		s("priority", "Priority as Falco wrote it, e.g. Warning"),
		s("source", "Source of the original event, e.g. syscall or k8s_audit"),
		s("output", "Full output line"),
		s("hostname", "Host that raised the alert"),
		s("time", "Alert time as written"),
		{Name: "falco.tags", Desc: "Rule tags", List: true, Bind: fixed(func(e ev, dst values) (values, bool) {
			arr := e.Value.GetArray("tags")
			if arr == nil {
				return dst, false
			}
			for _, t := range arr {
				dst = append(dst, condition.Value{S: event.Bytes(t)})
			}
			return dst, true
		})},
		{Name: "falco.output_fields", Arg: condition.ArgRequired, Desc: "One output field of the alert, e.g. falco.output_fields[proc.name]", Bind: func(arg string, _ bool) (extract, error) {
			return func(e ev, dst values) (values, bool) {
				if e.Body == nil {
					return dst, false
				}
				v := e.Body.Get(arg)
				if v == nil || v.Type() == fastjson.TypeNull {
					return dst, false
				}
				return append(dst, condition.Value{S: event.Bytes(v)}), true
			}, nil
		}},
	}
	return condition.NewTable(append(event.Fields(), fs...)...)
}
