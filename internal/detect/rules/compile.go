package rules

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kubeward/kubeward/internal/detect/condition"
)

// EngineVersion is the Falco rules engine version whose language this
// package implements (exceptions, override, the operators of package
// condition). A required_engine_version of N means 0.N.0.
const EngineVersion = "0.50.0"

// Plugin names a plugin (field provider) and its version, for
// required_plugin_versions checks.
type Plugin struct {
	Name    string
	Version string
}

// Env is what rules are compiled against.
type Env[E any] struct {
	// EngineVersion defaults to the package's EngineVersion.
	EngineVersion string
	// Plugins are the field providers available.
	Plugins []Plugin
	// Sources maps rule sources ("k8s_audit", …) to their fields. Rules of
	// other sources are skipped with a warning, as Falco does for sources
	// it has not loaded.
	Sources map[string]*condition.Table[E]
}

// CompiledRule is a rule ready to evaluate.
type CompiledRule[E any] struct {
	*Rule
	Filter *condition.Filter[E]
	Output *condition.Format[E]
}

// Compiled is a compiled ruleset.
type Compiled[E any] struct {
	// Rules holds the enabled rules of the loaded sources, in file order.
	Rules []*CompiledRule[E]
	// Slots holds the field slots of each source; a condition.Ctx for a
	// source must be built from its Slots.
	Slots map[string]*condition.Slots[E]
	// Warnings lists rules skipped and other tolerated problems.
	Warnings []string
}

type version [3]int

func parseVersion(s string) (version, error) {
	var v version
	core, _, _ := strings.Cut(strings.TrimSpace(s), "-")
	core, _, _ = strings.Cut(core, "+")
	parts := strings.Split(core, ".")
	if len(parts) == 0 || len(parts) > 3 || parts[0] == "" {
		return v, fmt.Errorf("version %q is not major.minor.patch", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("version %q is not major.minor.patch", s)
		}
		v[i] = n
	}
	return v, nil
}

// parseEngineVersion accepts a semantic version or a bare integer N, the
// older form meaning 0.N.0.
func parseEngineVersion(s string) (version, error) {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		if n < 0 {
			return version{}, fmt.Errorf("engine version %q is negative", s)
		}
		return version{0, n, 0}, nil
	}
	return parseVersion(s)
}

func (v version) less(w version) bool {
	for i := range v {
		if v[i] != w[i] {
			return v[i] < w[i]
		}
	}
	return false
}

// compatible reports whether a provided version satisfies a required one:
// same major version and not older.
func compatible(provided, required version) bool {
	return provided[0] == required[0] && !provided.less(required)
}

// CheckRequirements verifies required_engine_version and
// required_plugin_versions against env.
func CheckRequirements[E any](rs *Ruleset, env Env[E]) error {
	engine := env.EngineVersion
	if engine == "" {
		engine = EngineVersion
	}
	have, err := parseVersion(engine)
	if err != nil {
		return fmt.Errorf("engine version: %w", err)
	}
	for _, r := range rs.EngineRequirements {
		want, _ := parseEngineVersion(r.Version)
		if have.less(want) {
			return &LoadError{Pos: r.Pos, Err: fmt.Errorf("rules require engine version %s, kubeward implements %s: use an older rules file or a newer kubeward", r.Version, engine)}
		}
	}
	for _, r := range rs.PluginRequirements {
		if !pluginSatisfied(r, env.Plugins) {
			names := []string{r.Name + " " + r.Version}
			for _, a := range r.Alternatives {
				names = append(names, a.Name+" "+a.Version)
			}
			var provided []string
			for _, p := range env.Plugins {
				provided = append(provided, p.Name+" "+p.Version)
			}
			return &LoadError{Pos: r.Pos, Err: fmt.Errorf("rules require plugin %s, kubeward provides %s: use a rules file written for these field sets", strings.Join(names, " or "), strings.Join(provided, ", "))}
		}
	}
	return nil
}

func pluginSatisfied(r PluginRequirement, provided []Plugin) bool {
	cands := append([]Plugin{{Name: r.Name, Version: r.Version}}, r.Alternatives...)
	for _, c := range cands {
		want, err := parseVersion(c.Version)
		if c.Version == "" || err != nil {
			want = version{}
		}
		for _, p := range provided {
			have, err := parseVersion(p.Version)
			if err == nil && p.Name == c.Name && compatible(have, want) {
				return true
			}
		}
	}
	return false
}

// expandLists resolves list items that name other lists.
func expandLists(rs *Ruleset) (map[string][]string, error) {
	byName := map[string]*List{}
	for _, l := range rs.Lists {
		byName[l.Name] = l
	}
	out := map[string][]string{}
	var expand func(l *List, stack []string) ([]string, error)
	expand = func(l *List, stack []string) ([]string, error) {
		if items, ok := out[l.Name]; ok {
			return items, nil
		}
		for _, s := range stack {
			if s == l.Name {
				return nil, &LoadError{Pos: l.Pos, Item: fmt.Sprintf("list %q", l.Name), Err: fmt.Errorf("lists refer to each other in a cycle: %s", strings.Join(append(stack, l.Name), " -> "))}
			}
		}
		items := make([]string, 0, len(l.Items))
		for _, it := range l.Items {
			if ref, ok := byName[it]; ok && ref != l {
				sub, err := expand(ref, append(stack, l.Name))
				if err != nil {
					return nil, err
				}
				items = append(items, sub...)
				continue
			}
			items = append(items, it)
		}
		out[l.Name] = items
		return items, nil
	}
	for _, l := range rs.Lists {
		if _, err := expand(l, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Compile checks the requirements and compiles every rule of a loaded
// source: conditions with macros, lists and exceptions expanded, and
// outputs. Unknown fields are errors unless the rule sets
// skip-if-unknown-filter. Disabled rules are left out, as Falco neither
// loads nor matches them.
func Compile[E any](rs *Ruleset, env Env[E]) (*Compiled[E], error) {
	if err := CheckRequirements(rs, env); err != nil {
		return nil, err
	}
	lists, err := expandLists(rs)
	if err != nil {
		return nil, err
	}
	macros := map[string]condition.Node{}
	for _, m := range rs.Macros {
		n, err := condition.Parse(m.Condition)
		if err != nil {
			return nil, &LoadError{Pos: m.Pos, Item: fmt.Sprintf("macro %q", m.Name), Err: err}
		}
		macros[m.Name] = n
	}
	out := &Compiled[E]{Slots: map[string]*condition.Slots[E]{}, Warnings: append([]string(nil), rs.Warnings...)}
	skippedSources := map[string]int{}
	for _, r := range rs.Rules {
		if !r.Enabled {
			// As in Falco, a disabled rule is neither loaded nor matched.
			continue
		}
		table, ok := env.Sources[r.Source]
		if !ok {
			skippedSources[r.Source]++
			continue
		}
		slots := out.Slots[r.Source]
		if slots == nil {
			slots = condition.NewSlots[E]()
			out.Slots[r.Source] = slots
		}
		c := &condition.Compiler[E]{Table: table, Slots: slots, Macros: macros, Lists: lists}
		cr, err := compileRule(c, r)
		if err != nil {
			if r.SkipIfUnknownFilter && isUnknownField(err) {
				out.Warnings = append(out.Warnings, fmt.Sprintf("%s: rule %q skipped: %v", r.Pos, r.Name, err))
				continue
			}
			return nil, &LoadError{Pos: r.Pos, Item: fmt.Sprintf("rule %q", r.Name), Err: err}
		}
		out.Rules = append(out.Rules, cr)
	}
	srcs := make([]string, 0, len(skippedSources))
	for s := range skippedSources {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	for _, s := range srcs {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d rules of source %q skipped: no such event source is loaded", skippedSources[s], s))
	}
	return out, nil
}

func isUnknownField(err error) bool {
	var ce *condition.CompileError
	return errors.As(err, &ce) && strings.Contains(ce.Msg, "unknown field")
}

func compileRule[E any](c *condition.Compiler[E], r *Rule) (*CompiledRule[E], error) {
	n, err := condition.Parse(r.Condition)
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	if excl, err := exceptionsNode(r.Exceptions); err != nil {
		return nil, err
	} else if excl != nil {
		n = condition.And{Children: []condition.Node{n, condition.Not{Child: excl}}}
	}
	f, err := c.Compile(n)
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	out, err := condition.CompileFormat(c.Table, c.Slots, r.Output)
	if err != nil {
		return nil, err
	}
	return &CompiledRule[E]{Rule: r, Filter: f, Output: out}, nil
}

// exceptionsNode builds "(tuple1) or (tuple2) …" for all exceptions, each
// tuple being "field1 comp1 value1 and field2 comp2 value2 …"; nil when
// no exception has values.
func exceptionsNode(excs []Exception) (condition.Node, error) {
	var alts []condition.Node
	for _, e := range excs {
		if len(e.Fields) == 0 {
			return nil, fmt.Errorf("exception %q has no fields", e.Name)
		}
		for _, tuple := range e.Values {
			var checks []condition.Node
			for i, v := range tuple {
				field, arg, hasArg, err := splitFieldRef(e.Fields[i])
				if err != nil {
					return nil, fmt.Errorf("exception %q: %w", e.Name, err)
				}
				chk := condition.Check{Field: field, Arg: arg, HasArg: hasArg, Op: e.Comps[i]}
				for _, it := range v.Items {
					chk.Values = append(chk.Values, condition.Operand{Text: it})
				}
				if listComps[chk.Op] {
					chk.List = true
				} else if len(chk.Values) != 1 {
					return nil, fmt.Errorf("exception %q: operator %q takes a single value, got %d", e.Name, chk.Op, len(chk.Values))
				}
				checks = append(checks, chk)
			}
			if len(checks) == 1 {
				alts = append(alts, checks[0])
			} else {
				alts = append(alts, condition.And{Children: checks})
			}
		}
	}
	switch len(alts) {
	case 0:
		return nil, nil
	case 1:
		return alts[0], nil
	}
	return condition.Or{Children: alts}, nil
}

func splitFieldRef(s string) (field, arg string, hasArg bool, err error) {
	i := strings.IndexByte(s, '[')
	if i < 0 {
		return s, "", false, nil
	}
	if !strings.HasSuffix(s, "]") {
		return "", "", false, fmt.Errorf("field %q: argument is missing its ']'", s)
	}
	return s[:i], s[i+1 : len(s)-1], true, nil
}
