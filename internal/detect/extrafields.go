package detect

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kubeward/kubeward/internal/detect/condition"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/k8saudit"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
)

// ExtraOutputFields maps a source name ("k8s_audit", "tetragon", …) to
// fields added to the output fields of every detection of that source,
// whatever the rule's output names: Falco's append_output with
// extra_fields. Their values go into Detection.Fields (the
// "output_fields" of the JSON alert), not into the output text, and a
// field the event does not have is left out.
//
// A field is written as in a rule output without its '%':
// "ka.sourceips", "ka.req.pod.containers.image[0]".
//
// *ExtraOutputFields implements the flag.Value and pflag.Value
// interfaces, each Set adding one "SOURCE:FIELD" to the map, so a command
// line flag can extend DefaultExtraOutputFields.
type ExtraOutputFields map[string][]string

// DefaultExtraOutputFields returns the fields added by default: the
// client address of Kubernetes audit events and the endpoints of Tetragon
// socket events, which alerting needs to turn a detection into an IP ban
// (alert labels source_ip and destination_ip) even when a rule's output,
// as in the upstream Falco k8saudit rules, does not name them.
func DefaultExtraOutputFields() ExtraOutputFields {
	return ExtraOutputFields{
		k8saudit.SourceName: {"ka.sourceips"},
		tetragon.SourceName: {"tetragon.net.source_ip", "tetragon.net.destination_ip"},
	}
}

// Add adds field to the extra output fields of source, unless it is there
// already.
func (x ExtraOutputFields) Add(source, field string) {
	if !slices.Contains(x[source], field) {
		x[source] = append(x[source], field)
	}
}

// Set parses "SOURCE:FIELD", as in --detect-extra-field
// k8s_audit:ka.user.name, and adds the field; it initialises a nil map.
// Whether the source and field exist is checked by New.
func (x *ExtraOutputFields) Set(s string) error {
	source, field, ok := strings.Cut(s, ":")
	source, field = strings.TrimSpace(source), strings.TrimSpace(field)
	if !ok || source == "" || field == "" {
		return fmt.Errorf("extra output field %q: want SOURCE:FIELD, as in k8s_audit:ka.sourceips", s)
	}
	if *x == nil {
		*x = ExtraOutputFields{}
	}
	x.Add(source, strings.TrimPrefix(field, "%"))
	return nil
}

// String returns the fields as comma-separated SOURCE:FIELD items, sources
// sorted by name.
func (x *ExtraOutputFields) String() string {
	if x == nil {
		return ""
	}
	var items []string
	for _, s := range slices.Sorted(maps.Keys(*x)) {
		for _, f := range (*x)[s] {
			items = append(items, s+":"+f)
		}
	}
	return strings.Join(items, ",")
}

// Type names the flag's value type for pflag's usage text.
func (x *ExtraOutputFields) Type() string { return "source:field" }

// extraField is one compiled extra output field of a source.
type extraField struct {
	name   string
	format *condition.Format[*event.Event]
}

// compileExtraFields compiles the extra output fields of one source with
// the source's slots, so that a field a rule condition already extracted
// is not extracted again.
func compileExtraFields(source string, names []string, table *condition.Table[*event.Event], slots *condition.Slots[*event.Event]) ([]extraField, error) {
	var out []extraField
	for _, name := range names {
		if slices.ContainsFunc(out, func(x extraField) bool { return x.name == name }) {
			continue
		}
		if name == "" {
			return nil, fmt.Errorf("extra output fields of source %q: empty field name", source)
		}
		f, err := condition.CompileFormat(table, slots, "%"+name)
		if err != nil {
			return nil, fmt.Errorf("extra output field %q of source %q: %w", name, source, err)
		}
		if got := f.FieldNames(); len(got) != 1 || got[0] != name {
			return nil, fmt.Errorf("extra output field %q of source %q: not a single field reference (write it as in a rule output, without '%%', e.g. ka.sourceips)", name, source)
		}
		out = append(out, extraField{name: name, format: f})
	}
	return out, nil
}

// resolveExtraFields returns the extra output fields to compile per
// source: cfg's when set (naming an unconfigured source is an error), else
// the defaults of the configured sources.
func resolveExtraFields(cfg ExtraOutputFields, sources []Source) (ExtraOutputFields, error) {
	known := map[string]bool{}
	names := make([]string, 0, len(sources))
	for _, s := range sources {
		known[s.Name] = true
		names = append(names, s.Name)
	}
	if cfg == nil {
		out := ExtraOutputFields{}
		for s, fields := range DefaultExtraOutputFields() {
			if known[s] {
				out[s] = fields
			}
		}
		return out, nil
	}
	var errs []error
	for _, s := range slices.Sorted(maps.Keys(cfg)) {
		if !known[s] {
			errs = append(errs, fmt.Errorf("extra output fields for source %q, which is not configured: use one of %s", s, strings.Join(names, ", ")))
		}
	}
	return cfg, errors.Join(errs...)
}

// ruleExtras returns the extra fields a rule's detections get: those its
// output does not already name.
func ruleExtras(output *condition.Format[*event.Event], extras []extraField) []extraField {
	own := output.FieldNames()
	var out []extraField
	for _, x := range extras {
		if !slices.Contains(own, x.name) {
			out = append(out, x)
		}
	}
	return out
}

// appendExtraFields appends the values of the extra fields the event has
// to dst.
func appendExtraFields(dst []condition.FieldValue, extras []extraField, ctx *condition.Ctx[*event.Event]) []condition.FieldValue {
	for _, x := range extras {
		n := len(dst)
		if dst = x.format.AppendFields(dst, ctx); dst[n].Value == nil {
			dst = dst[:n]
		}
	}
	return dst
}

// ruleOutput is what a rule's detections report as output fields besides
// the fields of its output.
type ruleOutput struct {
	extras []extraField
	fields int // capacity: the output's fields and all extras
}

// fieldValues returns the values of the output's fields followed by the
// extra fields the event has.
func (o ruleOutput) fieldValues(output *condition.Format[*event.Event], ctx *condition.Ctx[*event.Event]) []condition.FieldValue {
	return appendExtraFields(output.AppendFields(make([]condition.FieldValue, 0, o.fields), ctx), o.extras, ctx)
}
