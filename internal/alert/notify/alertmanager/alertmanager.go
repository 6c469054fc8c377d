// Package alertmanager forwards alerts to a Prometheus Alertmanager
// through its v2 API (POST /api/v2/alerts), so kubeward can feed an
// existing Alertmanager setup.
//
// Alertmanager resolves an alert that is not refreshed, so firing alerts
// are re-posted on every group tick (every group_interval) with endsAt set
// four group intervals ahead, as Prometheus does; resolved alerts are
// posted with their real endsAt.
package alertmanager

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/notify"
)

// APIPath is appended to the configured base URL.
const APIPath = "/api/v2/alerts"

// defaultInterval is used for endsAt when no group interval is known.
const defaultInterval = 5 * time.Minute

// Config configures one Alertmanager (an element of alertmanager_configs).
type Config struct {
	// URL is the Alertmanager base URL, e.g. http://alertmanager:9093.
	URL string `yaml:"url"`
	// SendResolved sends resolved alerts too (default true).
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
func (c *Config) SendsResolved() bool { return notify.BoolOr(c.SendResolved, true) }

// PostableAlert is one element of the request body, as defined by the
// Alertmanager v2 OpenAPI schema.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Notifier posts to one Alertmanager.
type Notifier struct {
	url  string
	opts notify.Options
}

// New builds a Notifier.
func New(c Config, opts notify.Options) (*Notifier, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("alertmanager: %w", err)
	}
	u, err := url.JoinPath(strings.TrimSuffix(c.URL, "/"), APIPath)
	if err != nil {
		return nil, fmt.Errorf("alertmanager: url: %w", err)
	}
	return &Notifier{url: u, opts: opts.WithDefaults()}, nil
}

// BuildAlerts returns the request body for alerts at now; interval is the
// group interval (firing alerts get endsAt = now + 4 × interval).
func BuildAlerts(alerts []*alert.Alert, now time.Time, interval time.Duration) []PostableAlert {
	if interval <= 0 {
		interval = defaultInterval
	}
	out := make([]PostableAlert, 0, len(alerts))
	for _, a := range alerts {
		p := PostableAlert{
			Labels:       a.Labels,
			Annotations:  a.Annotations,
			StartsAt:     a.StartsAt.UTC(),
			GeneratorURL: a.GeneratorURL,
		}
		if a.Resolved(now) {
			p.EndsAt = a.EndsAt.UTC()
		} else {
			p.EndsAt = now.Add(4 * interval).UTC()
		}
		out = append(out, p)
	}
	return out
}

// Notify implements notify.Notifier.
func (n *Notifier) Notify(ctx context.Context, _, _ string, alerts []*alert.Alert) (bool, error) {
	now := n.opts.Clock.Now()
	var interval time.Duration
	if g, ok := notify.GroupFrom(ctx); ok {
		interval = g.Interval
	}
	body, err := json.Marshal(BuildAlerts(alerts, now, interval))
	if err != nil {
		return false, fmt.Errorf("alertmanager: encode alerts: %w", err)
	}
	retry, err := notify.Post(ctx, n.opts.Client, n.url, "application/json", body, nil, now)
	if err != nil {
		return retry, fmt.Errorf("alertmanager: %w", err)
	}
	return false, nil
}
