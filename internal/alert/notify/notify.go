// Package notify delivers alert groups to receivers. It defines the
// Notifier interface that every receiver package (notify/slack,
// notify/webhook, notify/alertmanager, notify/email, notify/falco)
// implements, the data a notification carries, and the pipeline stages an
// aggregation group's alerts pass through before they reach a receiver:
// mute (inhibition and silences), dedup against the notification log,
// retry with backoff, and recording the notification.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
)

// Notifier sends one notification for an aggregation group.
type Notifier interface {
	// Notify delivers alerts, the group's alerts in fingerprint order, to
	// the receiver's endpoint. receiver names the configured receiver and
	// groupKey the aggregation group. It reports whether a failure is worth
	// retrying (network errors, HTTP 429 and 5xx): retry is false for
	// failures that will fail again (bad request, authentication refused).
	Notify(ctx context.Context, receiver, groupKey string, alerts []*alert.Alert) (retry bool, err error)
}

// Integration is one configured endpoint of a receiver (one element of a
// receiver's slack_configs, webhook_configs, …).
type Integration struct {
	// Receiver is the receiver's name, Kind the integration kind ("slack",
	// "webhook", "alertmanager", "email", "falco") and Index its position in
	// the receiver's list of that kind.
	Receiver string
	Kind     string
	Index    int
	// Notifier delivers notifications.
	Notifier Notifier
	// SendResolved says whether resolved alerts are sent.
	SendResolved bool
	// RepeatEachTick makes the integration re-send firing alerts on every
	// group tick instead of every repeat interval (Alertmanager v2, which
	// resolves alerts that are not refreshed).
	RepeatEachTick bool
}

// Name identifies the integration: "<receiver>/<kind>/<index>". It keys
// the notification log and labels the metrics.
func (i Integration) Name() string {
	return i.Receiver + "/" + i.Kind + "/" + strconv.Itoa(i.Index)
}

// Group describes the aggregation group a notification is for. The
// dispatcher puts it in the context handed to Notify (see WithGroup);
// receivers read it with GroupFrom.
type Group struct {
	// Key identifies the group.
	Key string
	// Receiver names the receiver the group's route sends to.
	Receiver string
	// Labels are the group_by labels and their values.
	Labels alert.LabelSet
	// Channel, when set, overrides the chat channel of the receiver for
	// this route (the route's `channel`).
	Channel string
	// Interval is the group's group_interval.
	Interval time.Duration
}

type groupKey struct{}

// WithGroup returns ctx carrying g.
func WithGroup(ctx context.Context, g Group) context.Context {
	return context.WithValue(ctx, groupKey{}, g)
}

// GroupFrom returns the group ctx carries; ok is false when there is none.
func GroupFrom(ctx context.Context) (g Group, ok bool) {
	g, ok = ctx.Value(groupKey{}).(Group)
	return g, ok
}

// Options are what every receiver constructor needs besides its config.
type Options struct {
	// Client sends HTTP requests (default: a client with a 10 s timeout).
	Client *http.Client
	// Clock tells the time put into payloads and signatures (default: the
	// wall clock).
	Clock alert.Clock
	// Logger receives diagnostics (default: slog.Default()).
	Logger *slog.Logger
	// ExternalURL is the console's base URL, linked from notifications.
	ExternalURL string
}

// WithDefaults returns o with zero fields replaced by their defaults.
func (o Options) WithDefaults() Options {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Clock == nil {
		o.Clock = alert.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Status of a notification or alert.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Data is what a notification says about a group, computed the way
// Alertmanager's template data is.
type Data struct {
	Receiver string
	GroupKey string
	// Status is "firing" when at least one alert fires, else "resolved".
	Status string
	// Firing and Resolved split the alerts by state at Now.
	Firing, Resolved []*alert.Alert
	// GroupLabels are the group_by labels; CommonLabels and
	// CommonAnnotations are those with the same value in every alert.
	GroupLabels       alert.LabelSet
	CommonLabels      alert.LabelSet
	CommonAnnotations map[string]string
	// Channel is the route's channel override, if any.
	Channel string
	// ExternalURL is the console's base URL.
	ExternalURL string
	// Now is the time the notification is built at.
	Now time.Time
}

// NewData computes the notification data for alerts at now.
func NewData(ctx context.Context, receiver, groupKey string, alerts []*alert.Alert, now time.Time, externalURL string) Data {
	d := Data{Receiver: receiver, GroupKey: groupKey, Status: StatusResolved, ExternalURL: externalURL, Now: now}
	if g, ok := GroupFrom(ctx); ok {
		d.GroupLabels = maps.Clone(g.Labels)
		d.Channel = g.Channel
	}
	if d.GroupLabels == nil {
		d.GroupLabels = alert.LabelSet{}
	}
	for _, a := range alerts {
		if a.Resolved(now) {
			d.Resolved = append(d.Resolved, a)
		} else {
			d.Firing = append(d.Firing, a)
		}
	}
	if len(d.Firing) > 0 {
		d.Status = StatusFiring
	}
	d.CommonLabels = alert.LabelSet(common(alerts, func(a *alert.Alert) map[string]string { return a.Labels }))
	d.CommonAnnotations = common(alerts, func(a *alert.Alert) map[string]string { return a.Annotations })
	return d
}

func common(alerts []*alert.Alert, get func(*alert.Alert) map[string]string) map[string]string {
	out := map[string]string{}
	if len(alerts) == 0 {
		return out
	}
	maps.Copy(out, get(alerts[0]))
	for _, a := range alerts[1:] {
		m := get(a)
		for k, v := range out {
			if m[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}

// AlertStatus returns "firing" or "resolved" for a at now.
func AlertStatus(a *alert.Alert, now time.Time) string {
	if a.Resolved(now) {
		return StatusResolved
	}
	return StatusFiring
}

// Title is the one-line summary of the group: "[FIRING:2] PrivilegedContainer
// (namespace=prod)".
func (d Data) Title() string {
	var b strings.Builder
	b.WriteString("[")
	b.WriteString(strings.ToUpper(d.Status))
	if d.Status == StatusFiring {
		fmt.Fprintf(&b, ":%d", len(d.Firing))
	}
	b.WriteString("] ")
	name := d.CommonLabels[alert.LabelAlertName]
	if name == "" {
		name = d.GroupLabels[alert.LabelAlertName]
	}
	if name == "" {
		name = "kubeward alerts"
	}
	b.WriteString(name)
	var rest []string
	for _, k := range slices.Sorted(maps.Keys(d.GroupLabels)) {
		if k != alert.LabelAlertName {
			rest = append(rest, k+"="+d.GroupLabels[k])
		}
	}
	if len(rest) > 0 {
		b.WriteString(" (" + strings.Join(rest, ", ") + ")")
	}
	return b.String()
}
