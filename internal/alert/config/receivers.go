package config

import (
	"errors"
	"fmt"

	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/notify/alertmanager"
	"github.com/kubeward/kubeward/internal/alert/notify/email"
	"github.com/kubeward/kubeward/internal/alert/notify/falco"
	"github.com/kubeward/kubeward/internal/alert/notify/slack"
	"github.com/kubeward/kubeward/internal/alert/notify/webhook"
)

// fieldOf returns the YAML field a receiver validation error is about, or
// "".
func fieldOf(err error) string {
	var fe *notify.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// Integrations builds the receiver's notifiers, in the order slack,
// webhook, alertmanager, email, falco, each list in file order. It reads
// the secret files the configs name.
func (r *Receiver) Integrations(opts notify.Options) ([]notify.Integration, error) {
	var out []notify.Integration
	add := func(kind string, i int, n notify.Notifier, err error, sendResolved, eachTick bool) error {
		if err != nil {
			return fmt.Errorf("receiver %q %s_configs[%d]: %w", r.Name, kind, i, err)
		}
		out = append(out, notify.Integration{Receiver: r.Name, Kind: kind, Index: i, Notifier: n, SendResolved: sendResolved, RepeatEachTick: eachTick})
		return nil
	}
	for i, c := range r.SlackConfigs {
		n, err := slack.New(c, opts)
		if err := add("slack", i, n, err, c.SendsResolved(), false); err != nil {
			return nil, err
		}
	}
	for i, c := range r.WebhookConfigs {
		n, err := webhook.New(c, opts)
		if err := add("webhook", i, n, err, c.SendsResolved(), false); err != nil {
			return nil, err
		}
	}
	for i, c := range r.AlertmanagerConfigs {
		n, err := alertmanager.New(c, opts)
		if err := add("alertmanager", i, n, err, c.SendsResolved(), true); err != nil {
			return nil, err
		}
	}
	for i, c := range r.EmailConfigs {
		n, err := email.New(c, opts)
		if err := add("email", i, n, err, c.SendsResolved(), false); err != nil {
			return nil, err
		}
	}
	for i, c := range r.FalcoConfigs {
		n, err := falco.New(c, opts)
		if err := add("falco", i, n, err, c.SendsResolved(), false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Integrations builds the integrations of every receiver, keyed by
// receiver name.
func (c *Config) Integrations(opts notify.Options) (map[string][]notify.Integration, error) {
	out := make(map[string][]notify.Integration, len(c.Receivers))
	for i := range c.Receivers {
		ints, err := c.Receivers[i].Integrations(opts)
		if err != nil {
			return nil, fmt.Errorf("alert config: %w", err)
		}
		out[c.Receivers[i].Name] = ints
	}
	return out, nil
}
