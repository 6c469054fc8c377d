// Package webhook sends alert groups as a signed JSON document to any HTTP
// endpoint.
//
// # Body
//
// One POST per notification, Content-Type application/json, the Message
// type below (field names as in its JSON tags):
//
//	{
//	  "version": "1",
//	  "receiver": "security",
//	  "groupKey": "{}/{severity=~\"critical|high\"}:{alertname=\"PrivilegedContainer\"}",
//	  "status": "firing",              // "resolved" when no alert fires
//	  "groupLabels": {"alertname": "PrivilegedContainer"},
//	  "commonLabels": {…}, "commonAnnotations": {…},
//	  "externalURL": "https://kubeward.example",
//	  "truncatedAlerts": 0,            // alerts left out by max_alerts
//	  "alerts": [{"status": "firing", "fingerprint": "…", "labels": {…},
//	              "annotations": {…}, "severity": "critical", "source": "violation",
//	              "startsAt": "…", "endsAt": "…", "generatorID": "…", "generatorURL": "…"}]
//	}
//
// # Signature
//
// When a secret is configured, the request carries
//
//	X-Kubeward-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
//
// A receiver recomputes the HMAC over the timestamp, a dot and the raw body,
// compares in constant time and rejects timestamps too far from its clock
// (replay protection); Verify does exactly that.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/notify"
)

// SignatureHeader is the request header carrying the signature.
const SignatureHeader = "X-Kubeward-Signature"

// Version is the version of the body format.
const Version = "1"

// Config configures one webhook endpoint (an element of a receiver's
// webhook_configs).
type Config struct {
	// URL receives the POST; URLFile names a file holding it instead.
	URL     string `yaml:"url"`
	URLFile string `yaml:"url_file"`
	// Secret keys the HMAC signature; SecretFile names a file holding it.
	// Without either, requests are not signed.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// SendResolved sends resolved alerts too (default true).
	SendResolved *bool `yaml:"send_resolved"`
	// MaxAlerts bounds the alerts in one message (0 = no limit).
	MaxAlerts int `yaml:"max_alerts"`
}

// Validate checks the configuration without reading files.
func (c *Config) Validate() error {
	if err := notify.ExactlyOne("url", c.URL, c.URLFile); err != nil {
		return err
	}
	if c.URL != "" {
		if err := notify.ValidateURL("url", c.URL); err != nil {
			return err
		}
	}
	if c.Secret != "" && c.SecretFile != "" {
		return notify.FieldErrorf("secret", "set either secret or secret_file, not both")
	}
	if c.MaxAlerts < 0 {
		return notify.FieldErrorf("max_alerts", "must not be negative")
	}
	return nil
}

// SendsResolved reports whether resolved alerts are sent.
func (c *Config) SendsResolved() bool { return notify.BoolOr(c.SendResolved, true) }

// Message is the JSON body.
type Message struct {
	Version           string            `json:"version"`
	Receiver          string            `json:"receiver"`
	GroupKey          string            `json:"groupKey"`
	Status            string            `json:"status"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a Message.
type Alert struct {
	Status       string            `json:"status"`
	Fingerprint  string            `json:"fingerprint"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	Severity     string            `json:"severity"`
	Source       string            `json:"source"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorID  string            `json:"generatorID,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Notifier posts Messages to one endpoint.
type Notifier struct {
	url, secret string
	maxAlerts   int
	opts        notify.Options
}

// New builds a Notifier, reading url_file and secret_file.
func New(c Config, opts notify.Options) (*Notifier, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	u, err := notify.Resolve("url", c.URL, c.URLFile)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if err := notify.ValidateURL("url_file", u); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	secret, err := notify.Resolve("secret", c.Secret, c.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return &Notifier{url: u, secret: secret, maxAlerts: c.MaxAlerts, opts: opts.WithDefaults()}, nil
}

// BuildMessage returns the body for alerts.
func BuildMessage(d notify.Data, alerts []*alert.Alert, maxAlerts int) Message {
	m := Message{
		Version:           Version,
		Receiver:          d.Receiver,
		GroupKey:          d.GroupKey,
		Status:            d.Status,
		GroupLabels:       d.GroupLabels,
		CommonLabels:      d.CommonLabels,
		CommonAnnotations: d.CommonAnnotations,
		ExternalURL:       d.ExternalURL,
		Alerts:            make([]Alert, 0, len(alerts)),
	}
	for i, a := range alerts {
		if maxAlerts > 0 && i >= maxAlerts {
			m.TruncatedAlerts = len(alerts) - maxAlerts
			break
		}
		ann := a.Annotations
		if ann == nil {
			ann = map[string]string{}
		}
		m.Alerts = append(m.Alerts, Alert{
			Status:       notify.AlertStatus(a, d.Now),
			Fingerprint:  a.Fingerprint().String(),
			Labels:       a.Labels,
			Annotations:  ann,
			Severity:     string(a.Severity),
			Source:       string(a.Source),
			StartsAt:     a.StartsAt.UTC(),
			EndsAt:       utc(a.EndsAt),
			GeneratorID:  a.GeneratorID,
			GeneratorURL: a.GeneratorURL,
		})
	}
	return m
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// Notify implements notify.Notifier.
func (n *Notifier) Notify(ctx context.Context, receiver, groupKey string, alerts []*alert.Alert) (bool, error) {
	now := n.opts.Clock.Now()
	d := notify.NewData(ctx, receiver, groupKey, alerts, now, n.opts.ExternalURL)
	body, err := json.Marshal(BuildMessage(d, alerts, n.maxAlerts))
	if err != nil {
		return false, fmt.Errorf("webhook: encode message: %w", err)
	}
	h := http.Header{}
	if n.secret != "" {
		h.Set(SignatureHeader, Sign(n.secret, now, body))
	}
	retry, err := notify.Post(ctx, n.opts.Client, n.url, "application/json", body, h, now)
	if err != nil {
		return retry, fmt.Errorf("webhook: %w", err)
	}
	return false, nil
}

// Sign returns the signature header value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header value against body: the HMAC must
// match and the timestamp be within tolerance of now.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return errors.New("webhook: signature header lacks t= or v1=")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: signature timestamp %q is not a number", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: signature timestamp is %s away from now, more than the %s tolerance", d, tolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook: signature does not match the body")
}
