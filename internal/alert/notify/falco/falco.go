// Package falco emits alerts as Falco JSON events (the format Falco writes
// with json_output and Falcosidekick receives), so tools built on Falco's
// output (Falcosidekick and its outputs, Falco Talon) consume kubeward
// alerts unchanged. Each alert is one POST:
//
//	{"output": "...", "priority": "Critical", "rule": "<alertname>",
//	 "time": "<RFC 3339, ns>", "output_fields": {...}, "source": "kubeward",
//	 "tags": ["kubeward", "<source>", "<severity>"], "hostname": "kubeward"}
package falco

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/notify"
)

// EventSource is the Falco event source kubeward events carry.
const EventSource = "kubeward"

// Config configures one Falco JSON endpoint (an element of falco_configs),
// typically Falcosidekick's root URL.
type Config struct {
	URL string `yaml:"url"`
	// Hostname is reported in the event (default "kubeward").
	Hostname string `yaml:"hostname"`
	// SendResolved sends resolved alerts too, tagged "resolved" (default
	// false: Falco events have no resolution).
	SendResolved *bool `yaml:"send_resolved"`
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.URL == "" {
		return notify.FieldErrorf("url", "url is required")
	}
	return notify.ValidateURL("url", c.URL)
}

// SendsResolved reports whether resolved alerts are sent.
func (c *Config) SendsResolved() bool { return notify.BoolOr(c.SendResolved, false) }

// Event is one Falco JSON event.
type Event struct {
	Output       string            `json:"output"`
	Priority     string            `json:"priority"`
	Rule         string            `json:"rule"`
	Time         string            `json:"time"`
	OutputFields map[string]string `json:"output_fields"`
	Source       string            `json:"source"`
	Tags         []string          `json:"tags"`
	Hostname     string            `json:"hostname"`
}

// Priority maps a severity to a Falco priority.
func Priority(s alert.Severity) string {
	switch s {
	case alert.SeverityCritical:
		return "Critical"
	case alert.SeverityHigh:
		return "Error"
	case alert.SeverityMedium:
		return "Warning"
	case alert.SeverityLow:
		return "Notice"
	default:
		return "Informational"
	}
}

// BuildEvent renders a as a Falco event at now.
func BuildEvent(a *alert.Alert, now time.Time, hostname string) Event {
	status := notify.AlertStatus(a, now)
	fields := make(map[string]string, len(a.Labels)+4)
	for k, v := range a.Labels {
		fields["kubeward."+k] = v
	}
	fields["kubeward.fingerprint"] = a.Fingerprint().String()
	fields["kubeward.status"] = status
	if a.GeneratorURL != "" {
		fields["kubeward.generator_url"] = a.GeneratorURL
	}
	if a.GeneratorID != "" {
		fields["kubeward.generator_id"] = a.GeneratorID
	}
	t := a.StartsAt
	if status == notify.StatusResolved {
		t = a.EndsAt
	}
	msg := a.Annotations["summary"]
	if msg == "" {
		msg = a.Name()
	}
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		if k != alert.LabelAlertName {
			kv = append(kv, k+"="+a.Labels[k])
		}
	}
	prio := Priority(a.Severity)
	output := fmt.Sprintf("%s: %s %s (%s)", t.UTC().Format("15:04:05.000000000"), prio, msg, strings.Join(kv, " "))
	tags := []string{EventSource, string(a.Source), string(a.Severity)}
	if status == notify.StatusResolved {
		output += " [resolved]"
		tags = append(tags, notify.StatusResolved)
	}
	return Event{
		Output:       output,
		Priority:     prio,
		Rule:         a.Name(),
		Time:         t.UTC().Format(time.RFC3339Nano),
		OutputFields: fields,
		Source:       EventSource,
		Tags:         tags,
		Hostname:     hostname,
	}
}

// Notifier posts Falco events to one endpoint.
type Notifier struct {
	url, hostname string
	opts          notify.Options
}

// New builds a Notifier.
func New(c Config, opts notify.Options) (*Notifier, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("falco: %w", err)
	}
	h := c.Hostname
	if h == "" {
		h = "kubeward"
	}
	return &Notifier{url: c.URL, hostname: h, opts: opts.WithDefaults()}, nil
}

// Notify implements notify.Notifier: one POST per alert, in order. A
// failure stops the batch; the retry re-posts from the first alert, so an
// endpoint may see an event twice but never misses one.
func (n *Notifier) Notify(ctx context.Context, _, _ string, alerts []*alert.Alert) (bool, error) {
	now := n.opts.Clock.Now()
	for _, a := range alerts {
		body, err := json.Marshal(BuildEvent(a, now, n.hostname))
		if err != nil {
			return false, fmt.Errorf("falco: encode event: %w", err)
		}
		if retry, err := notify.Post(ctx, n.opts.Client, n.url, "application/json", body, nil, now); err != nil {
			return retry, fmt.Errorf("falco: alert %s: %w", a.Fingerprint(), err)
		}
	}
	return false, nil
}
