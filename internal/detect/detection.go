package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kubeward/kubeward/internal/detect/condition"
	"github.com/kubeward/kubeward/internal/detect/rules"
)

// Detection is one rule match.
type Detection struct {
	Rule     string
	Priority rules.Priority
	Source   string
	// Output is the rule's output with its %fields substituted (<NA> for
	// fields the event does not have).
	Output string
	// Fields are the values of the fields the output refers to, in order,
	// followed by those of the engine's extra output fields of the source
	// (Config.ExtraOutputFields) that the event has.
	Fields   []condition.FieldValue
	Tags     []string
	Time     time.Time
	Hostname string
	// Event is the JSON text of the event that matched.
	Event json.RawMessage
}

// falcoJSON is the shape of Falco's json_output alerts.
type falcoJSON struct {
	Hostname     string         `json:"hostname"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags"`
	Time         string         `json:"time"`
}

// OutputFields returns the output fields as Falco reports them, with
// evt.time (nanoseconds) added as Falco's "%evt.time:" prefix does.
func (d Detection) OutputFields() map[string]any {
	m := make(map[string]any, len(d.Fields)+1)
	for _, f := range d.Fields {
		m[f.Name] = f.Value
	}
	m["evt.time"] = d.Time.UnixNano()
	return m
}

// FalcoOutput is the full alert line Falco prints: the event time, the
// priority and the rule output.
func (d Detection) FalcoOutput() string {
	return fmt.Sprintf("%s: %s %s", d.Time.UTC().Format("15:04:05.000000000"), d.Priority, d.Output)
}

// MarshalJSON encodes the detection in the shape of Falco's json_output,
// so consumers of Falco alerts (falcosidekick, …) read it unchanged.
func (d Detection) MarshalJSON() ([]byte, error) {
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // Falco writes <NA> and & as they are
	err := enc.Encode(falcoJSON{
		Hostname:     d.Hostname,
		Output:       d.FalcoOutput(),
		OutputFields: d.OutputFields(),
		Priority:     d.Priority.String(),
		Rule:         d.Rule,
		Source:       d.Source,
		Tags:         tags,
		Time:         d.Time.UTC().Format(time.RFC3339Nano),
	})
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}
