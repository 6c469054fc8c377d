// Package detect is kubeward's intrusion-detection rule engine: it
// evaluates Falco-language rules (package rules, package condition) over
// events of several sources (Kubernetes audit events, Tetragon events,
// Falco alerts) and produces Detection values, which a Pipeline publishes
// on the bus topic "detections" keyed by rule.
package detect

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubeward/kubeward/internal/detect/condition"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/falcoalert"
	"github.com/kubeward/kubeward/internal/detect/k8saudit"
	"github.com/kubeward/kubeward/internal/detect/rules"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
)

// Source describes an event source rules can be written for.
type Source struct {
	// Name is the rule source name ("k8s_audit", "tetragon", "falco_alert").
	Name string
	// Fields are the fields its rules may use.
	Fields *condition.Table[*event.Event]
	// Plugins are the Falco plugins whose fields it implements.
	Plugins []rules.Plugin
}

// SourceOptions configure the built-in sources.
type SourceOptions struct {
	// ClusterName is the value of ka.cluster.name.
	ClusterName string
}

// DefaultSources returns the built-in sources: k8s_audit, tetragon and
// falco_alert.
func DefaultSources(opts SourceOptions) []Source {
	return []Source{
		{Name: k8saudit.SourceName, Fields: k8saudit.Fields(k8saudit.Options{ClusterName: opts.ClusterName}), Plugins: k8saudit.Plugins},
		{Name: tetragon.SourceName, Fields: tetragon.Fields(), Plugins: tetragon.Plugins},
		{Name: falcoalert.SourceName, Fields: falcoalert.Fields(), Plugins: falcoalert.Plugins},
	}
}

// Config configures an Engine.
type Config struct {
	// Rules are the rule files, loaded in order.
	Rules []rules.File
	// Sources defaults to DefaultSources(SourceOptions{}).
	Sources []Source
	// MinPriority, when set, drops rules less severe than it (Falco's
	// "priority" setting); nil keeps every rule.
	MinPriority *rules.Priority
	// Hostname is reported in detections (Falco's "hostname").
	Hostname string
	// ExtraOutputFields are fields added to the output fields of every
	// detection of a source (Falco's append_output extra_fields); nil
	// means DefaultExtraOutputFields for the configured sources, an empty
	// map none. Naming a source not in Sources, or a field its table does
	// not have, is an error.
	ExtraOutputFields ExtraOutputFields
	// Logger receives load warnings; nil discards them.
	Logger *slog.Logger
}

// Engine evaluates compiled rules. It is safe for concurrent use.
type Engine struct {
	sources  map[string]*sourceRules
	hostname string
	warnings []string
}

type sourceRules struct {
	name     string
	rules    []*rules.CompiledRule[*event.Event]
	counters []prometheus.Counter // detections per rule, parallel to rules
	extras   []ruleOutput         // output fields per rule, parallel to rules
	pool     sync.Pool
	events   prometheus.Counter
	latency  prometheus.Observer
}

// New loads and compiles the rule files.
func New(cfg Config) (*Engine, error) {
	if len(cfg.Sources) == 0 {
		cfg.Sources = DefaultSources(SourceOptions{})
	}
	minPriority := rules.Debug
	if cfg.MinPriority != nil {
		minPriority = *cfg.MinPriority
	}
	rs, err := rules.Load(cfg.Rules...)
	if err != nil {
		ruleLoadFailures.WithLabelValues(StageLoad).Inc()
		return nil, fmt.Errorf("loading rules: %w", err)
	}
	env := rules.Env[*event.Event]{Sources: map[string]*condition.Table[*event.Event]{}}
	for _, s := range cfg.Sources {
		env.Sources[s.Name] = s.Fields
		env.Plugins = append(env.Plugins, s.Plugins...)
	}
	compiled, err := rules.Compile(rs, env)
	if err != nil {
		ruleLoadFailures.WithLabelValues(StageCompile).Inc()
		return nil, fmt.Errorf("compiling rules: %w", err)
	}
	ruleWarnings.Add(float64(len(compiled.Warnings)))
	extraNames, err := resolveExtraFields(cfg.ExtraOutputFields, cfg.Sources)
	if err != nil {
		ruleLoadFailures.WithLabelValues(StageCompile).Inc()
		return nil, err
	}
	e := &Engine{sources: map[string]*sourceRules{}, hostname: cfg.Hostname, warnings: compiled.Warnings}
	extras := map[string][]extraField{}
	for _, s := range cfg.Sources {
		slots := compiled.Slots[s.Name]
		if slots == nil {
			slots = condition.NewSlots[*event.Event]()
		}
		// Bound before any Ctx exists, so every Ctx of the pool knows
		// the extra fields' slots.
		if extras[s.Name], err = compileExtraFields(s.Name, extraNames[s.Name], s.Fields, slots); err != nil {
			ruleLoadFailures.WithLabelValues(StageCompile).Inc()
			return nil, err
		}
		sr := &sourceRules{name: s.Name, events: eventsProcessed.WithLabelValues(s.Name), latency: evalSeconds.WithLabelValues(s.Name)}
		sr.pool.New = func() any { return condition.NewCtx(slots) }
		e.sources[s.Name] = sr
	}
	for _, r := range compiled.Rules {
		if !r.Priority.AtLeast(minPriority) {
			continue
		}
		sr := e.sources[r.Source]
		sr.rules = append(sr.rules, r)
		sr.counters = append(sr.counters, detectionsTotal.WithLabelValues(r.Name, r.Priority.String()))
		x := ruleExtras(r.Output, extras[r.Source])
		sr.extras = append(sr.extras, ruleOutput{extras: x, fields: len(r.Output.FieldNames()) + len(x)})
	}
	if cfg.Logger != nil {
		for _, w := range e.warnings {
			cfg.Logger.Warn("rules", "warning", w)
		}
	}
	return e, nil
}

// Warnings returns the problems tolerated while loading the rules.
func (e *Engine) Warnings() []string { return e.warnings }

// RuleCount returns the number of active rules for a source.
func (e *Engine) RuleCount(source string) int {
	if sr := e.sources[source]; sr != nil {
		return len(sr.rules)
	}
	return 0
}

// Evaluate runs the rules of the event's source over ev and returns the
// detections, appended to dst.
func (e *Engine) Evaluate(dst []Detection, ev *event.Event) []Detection {
	sr := e.sources[ev.Source]
	if sr == nil {
		malformedEvents.WithLabelValues(ReasonUnknownSource).Inc()
		return dst
	}
	start := time.Now()
	ctx := sr.pool.Get().(*condition.Ctx[*event.Event])
	ctx.Reset(ev)
	var raw []byte // the event's JSON, copied once for all its detections
	for i, r := range sr.rules {
		if !r.Filter.Match(ctx) {
			continue
		}
		d := Detection{
			Rule:     r.Name,
			Priority: r.Priority,
			Source:   ev.Source,
			Output:   r.Output.Render(ctx),
			Fields:   sr.extras[i].fieldValues(r.Output, ctx),
			Tags:     r.Tags,
			Time:     ev.Time,
			Hostname: e.hostname,
		}
		if raw == nil {
			raw = append([]byte(nil), ev.Raw()...)
		}
		d.Event = raw
		if d.Time.IsZero() {
			d.Time = start.UTC()
		}
		dst = append(dst, d)
		sr.counters[i].Inc()
	}
	ctx.Reset(nil)
	sr.pool.Put(ctx)
	sr.events.Inc()
	sr.latency.Observe(time.Since(start).Seconds())
	return dst
}
