package auto

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/respond"
)

// MaxRulesFileBytes bounds the size of a rules file.
const MaxRulesFileBytes = 1 << 20

// File is the YAML rules file:
//
//	rules:
//	  - name: ban-brute-force
//	    match:
//	      source: anomaly            # finding, violation, detection, anomaly, response
//	      minSeverity: high          # info, low, medium, high, critical
//	      labels: ['alertname="BruteForce"', 'namespace=~"prod-.*"']
//	    action:
//	      kind: ip-ban
//	      target: {kind: Ip, name: "${source_ip}"}
//	      params: {scenario: "brute force on ${service}"}
//	    ttl: 1h
//	    enforce: false               # the default: dry-run only
type File struct {
	// Rules are applied in order; every matching rule acts.
	Rules []RuleConfig `json:"rules"`
}

// RuleConfig is one rule as written in the rules file.
type RuleConfig struct {
	// Name identifies the rule (unique in the file).
	Name string `json:"name"`
	// Match selects the alerts the rule acts on.
	Match MatchConfig `json:"match"`
	// Action is what the rule does.
	Action ActionConfig `json:"action"`
	// TTL is a Go duration ("30m", "24h") after which the action is undone.
	TTL string `json:"ttl"`
	// Enforce applies the action; false (the default) only dry-runs it.
	Enforce bool `json:"enforce"`
}

// MatchConfig selects alerts; every field set must match.
type MatchConfig struct {
	// Source is the alert source (alert.Source).
	Source string `json:"source"`
	// MinSeverity is the least severity (alert.Severity) that matches.
	MinSeverity string `json:"minSeverity"`
	// Labels are label matchers in the syntax of alert.ParseMatcher.
	Labels []string `json:"labels"`
}

// ActionConfig is the action a rule takes. Target fields and param values
// may name alert labels as ${label}.
type ActionConfig struct {
	// Kind is the action kind (respond.Kind), e.g. "ip-ban".
	Kind string `json:"kind"`
	// Target is the object acted on.
	Target respond.Target `json:"target"`
	// Params are the action's parameters.
	Params map[string]string `json:"params"`
}

// LoadRules reads and parses the rules file at path.
func LoadRules(path string) ([]Rule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open auto response rules: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxRulesFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read auto response rules %s: %w", path, err)
	}
	rules, err := ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("auto response rules %s: %w", path, err)
	}
	return rules, nil
}

// ParseRules parses a rules file (see File). Unknown fields are errors, so
// a misspelt "enforce" cannot silently leave a rule dry-running; errors
// name the rule and the field.
func ParseRules(data []byte) ([]Rule, error) {
	if len(data) > MaxRulesFileBytes {
		return nil, fmt.Errorf("rules file exceeds %d bytes: split or shorten it", MaxRulesFileBytes)
	}
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("invalid rules YAML: %w", err)
	}
	rules := make([]Rule, 0, len(f.Rules))
	names := make(map[string]bool, len(f.Rules))
	for i, rc := range f.Rules {
		r, err := rc.rule()
		if err != nil {
			return nil, fmt.Errorf("rule %d (%q): %w", i, rc.Name, err)
		}
		if names[r.Name] {
			return nil, fmt.Errorf("rule %d (%q): name: duplicate rule name; names must be unique", i, rc.Name)
		}
		names[r.Name] = true
		rules = append(rules, r)
	}
	return rules, nil
}

// rule validates rc and converts it into a Rule.
func (rc RuleConfig) rule() (Rule, error) {
	if rc.Name == "" {
		return Rule{}, errors.New("name: required")
	}
	r := Rule{
		Name:        rc.Name,
		Source:      alert.Source(rc.Match.Source),
		MinSeverity: alert.Severity(rc.Match.MinSeverity),
		Kind:        respond.Kind(rc.Action.Kind),
		Target:      rc.Action.Target,
		Params:      rc.Action.Params,
		Enforce:     rc.Enforce,
	}
	if r.Source != "" && !r.Source.Valid() {
		return Rule{}, fmt.Errorf("match.source: unknown source %q: use finding, violation, detection, anomaly or response", rc.Match.Source)
	}
	if r.MinSeverity != "" && !r.MinSeverity.Valid() {
		return Rule{}, fmt.Errorf("match.minSeverity: unknown severity %q: use info, low, medium, high or critical", rc.Match.MinSeverity)
	}
	ms := make([]alert.Matcher, 0, len(rc.Match.Labels))
	for j, s := range rc.Match.Labels {
		m, err := alert.ParseMatcher(s)
		if err != nil {
			return Rule{}, fmt.Errorf("match.labels[%d]: %w", j, err)
		}
		ms = append(ms, m)
	}
	compiled, err := alert.CompileMatchers(ms)
	if err != nil {
		return Rule{}, fmt.Errorf("match.labels: %w", err)
	}
	r.Matchers = compiled
	if r.Source == "" && r.MinSeverity == "" && len(ms) == 0 {
		return Rule{}, errors.New("match: set at least one of source, minSeverity or labels; an empty match would act on every alert")
	}
	if r.Kind == "" {
		return Rule{}, errors.New("action.kind: required (e.g. ip-ban)")
	}
	for field, tmpl := range map[string]string{"action.target.kind": r.Target.Kind, "action.target.namespace": r.Target.Namespace, "action.target.name": r.Target.Name} {
		if err := checkTemplate(tmpl); err != nil {
			return Rule{}, fmt.Errorf("%s: %w", field, err)
		}
	}
	if r.Target.Name == "" {
		return Rule{}, errors.New("action.target.name: required (e.g. ${source_ip})")
	}
	for k, v := range r.Params {
		if err := checkTemplate(v); err != nil {
			return Rule{}, fmt.Errorf("action.params.%s: %w", k, err)
		}
	}
	if rc.TTL == "" {
		return Rule{}, errors.New("ttl: required, a Go duration such as 30m or 24h")
	}
	ttl, err := time.ParseDuration(rc.TTL)
	if err != nil {
		return Rule{}, fmt.Errorf("ttl: %w; use a Go duration such as 30m or 24h", err)
	}
	if ttl <= 0 {
		return Rule{}, fmt.Errorf("ttl: %s is not positive", rc.TTL)
	}
	r.TTL = ttl
	return r, nil
}

// checkTemplate checks that every ${name} in s names a valid label.
func checkTemplate(s string) error {
	var bad error
	os.Expand(s, func(name string) string {
		if bad == nil && !alert.ValidLabelName(name) {
			bad = fmt.Errorf("%q refers to %q, which is not a label name: use ${label} with letters, digits and underscores", s, name)
		}
		return ""
	})
	return bad
}
