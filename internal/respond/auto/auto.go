// Package auto turns firing alerts into response actions by rules. It is
// off unless rules are configured, and every rule runs as a dry run (the
// apiserver validates the change, nothing is changed) until it is
// explicitly set to Enforce, so a new rule can be watched in the audit
// trail before it acts.
package auto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/respond"
)

var triggeredTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_respond_auto_triggered_total",
	Help: "Alerts that matched an automatic response rule, by rule and outcome (applied, dry-run, busy, skipped, failed).",
}, []string{"rule", "outcome"})

// Rule maps matching alerts to one response action.
type Rule struct {
	// Name identifies the rule; the actor is "kubeward/auto/<Name>".
	Name string `json:"name"`
	// Match lists labels an alert must carry with exactly these values.
	Match map[string]string `json:"match"`
	// Source, when set, keeps only alerts raised by this source.
	Source alert.Source `json:"source,omitempty"`
	// MinSeverity, when set, keeps only alerts at least this severe.
	MinSeverity alert.Severity `json:"minSeverity,omitempty"`
	// Matchers must all match the alert's labels (see alert.ParseMatcher).
	Matchers alert.Matchers `json:"-"`
	// Kind is the action kind.
	Kind respond.Kind `json:"kind"`
	// Target is the object to act on; each field may name alert labels as
	// ${label} (e.g. {"kind": "Ingress", "namespace": "${namespace}",
	// "name": "${ingress}"}). A missing label skips the alert.
	Target respond.Target `json:"target"`
	// Params are the action parameters; values may name labels as ${label}.
	Params map[string]string `json:"params,omitempty"`
	// TTL of the action.
	TTL time.Duration `json:"ttl"`
	// Enforce applies the action; false (the default) only dry-runs it.
	Enforce bool `json:"enforce,omitempty"`
}

// Responder applies Rules to alerts through a Manager.
type Responder struct {
	manager *respond.Manager
	rules   []Rule
	now     func() time.Time
	log     *slog.Logger

	mu   sync.Mutex
	seen map[string]time.Time // rule/target → until when a dry run is not repeated
}

// New returns a Responder. now and logger default to time.Now and
// slog.Default when nil. Rules without a name, kind or TTL are refused.
func New(m *respond.Manager, rules []Rule, now func() time.Time, logger *slog.Logger) (*Responder, error) {
	for i, r := range rules {
		if r.Name == "" || r.Kind == "" || r.TTL <= 0 || (len(r.Match) == 0 && r.Matchers.Len() == 0 && r.Source == "" && r.MinSeverity == "") {
			return nil, fmt.Errorf("auto response rule %d (%q): name, a match (labels, source or severity), kind and a positive ttl are required", i, r.Name)
		}
		if r.Source != "" && !r.Source.Valid() {
			return nil, fmt.Errorf("auto response rule %d (%q): unknown source %q", i, r.Name, r.Source)
		}
		if r.MinSeverity != "" && !r.MinSeverity.Valid() {
			return nil, fmt.Errorf("auto response rule %d (%q): unknown severity %q", i, r.Name, r.MinSeverity)
		}
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Responder{manager: m, rules: rules, now: now, log: logger, seen: map[string]time.Time{}}, nil
}

// Handle applies every rule matching a firing alert and returns the
// actions it recorded. A target that already has a live action of the
// rule's kind is not an error (the response is already in place); a dry
// run of a rule on the same target is repeated only after its TTL.
func (r *Responder) Handle(ctx context.Context, a alert.Alert) ([]respond.Action, error) {
	now := r.now()
	if a.Resolved(now) {
		return nil, nil
	}
	var out []respond.Action
	var errs []error
	for _, rule := range r.rules {
		if !rule.matches(a) {
			continue
		}
		req, ok := request(rule, a)
		if !ok {
			triggeredTotal.WithLabelValues(rule.Name, "skipped").Inc()
			r.log.WarnContext(ctx, "auto response: alert lacks a label the rule's target or params name", "rule", rule.Name, "alert", a.Name())
			continue
		}
		// A dry run is recorded once per rule and target within the TTL, as
		// an enforced action is live once per kind and target: alerts that
		// differ only in labels the action does not use (e.g. the ports a
		// scanner probed) are the same response.
		key := rule.Name + "/" + req.Target.String()
		if req.DryRun && !r.firstDryRun(key, now, rule.TTL) {
			continue
		}
		act, err := r.manager.Apply(ctx, req)
		switch {
		case errors.Is(err, respond.ErrBusy):
			triggeredTotal.WithLabelValues(rule.Name, "busy").Inc()
		case err != nil:
			triggeredTotal.WithLabelValues(rule.Name, "failed").Inc()
			errs = append(errs, fmt.Errorf("auto response rule %s: %w", rule.Name, err))
		default:
			triggeredTotal.WithLabelValues(rule.Name, string(act.State)).Inc()
			out = append(out, act)
		}
	}
	return out, errors.Join(errs...)
}

// firstDryRun reports whether key has not been dry-run within ttl, and
// records it; expired entries are dropped.
func (r *Responder) firstDryRun(key string, now time.Time, ttl time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, until := range r.seen {
		if !now.Before(until) {
			delete(r.seen, k)
		}
	}
	if _, ok := r.seen[key]; ok {
		return false
	}
	r.seen[key] = now.Add(ttl)
	return true
}

// matches reports whether a passes every selector of the rule.
func (r Rule) matches(a alert.Alert) bool {
	for k, v := range r.Match {
		if a.Labels[k] != v {
			return false
		}
	}
	if r.Source != "" && a.Source != r.Source {
		return false
	}
	if r.MinSeverity != "" && severityRank(a.Severity) < severityRank(r.MinSeverity) {
		return false
	}
	return r.Matchers.Matches(a.Labels)
}

// severityRank orders severities from info (1) to critical (5); an
// unknown severity ranks 0, below every rule's minimum.
func severityRank(s alert.Severity) int {
	switch s {
	case alert.SeverityCritical:
		return 5
	case alert.SeverityHigh:
		return 4
	case alert.SeverityMedium:
		return 3
	case alert.SeverityLow:
		return 2
	case alert.SeverityInfo:
		return 1
	}
	return 0
}

// request builds the action request of rule for a; false when a label the
// rule names is missing.
func request(rule Rule, a alert.Alert) (respond.Request, bool) {
	ok := true
	expand := func(s string) string {
		return os.Expand(s, func(name string) string {
			v, found := a.Labels[name]
			if !found || v == "" {
				ok = false
			}
			return v
		})
	}
	req := respond.Request{
		Kind:   rule.Kind,
		Target: respond.Target{Kind: expand(rule.Target.Kind), Namespace: expand(rule.Target.Namespace), Name: expand(rule.Target.Name)},
		TTL:    rule.TTL,
		DryRun: !rule.Enforce,
		Actor:  "kubeward/auto/" + rule.Name,
		Reason: fmt.Sprintf("alert %s (%s)", a.Name(), a.Fingerprint()),
	}
	if len(rule.Params) > 0 {
		req.Params = make(map[string]string, len(rule.Params))
		for k, v := range rule.Params {
			req.Params[k] = expand(v)
		}
	}
	return req, ok
}
