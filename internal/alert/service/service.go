// Package service offers the alert operations that the HTTP API, the
// console and the CLI need — list and filter alerts, acknowledge them,
// create, list and expire silences, send a test notification — as plain
// domain functions, free of any transport.
package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/silence"
)

// Service runs the operations on a running pipeline.
type Service struct {
	storage      alert.Storage
	dispatcher   *dispatch.Dispatcher
	cfg          *config.Config
	integrations map[string][]notify.Integration
	clock        alert.Clock
}

// New returns a Service over the dispatcher's storage, configuration and
// integrations (the same values the dispatcher was built with).
func New(d *dispatch.Dispatcher, storage alert.Storage, cfg *config.Config, integrations map[string][]notify.Integration, clock alert.Clock) *Service {
	if clock == nil {
		clock = alert.SystemClock{}
	}
	return &Service{storage: storage, dispatcher: d, cfg: cfg, integrations: integrations, clock: clock}
}

// Alert states in a View.
const (
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// View is an alert as shown to people: the stored alert and its state now.
type View struct {
	alert.Alert
	Fingerprint string `json:"fingerprint"`
	// State is "firing" or "resolved".
	State string `json:"state"`
	// SilencedBy lists the active silences that mute it.
	SilencedBy []string `json:"silencedBy,omitempty"`
	// Inhibited is true while an inhibition rule mutes it.
	Inhibited bool `json:"inhibited"`
}

// Filter selects alerts. Zero fields do not filter.
type Filter struct {
	// Matchers must all match the alert's labels.
	Matchers []alert.Matcher
	// States keeps alerts in these states ("firing", "resolved").
	States []string
	// Sources and Severities keep alerts of these sources / severities.
	Sources    []alert.Source
	Severities []alert.Severity
	// Muted, when set, keeps alerts that are (true) or are not (false)
	// silenced or inhibited.
	Muted *bool
	// Acknowledged, when set, keeps alerts that are (not) acknowledged.
	Acknowledged *bool
	// Limit bounds the page (default 100, at most 1000); Offset skips.
	Limit, Offset int
}

// Page is one page of alerts, newest first.
type Page struct {
	Total int    `json:"total"`
	Items []View `json:"items"`
}

// ListAlerts returns the stored alerts the filter selects, the most
// recently started first (ties by fingerprint; see alert.AlertOrder).
// The storage selects, orders and pages them (AlertStore.QueryAlerts);
// only whether a silence or an inhibition rule mutes an alert, which
// depends on the running pipeline, is decided here.
func (s *Service) ListAlerts(ctx context.Context, f Filter) (Page, error) {
	q, err := s.query(f)
	if err != nil {
		return Page{}, fmt.Errorf("list alerts: %w", err)
	}
	silences := s.dispatcher.Silences()
	if err := silences.Refresh(ctx); err != nil {
		return Page{}, fmt.Errorf("list alerts: %w", err)
	}
	if f.Muted != nil {
		want := *f.Muted
		q.Keep = func(a *alert.Alert) bool {
			muted := !a.Resolved(q.Now) && (silences.Mutes(a.Labels) || s.dispatcher.Inhibited(a.Labels))
			return muted == want
		}
	}
	alerts, total, err := s.storage.QueryAlerts(ctx, q)
	if err != nil {
		return Page{}, fmt.Errorf("list alerts: %w", err)
	}
	p := Page{Total: total, Items: make([]View, len(alerts))}
	for i, a := range alerts {
		v := View{Alert: a, Fingerprint: a.Fingerprint().String(), State: StateFiring}
		if a.Resolved(q.Now) {
			v.State = StateResolved
		} else {
			v.SilencedBy = silences.MutedBy(a.Labels)
			v.Inhibited = s.dispatcher.Inhibited(a.Labels)
		}
		p.Items[i] = v
	}
	return p, nil
}

// query validates f and turns it into a storage query evaluated now,
// without the muted condition. Its errors wrap alert.ErrInvalidQuery.
func (s *Service) query(f Filter) (alert.AlertQuery, error) {
	q := alert.AlertQuery{
		Now:          s.clock.Now(),
		Severities:   f.Severities,
		Sources:      f.Sources,
		Matchers:     f.Matchers,
		Acknowledged: f.Acknowledged,
		Limit:        f.Limit,
		Offset:       f.Offset,
	}
	firing, resolved := false, false
	for _, st := range f.States {
		switch st {
		case StateFiring:
			firing = true
		case StateResolved:
			resolved = true
		default:
			return q, fmt.Errorf("%w: state %q: want firing or resolved", alert.ErrInvalidQuery, st)
		}
	}
	switch {
	case firing != resolved:
		q.Firing = &firing
	case f.Muted != nil && *f.Muted:
		// Resolved alerts are never muted: let the storage skip them.
		onlyFiring := true
		q.Firing = &onlyFiring
	}
	switch {
	case f.Limit == 0:
		q.Limit = 100
	case f.Limit < 0 || f.Limit > 1000:
		return q, fmt.Errorf("%w: limit %d is out of range 1..1000", alert.ErrInvalidQuery, f.Limit)
	}
	if f.Offset < 0 {
		return q, fmt.Errorf("%w: offset %d is negative", alert.ErrInvalidQuery, f.Offset)
	}
	return q, nil
}

// Acknowledge records that by acknowledged the alert with the fingerprint
// (its 16-hex-digit form).
func (s *Service) Acknowledge(ctx context.Context, fingerprint, by, comment string) (alert.Alert, error) {
	fp, err := alert.ParseFingerprint(fingerprint)
	if err != nil {
		return alert.Alert{}, err
	}
	return s.dispatcher.Acknowledge(ctx, fp, by, comment)
}

// CreateSilence validates and stores a silence (see silence.Service.Create).
func (s *Service) CreateSilence(ctx context.Context, sil alert.Silence) (alert.Silence, error) {
	return s.dispatcher.Silences().Create(ctx, sil)
}

// ListSilences lists silences (see silence.Filter).
func (s *Service) ListSilences(ctx context.Context, f silence.Filter) ([]alert.Silence, error) {
	return s.dispatcher.Silences().List(ctx, f)
}

// ExpireSilence ends a silence now.
func (s *Service) ExpireSilence(ctx context.Context, id string) (alert.Silence, error) {
	return s.dispatcher.Silences().Expire(ctx, id)
}

// SendTest sends a test notification to every integration of the named
// receiver (see SendTest).
func (s *Service) SendTest(ctx context.Context, receiver string) ([]TestResult, error) {
	return SendTest(ctx, s.cfg, s.integrations, receiver, s.clock)
}

// TestResult is the outcome of a test notification to one integration.
type TestResult struct {
	// Integration is "<receiver>/<kind>/<index>".
	Integration string `json:"integration"`
	// Err is nil when the endpoint accepted the notification.
	Err error `json:"-"`
	// Error is Err's message, for JSON.
	Error string `json:"error,omitempty"`
}

// TestAlert returns the alert a test notification carries: alertname
// KubewardTestNotification, severity info, firing since now.
func TestAlert(receiver string, now time.Time) alert.Alert {
	a := alert.Alert{
		Labels:      alert.LabelSet{alert.LabelAlertName: "KubewardTestNotification", "receiver": receiver},
		Annotations: map[string]string{"summary": "Test notification from kubeward", "description": "If you can read this, receiver " + receiver + " is configured correctly."},
		Severity:    alert.SeverityInfo,
		Source:      alert.SourceFinding,
		StartsAt:    now,
		UpdatedAt:   now,
	}
	if err := a.Normalize(); err != nil {
		panic(err) // fixed, valid data
	}
	return a
}

// SendTest sends one test alert to every integration of receiver, once
// each without retries, and reports each outcome. The error is non-nil
// when the receiver does not exist or has no integration, or when any
// integration failed.
func SendTest(ctx context.Context, cfg *config.Config, integrations map[string][]notify.Integration, receiver string, clock alert.Clock) ([]TestResult, error) {
	if cfg.Receiver(receiver) == nil {
		names := make([]string, len(cfg.Receivers))
		for i, r := range cfg.Receivers {
			names[i] = r.Name
		}
		return nil, fmt.Errorf("receiver %q is not defined: configured receivers are %v", receiver, names)
	}
	ints := integrations[receiver]
	if len(ints) == 0 {
		return nil, fmt.Errorf("receiver %q has no integrations to test", receiver)
	}
	a := TestAlert(receiver, clock.Now())
	key := "test:" + receiver
	ctx = notify.WithGroup(ctx, notify.Group{Key: key, Receiver: receiver, Labels: alert.LabelSet{alert.LabelAlertName: a.Name()}, Interval: config.DefaultGroupInterval})
	var results []TestResult
	var errs []error
	for _, in := range ints {
		_, err := in.Notifier.Notify(ctx, receiver, key, []*alert.Alert{&a})
		r := TestResult{Integration: in.Name(), Err: err}
		if err != nil {
			r.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", in.Name(), err))
		}
		results = append(results, r)
	}
	return results, errors.Join(errs...)
}
