// Package config loads the alert pipeline's configuration: the routing
// tree, inhibition rules and receivers, in an Alertmanager-compatible YAML
// subset.
//
//	global:
//	  external_url: https://kubeward.example   # linked from notifications
//	route:                                     # the root route: every alert enters here
//	  receiver: default
//	  group_by: [alertname, namespace]         # '...' groups by all labels
//	  group_wait: 30s                          # defaults 30s / 5m / 4h, inherited by children
//	  group_interval: 5m
//	  repeat_interval: 4h
//	  routes:
//	    - matchers: ['source="detection"', 'severity=~"critical|high"']
//	      receiver: falco
//	      channel: '#falco-alerts'             # kubeward extension: Slack channel for this route
//	      continue: true                       # keep matching siblings
//	inhibit_rules:
//	  - source_matchers: ['severity="critical"']
//	    target_matchers: ['severity=~"medium|low"']
//	    equal: [namespace, alertname]
//	receivers:
//	  - name: default
//	    slack_configs: [{api_url_file: /etc/kubeward/slack-url, channel: '#app-alerts'}]
//	    webhook_configs: [{url: https://hooks.example/kubeward, secret_file: /etc/kubeward/hmac}]
//	    alertmanager_configs: [{url: http://alertmanager:9093}]
//	    email_configs: [{to: sec@example.com, from: kubeward@example.com, smarthost: smtp.example.com:587}]
//	    falco_configs: [{url: http://falcosidekick:2801}]
//
// Every error found is reported with the line it was found at; Load
// refuses a configuration with any error.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/notify/alertmanager"
	"github.com/kubeward/kubeward/internal/alert/notify/email"
	"github.com/kubeward/kubeward/internal/alert/notify/falco"
	"github.com/kubeward/kubeward/internal/alert/notify/slack"
	"github.com/kubeward/kubeward/internal/alert/notify/webhook"
)

// Defaults of the root route's timers.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
)

// MaxConfigBytes bounds the size of a configuration file.
const MaxConfigBytes = 4 << 20

// GroupByAll is the group_by value that groups by every label.
const GroupByAll = "..."

var loadFailures = promauto.NewCounter(prometheus.CounterOpts{
	Name: "kubeward_alert_config_load_failures_total",
	Help: "Alert configurations refused at load because they did not validate.",
})

// Config is a validated configuration.
type Config struct {
	Global       Global
	Route        *Route
	InhibitRules []InhibitRule
	Receivers    []Receiver
}

// Global holds settings shared by all receivers.
type Global struct {
	// ExternalURL is the console's base URL, linked from notifications.
	ExternalURL string `yaml:"external_url"`
}

// Route is a node of the routing tree with every inherited setting
// resolved.
type Route struct {
	// Key identifies the route: its parent's key, "/", its matchers and
	// its index among its siblings. It is part of group keys, so it stays
	// the same as long as the tree is unchanged.
	Key string
	// Receiver receives the alerts this route groups.
	Receiver string
	// Matchers select the alerts the route takes (empty: all).
	Matchers alert.Matchers
	// Continue lets an alert that matched this route go on to match the
	// following siblings.
	Continue bool
	// GroupBy lists the labels alerts are grouped by; GroupByAll groups by
	// all labels (one group per alert).
	GroupBy    []string
	GroupByAll bool
	// GroupWait delays a new group's first notification; GroupInterval
	// spaces notifications of a group that changed; RepeatInterval spaces
	// repeats of an unchanged group.
	GroupWait, GroupInterval, RepeatInterval time.Duration
	// Channel overrides the Slack channel for this route (inherited).
	Channel string
	// Routes are the child routes, matched in order.
	Routes []*Route
	// Line is the line the route starts at in the file.
	Line int
}

// Walk calls fn for r and every descendant, depth first.
func (r *Route) Walk(fn func(*Route)) {
	fn(r)
	for _, c := range r.Routes {
		c.Walk(fn)
	}
}

// InhibitRule mutes alerts matching Target while an alert matching Source
// fires with the same values of the Equal labels.
type InhibitRule struct {
	Source, Target alert.Matchers
	Equal          []string
	Line           int
}

// Receiver is a named set of integrations.
type Receiver struct {
	Name                string                `yaml:"name"`
	SlackConfigs        []slack.Config        `yaml:"slack_configs"`
	WebhookConfigs      []webhook.Config      `yaml:"webhook_configs"`
	AlertmanagerConfigs []alertmanager.Config `yaml:"alertmanager_configs"`
	EmailConfigs        []email.Config        `yaml:"email_configs"`
	FalcoConfigs        []falco.Config        `yaml:"falco_configs"`
}

// Receiver returns the receiver with the name, or nil.
func (c *Config) Receiver(name string) *Receiver {
	for i := range c.Receivers {
		if c.Receivers[i].Name == name {
			return &c.Receivers[i]
		}
	}
	return nil
}

// Error is one problem found in a configuration.
type Error struct {
	// Line is the 1-based line at fault (0 when unknown).
	Line int
	// Msg says what is wrong and what to do.
	Msg string
}

// Error implements error.
func (e Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Errors lists every problem found, by line.
type Errors []Error

// Error implements error: one problem per line.
func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// LoadFile reads and loads the configuration at path.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		loadFailures.Inc()
		return nil, fmt.Errorf("alert config: %w", err)
	}
	cfg, err := Load(data)
	if err != nil {
		return nil, fmt.Errorf("alert config %s:\n%w", path, err)
	}
	return cfg, nil
}

// Load parses and validates a configuration. On failure the error is an
// Errors value listing every problem with its line.
func Load(data []byte) (*Config, error) {
	cfg, errs := load(data)
	if len(errs) > 0 {
		loadFailures.Inc()
		slices.SortStableFunc(errs, func(a, b Error) int { return a.Line - b.Line })
		return nil, errs
	}
	return cfg, nil
}

type fileYAML struct {
	Global       Global        `yaml:"global"`
	Route        *routeYAML    `yaml:"route"`
	InhibitRules []inhibitYAML `yaml:"inhibit_rules"`
	Receivers    []Receiver    `yaml:"receivers"`
}

type routeYAML struct {
	Receiver       string       `yaml:"receiver"`
	GroupBy        []string     `yaml:"group_by"`
	Matchers       []string     `yaml:"matchers"`
	Continue       bool         `yaml:"continue"`
	GroupWait      *string      `yaml:"group_wait"`
	GroupInterval  *string      `yaml:"group_interval"`
	RepeatInterval *string      `yaml:"repeat_interval"`
	Channel        string       `yaml:"channel"`
	Routes         []*routeYAML `yaml:"routes"`
}

type inhibitYAML struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal"`
}

// path addresses a node: map keys (string) and sequence indexes (int).
type path []any

func (p path) with(elems ...any) path { return append(slices.Clone(p), elems...) }

type loader struct {
	root *yaml.Node
	errs Errors
}

func (l *loader) errorf(p path, format string, args ...any) {
	l.errs = append(l.errs, Error{Line: l.line(p), Msg: fmt.Sprintf(format, args...)})
}

// line returns the line of the node at p, or of its deepest existing
// ancestor.
func (l *loader) line(p path) int {
	n := l.root
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, e := range p {
		var next *yaml.Node
		switch k := e.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
						line = n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
var notFoundRE = regexp.MustCompile(`field (\S+) not found in type \S+`)

func (l *loader) yamlError(err error) {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	for _, m := range msgs {
		e := Error{Msg: m}
		if sub := yamlLineRE.FindStringSubmatch(m); sub != nil {
			e.Line, _ = strconv.Atoi(sub[1])
			e.Msg = sub[2]
		}
		if sub := notFoundRE.FindStringSubmatch(e.Msg); sub != nil {
			e.Msg = fmt.Sprintf("unknown field %q", sub[1])
			switch sub[1] {
			case "match", "match_re":
				e.Msg += ": use matchers, e.g. matchers: ['severity=\"critical\"']"
			case "source_match", "source_match_re", "target_match", "target_match_re":
				e.Msg += ": use source_matchers / target_matchers"
			}
		}
		e.Msg = strings.TrimPrefix(e.Msg, "yaml: ")
		l.errs = append(l.errs, e)
	}
}

func load(data []byte) (*Config, Errors) {
	l := &loader{}
	if len(data) > MaxConfigBytes {
		l.errorf(nil, "configuration is %d bytes, more than the %d-byte limit", len(data), MaxConfigBytes)
		return nil, l.errs
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		l.yamlError(err)
		return nil, l.errs
	}
	l.root = &root
	if root.Kind == 0 || (root.Kind == yaml.DocumentNode && len(root.Content) == 0) {
		l.errorf(nil, "configuration is empty: a route and at least one receiver are required")
		return nil, l.errs
	}
	if root.Kind == yaml.DocumentNode && root.Content[0].Kind != yaml.MappingNode {
		l.errorf(nil, "configuration must be a mapping with route, receivers and optionally global and inhibit_rules")
		return nil, l.errs
	}
	var f fileYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		l.yamlError(err)
		return nil, l.errs
	}
	cfg := &Config{Global: f.Global, Receivers: f.Receivers}
	if f.Global.ExternalURL != "" {
		if err := notify.ValidateURL("external_url", f.Global.ExternalURL); err != nil {
			l.errorf(path{"global", "external_url"}, "%v", err)
		}
	}
	names := l.receivers(f.Receivers)
	if f.Route == nil {
		l.errorf(nil, "route is required: add a root route with at least a receiver")
	} else {
		root := &Route{Key: "{}", GroupWait: DefaultGroupWait, GroupInterval: DefaultGroupInterval, RepeatInterval: DefaultRepeatInterval}
		p := path{"route"}
		if len(f.Route.Matchers) > 0 {
			l.errorf(p.with("matchers"), "the root route must not have matchers: it receives every alert")
		}
		if f.Route.Continue {
			l.errorf(p.with("continue"), "the root route cannot have continue")
		}
		if f.Route.Receiver == "" {
			l.errorf(p, "the root route needs a receiver")
		}
		l.route(f.Route, root, root, p, names)
		cfg.Route = root
	}
	for i, r := range f.InhibitRules {
		cfg.InhibitRules = append(cfg.InhibitRules, l.inhibit(r, path{"inhibit_rules", i}))
	}
	return cfg, l.errs
}

func (l *loader) receivers(rs []Receiver) map[string]bool {
	names := map[string]bool{}
	for i := range rs {
		r := &rs[i]
		p := path{"receivers", i}
		switch {
		case r.Name == "":
			l.errorf(p, "receiver needs a name")
		case names[r.Name]:
			l.errorf(p.with("name"), "receiver %q is defined twice", r.Name)
		}
		names[r.Name] = true
		type validator interface{ Validate() error }
		check := func(kind string, j int, v validator) {
			if err := v.Validate(); err != nil {
				ip := p.with(kind, j)
				if field := fieldOf(err); field != "" {
					ip = ip.with(field)
				}
				l.errorf(ip, "receiver %q %s[%d]: %v", r.Name, kind, j, err)
			}
		}
		for j := range r.SlackConfigs {
			check("slack_configs", j, &r.SlackConfigs[j])
		}
		for j := range r.WebhookConfigs {
			check("webhook_configs", j, &r.WebhookConfigs[j])
		}
		for j := range r.AlertmanagerConfigs {
			check("alertmanager_configs", j, &r.AlertmanagerConfigs[j])
		}
		for j := range r.EmailConfigs {
			check("email_configs", j, &r.EmailConfigs[j])
		}
		for j := range r.FalcoConfigs {
			check("falco_configs", j, &r.FalcoConfigs[j])
		}
	}
	return names
}

func (l *loader) matchers(raw []string, p path) alert.Matchers {
	ms := make([]alert.Matcher, 0, len(raw))
	for i, s := range raw {
		m, err := alert.ParseMatcher(s)
		if err != nil {
			l.errorf(p.with(i), "%v", err)
			continue
		}
		ms = append(ms, m)
	}
	compiled, err := alert.CompileMatchers(ms)
	if err != nil { // unreachable: each matcher was validated by ParseMatcher
		l.errorf(p, "%v", err)
	}
	return compiled
}

func (l *loader) duration(raw *string, def time.Duration, allowZero bool, p path) time.Duration {
	if raw == nil {
		return def
	}
	d, err := model.ParseDuration(*raw)
	if err != nil {
		l.errorf(p, "%s %q: want a duration such as 30s, 5m, 4h or 1d", p[len(p)-1], *raw)
		return def
	}
	if d == 0 && !allowZero {
		l.errorf(p, "%s must be greater than zero", p[len(p)-1])
		return def
	}
	return time.Duration(d)
}

// route fills r from y, inheriting from parent (r == parent for the root).
func (l *loader) route(y *routeYAML, r, parent *Route, p path, receivers map[string]bool) {
	r.Line = l.line(p)
	r.Receiver = parent.Receiver
	r.GroupBy, r.GroupByAll = parent.GroupBy, parent.GroupByAll
	r.Channel = parent.Channel
	if y.Receiver != "" {
		if !receivers[y.Receiver] {
			l.errorf(p.with("receiver"), "receiver %q is not defined under receivers", y.Receiver)
		}
		r.Receiver = y.Receiver
	}
	if y.GroupBy != nil {
		r.GroupBy, r.GroupByAll = nil, false
		seen := map[string]bool{}
		for i, n := range y.GroupBy {
			switch {
			case n == GroupByAll:
				if len(y.GroupBy) > 1 {
					l.errorf(p.with("group_by", i), "'...' groups by all labels and cannot be combined with other labels")
				}
				r.GroupByAll = true
			case !alert.ValidLabelName(n):
				l.errorf(p.with("group_by", i), "group_by label %q is not a valid label name", n)
			case seen[n]:
				l.errorf(p.with("group_by", i), "group_by label %q is listed twice", n)
			default:
				seen[n] = true
				r.GroupBy = append(r.GroupBy, n)
			}
		}
		slices.Sort(r.GroupBy)
	}
	if y.Channel != "" {
		if !strings.HasPrefix(y.Channel, "#") && !strings.HasPrefix(y.Channel, "@") {
			l.errorf(p.with("channel"), "channel %q must start with # (channel) or @ (user)", y.Channel)
		}
		r.Channel = y.Channel
	}
	r.GroupWait = l.duration(y.GroupWait, parent.GroupWait, true, p.with("group_wait"))
	r.GroupInterval = l.duration(y.GroupInterval, parent.GroupInterval, false, p.with("group_interval"))
	r.RepeatInterval = l.duration(y.RepeatInterval, parent.RepeatInterval, false, p.with("repeat_interval"))
	r.Matchers = l.matchers(y.Matchers, p.with("matchers"))
	r.Continue = y.Continue
	for i, cy := range y.Routes {
		cp := p.with("routes", i)
		if cy == nil {
			l.errorf(cp, "route is empty")
			continue
		}
		ms := make([]string, 0, len(cy.Matchers))
		for _, m := range cy.Matchers {
			ms = append(ms, strings.TrimSpace(m))
		}
		c := &Route{Key: r.Key + "/{" + strings.Join(ms, ",") + "}/" + strconv.Itoa(i)}
		l.route(cy, c, r, cp, receivers)
		r.Routes = append(r.Routes, c)
	}
}

func (l *loader) inhibit(y inhibitYAML, p path) InhibitRule {
	r := InhibitRule{Line: l.line(p)}
	if len(y.SourceMatchers) == 0 {
		l.errorf(p, "inhibit rule needs source_matchers")
	}
	if len(y.TargetMatchers) == 0 {
		l.errorf(p, "inhibit rule needs target_matchers")
	}
	r.Source = l.matchers(y.SourceMatchers, p.with("source_matchers"))
	r.Target = l.matchers(y.TargetMatchers, p.with("target_matchers"))
	for i, n := range y.Equal {
		if !alert.ValidLabelName(n) {
			l.errorf(p.with("equal", i), "equal label %q is not a valid label name", n)
			continue
		}
		r.Equal = append(r.Equal, n)
	}
	return r
}
