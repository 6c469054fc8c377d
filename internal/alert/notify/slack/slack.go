// Package slack posts alert groups to a Slack incoming webhook as Block Kit
// messages, with a plain `text` fallback for notifications and clients
// that do not render blocks.
//
// The channel is the route's `channel` when set (a per-route override),
// else the config's `channel`, else the webhook's default channel. Slack
// rate limits answer HTTP 429 with Retry-After; the pipeline waits that
// long before retrying.
package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/notify"
)

// maxAlertBlocks bounds the alerts rendered as blocks (Slack accepts at
// most 50 blocks per message); the rest are counted in a context block.
const maxAlertBlocks = 20

// maxFieldText bounds one mrkdwn text (Slack's limit is 3000 characters).
const maxFieldText = 2900

// Config configures one Slack webhook (an element of slack_configs).
type Config struct {
	// APIURL is the incoming webhook URL; APIURLFile names a file holding
	// it (it is a secret).
	APIURL     string `yaml:"api_url"`
	APIURLFile string `yaml:"api_url_file"`
	// Channel overrides the webhook's default channel ("#alerts").
	Channel string `yaml:"channel"`
	// Username and IconEmoji override the poster's name and icon.
	Username  string `yaml:"username"`
	IconEmoji string `yaml:"icon_emoji"`
	// SendResolved sends resolved alerts too (default false).
	SendResolved *bool `yaml:"send_resolved"`
}

// Validate checks the configuration without reading files.
func (c *Config) Validate() error {
	if err := notify.ExactlyOne("api_url", c.APIURL, c.APIURLFile); err != nil {
		return err
	}
	if c.APIURL != "" {
		if err := notify.ValidateURL("api_url", c.APIURL); err != nil {
			return err
		}
	}
	if c.Channel != "" && !strings.HasPrefix(c.Channel, "#") && !strings.HasPrefix(c.Channel, "@") {
		return notify.FieldErrorf("channel", "channel %q must start with # (channel) or @ (user)", c.Channel)
	}
	return nil
}

// SendsResolved reports whether resolved alerts are sent.
func (c *Config) SendsResolved() bool { return notify.BoolOr(c.SendResolved, false) }

// Message is the webhook payload.
type Message struct {
	Channel   string  `json:"channel,omitempty"`
	Username  string  `json:"username,omitempty"`
	IconEmoji string  `json:"icon_emoji,omitempty"`
	Text      string  `json:"text"`
	Blocks    []Block `json:"blocks"`
}

// Block is a Block Kit layout block (header, section, divider, context).
type Block struct {
	Type      string  `json:"type"`
	Text      *Text   `json:"text,omitempty"`
	Fields    []Text  `json:"fields,omitempty"`
	Elements  []Text  `json:"elements,omitempty"`
	Accessory *Button `json:"accessory,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type string `json:"type"` // plain_text or mrkdwn
	Text string `json:"text"`
}

// Button is a Block Kit link button.
type Button struct {
	Type string `json:"type"`
	Text Text   `json:"text"`
	URL  string `json:"url"`
}

// Notifier posts to one Slack webhook.
type Notifier struct {
	cfg  Config
	url  string
	opts notify.Options
}

// New builds a Notifier, reading api_url_file.
func New(c Config, opts notify.Options) (*Notifier, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	u, err := notify.Resolve("api_url", c.APIURL, c.APIURLFile)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	if err := notify.ValidateURL("api_url_file", u); err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	return &Notifier{cfg: c, url: u, opts: opts.WithDefaults()}, nil
}

// Notify implements notify.Notifier.
func (n *Notifier) Notify(ctx context.Context, receiver, groupKey string, alerts []*alert.Alert) (bool, error) {
	now := n.opts.Clock.Now()
	d := notify.NewData(ctx, receiver, groupKey, alerts, now, n.opts.ExternalURL)
	body, err := json.Marshal(BuildMessage(n.cfg, d))
	if err != nil {
		return false, fmt.Errorf("slack: encode message: %w", err)
	}
	retry, err := notify.Post(ctx, n.opts.Client, n.url, "application/json", body, nil, now)
	if err != nil {
		return retry, fmt.Errorf("slack: %w", err)
	}
	return false, nil
}

// BuildMessage renders the Block Kit message for d.
func BuildMessage(c Config, d notify.Data) Message {
	title := d.Title()
	m := Message{Channel: c.Channel, Username: c.Username, IconEmoji: c.IconEmoji}
	if d.Channel != "" {
		m.Channel = d.Channel
	}
	alerts := append(slices.Clone(d.Firing), d.Resolved...)
	var fallback strings.Builder
	fallback.WriteString(title)
	for _, a := range alerts {
		fmt.Fprintf(&fallback, "\n• %s", line(a, d))
	}
	m.Text = truncate(fallback.String(), maxFieldText)

	m.Blocks = append(m.Blocks, Block{Type: "header", Text: &Text{Type: "plain_text", Text: truncate(title, 150)}})
	var fields []Text
	for _, k := range slices.Sorted(maps.Keys(d.CommonLabels)) {
		if len(fields) == 10 { // Slack allows 10 fields per section
			break
		}
		fields = append(fields, Text{Type: "mrkdwn", Text: truncate("*"+k+":* "+escape(d.CommonLabels[k]), 2000)})
	}
	if len(fields) > 0 {
		m.Blocks = append(m.Blocks, Block{Type: "section", Fields: fields})
	}
	m.Blocks = append(m.Blocks, Block{Type: "divider"})
	for i, a := range alerts {
		if i == maxAlertBlocks {
			m.Blocks = append(m.Blocks, Block{Type: "context", Elements: []Text{{Type: "mrkdwn", Text: fmt.Sprintf("… and %d more alerts", len(alerts)-maxAlertBlocks)}}})
			break
		}
		b := Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: truncate(alertText(a, d), maxFieldText)}}
		if a.GeneratorURL != "" {
			b.Accessory = &Button{Type: "button", Text: Text{Type: "plain_text", Text: "Open"}, URL: a.GeneratorURL}
		}
		m.Blocks = append(m.Blocks, b)
	}
	footer := "kubeward · receiver " + escape(d.Receiver)
	if d.ExternalURL != "" {
		footer += " · <" + d.ExternalURL + "/alerts|Open alerts>"
	}
	m.Blocks = append(m.Blocks, Block{Type: "context", Elements: []Text{{Type: "mrkdwn", Text: footer}}})
	return m
}

func line(a *alert.Alert, d notify.Data) string {
	s := a.Name()
	if sum := a.Annotations["summary"]; sum != "" {
		s += ": " + sum
	}
	return s + " [" + notify.AlertStatus(a, d.Now) + "]"
}

func alertText(a *alert.Alert, d notify.Data) string {
	icon := ":red_circle:"
	if a.Resolved(d.Now) {
		icon = ":large_green_circle:"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s *%s* (%s, %s)", icon, escape(a.Name()), a.Severity, a.Source)
	if s := a.Annotations["summary"]; s != "" {
		b.WriteString("\n" + escape(s))
	}
	if s := a.Annotations["description"]; s != "" {
		b.WriteString("\n>" + strings.ReplaceAll(escape(s), "\n", "\n>"))
	}
	var labels []string
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		if _, common := d.CommonLabels[k]; !common {
			labels = append(labels, k+"="+a.Labels[k])
		}
	}
	if len(labels) > 0 {
		b.WriteString("\n`" + escape(strings.Join(labels, " ")) + "`")
	}
	return b.String()
}

// escape applies Slack's mrkdwn escaping of &, < and >.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
