// Package rules loads Falco rule files: rules, macros and lists with their
// append and override semantics, exceptions, and the
// required_engine_version and required_plugin_versions checks; Compile
// turns a loaded ruleset into filters and output formats for the event
// sources at hand.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds a rules file (Falco's own files are under 200 KiB).
const MaxFileSize = 16 << 20

// File is one rules file to load.
type File struct {
	// Name identifies the file in errors (usually its path).
	Name string
	Data []byte
}

// Pos locates a definition.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// List is a named list of values.
type List struct {
	Name  string
	Items []string
	Pos   Pos
}

// Macro is a named condition fragment.
type Macro struct {
	Name      string
	Condition string
	Pos       Pos
}

// ExceptionValue is one element of an exception tuple: a single value, or
// a list of values for the operators in, intersects and pmatch.
type ExceptionValue struct {
	Items  []string
	IsList bool
}

// Exception is a named set of conditions under which a rule does not fire.
type Exception struct {
	Name string
	// Fields are the compared fields. When FieldsIsList is false a single
	// field was given and each value tuple holds exactly one value.
	Fields       []string
	FieldsIsList bool
	// Comps are the operators, one per field.
	Comps []string
	// Values are the tuples; one tuple matching excludes the event.
	Values [][]ExceptionValue
}

// Rule is a rule after all appends and overrides were applied.
type Rule struct {
	Name                string
	Desc                string
	Condition           string
	Output              string
	Priority            Priority
	Source              string
	Tags                []string
	Enabled             bool
	Exceptions          []Exception
	SkipIfUnknownFilter bool
	Pos                 Pos
}

// EngineRequirement is one required_engine_version item.
type EngineRequirement struct {
	Version string
	Pos     Pos
}

// PluginRequirement is one entry of required_plugin_versions.
type PluginRequirement struct {
	Name         string
	Version      string
	Alternatives []Plugin
	Pos          Pos
}

// Ruleset is the result of loading rule files in order.
type Ruleset struct {
	EngineRequirements []EngineRequirement
	PluginRequirements []PluginRequirement
	Lists              []*List
	Macros             []*Macro
	Rules              []*Rule
	// Warnings lists tolerated oddities (unknown keys, …).
	Warnings []string
}

// LoadError reports a problem in a rules file.
type LoadError struct {
	Pos  Pos
	Item string // e.g. `rule "Create Privileged Pod"`
	Err  error
}

func (e *LoadError) Error() string {
	if e.Item != "" {
		return fmt.Sprintf("%s: %s: %v", e.Pos, e.Item, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Pos, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// Load loads rule files in order; later files append to and override
// definitions of earlier ones, as with Falco's rules_files.
func Load(files ...File) (*Ruleset, error) {
	rs := &Ruleset{}
	for _, f := range files {
		if err := rs.load(f); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

func (rs *Ruleset) list(name string) *List {
	for _, l := range rs.Lists {
		if l.Name == name {
			return l
		}
	}
	return nil
}

func (rs *Ruleset) macro(name string) *Macro {
	for _, m := range rs.Macros {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Rule returns the rule named name, or nil.
func (rs *Ruleset) Rule(name string) *Rule {
	for _, r := range rs.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func (rs *Ruleset) load(f File) error {
	if len(f.Data) > MaxFileSize {
		return &LoadError{Pos: Pos{File: f.Name}, Err: fmt.Errorf("file is larger than %d bytes", MaxFileSize)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &LoadError{Pos: Pos{File: f.Name}, Err: fmt.Errorf("invalid YAML: %w", err)}
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		if root.Kind != yaml.SequenceNode {
			return &LoadError{Pos: Pos{File: f.Name, Line: root.Line}, Err: errors.New("a rules file must be a YAML sequence of rule, macro and list items")}
		}
		for _, it := range root.Content {
			if err := rs.loadItem(f.Name, it); err != nil {
				return err
			}
		}
	}
}

// item is the union of the keys every rules file item may have.
type item struct {
	RequiredEngineVersion  yaml.Node       `yaml:"required_engine_version"`
	RequiredPluginVersions []pluginReqYAML `yaml:"required_plugin_versions"`

	List  *string   `yaml:"list"`
	Items yaml.Node `yaml:"items"`

	Macro     *string `yaml:"macro"`
	Condition *string `yaml:"condition"`

	Rule                *string              `yaml:"rule"`
	Desc                *string              `yaml:"desc"`
	Output              *string              `yaml:"output"`
	Priority            *string              `yaml:"priority"`
	Source              *string              `yaml:"source"`
	Tags                []string             `yaml:"tags"`
	Enabled             *bool                `yaml:"enabled"`
	Exceptions          []exceptionYAML      `yaml:"exceptions"`
	SkipIfUnknownFilter *bool                `yaml:"skip-if-unknown-filter"`
	Append              *bool                `yaml:"append"`
	Override            map[string]string    `yaml:"override"`
	Extra               map[string]yaml.Node `yaml:",inline"`
}

type pluginReqYAML struct {
	Name         string `yaml:"name"`
	Version      string `yaml:"version"`
	Alternatives []struct {
		Name    string `yaml:"name"`
		Version string `yaml:"version"`
	} `yaml:"alternatives"`
}

type exceptionYAML struct {
	Name   string    `yaml:"name"`
	Fields yaml.Node `yaml:"fields"`
	Comps  yaml.Node `yaml:"comps"`
	Values yaml.Node `yaml:"values"`
}

// ruleKeys are the rule keys that may appear in an override, with the
// override modes each supports.
var ruleOverride = map[string][]string{
	"condition":              {"append", "replace"},
	"output":                 {"append", "replace"},
	"desc":                   {"append", "replace"},
	"tags":                   {"append", "replace"},
	"exceptions":             {"append", "replace"},
	"priority":               {"replace"},
	"enabled":                {"replace"},
	"source":                 {"replace"},
	"skip-if-unknown-filter": {"replace"},
	"warn_evttypes":          {"replace"},
	"capture":                {"replace"},
	"capture_duration":       {"replace"},
}

// tolerated keys that carry no meaning here.
var ignoredRuleKeys = map[string]bool{"warn_evttypes": true, "capture": true, "capture_duration": true}

func keysOf(n *yaml.Node) []string {
	var ks []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		ks = append(ks, n.Content[i].Value)
	}
	return ks
}

func (rs *Ruleset) loadItem(file string, n *yaml.Node) error {
	pos := Pos{File: file, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return &LoadError{Pos: pos, Err: errors.New("each item must be a mapping (rule, macro, list, required_engine_version or required_plugin_versions)")}
	}
	var it item
	if err := n.Decode(&it); err != nil {
		return &LoadError{Pos: pos, Err: fmt.Errorf("invalid item: %w", err)}
	}
	keys := keysOf(n)
	switch {
	case it.RequiredEngineVersion.Kind != 0:
		v := strings.TrimSpace(it.RequiredEngineVersion.Value)
		if _, err := parseEngineVersion(v); err != nil {
			return &LoadError{Pos: pos, Err: fmt.Errorf("required_engine_version: %w", err)}
		}
		rs.EngineRequirements = append(rs.EngineRequirements, EngineRequirement{Version: v, Pos: pos})
		return nil
	case slices.Contains(keys, "required_plugin_versions"):
		for _, r := range it.RequiredPluginVersions {
			if r.Name == "" {
				return &LoadError{Pos: pos, Err: errors.New("required_plugin_versions: an entry has no name")}
			}
			if _, err := parseVersion(r.Version); err != nil {
				return &LoadError{Pos: pos, Err: fmt.Errorf("required_plugin_versions: plugin %q: %w", r.Name, err)}
			}
			req := PluginRequirement{Name: r.Name, Version: r.Version, Pos: pos}
			for _, a := range r.Alternatives {
				req.Alternatives = append(req.Alternatives, Plugin{Name: a.Name, Version: a.Version})
			}
			rs.PluginRequirements = append(rs.PluginRequirements, req)
		}
		return nil
	case it.List != nil:
		return rs.loadList(pos, &it, keys)
	case it.Macro != nil:
		return rs.loadMacro(pos, &it, keys)
	case it.Rule != nil:
		return rs.loadRule(pos, &it, keys)
	}
	return &LoadError{Pos: pos, Err: fmt.Errorf("unknown item with keys %v: want rule, macro, list, required_engine_version or required_plugin_versions", keys)}
}

// overrideMode validates an item's override and append keys and returns
// the mode for key ("", "append" or "replace").
func checkOverride(kind string, it *item, keys []string, allowed map[string][]string, nameKey string) error {
	if it.Override == nil {
		return nil
	}
	if it.Append != nil {
		return fmt.Errorf("%s cannot have both 'append' and 'override'", kind)
	}
	for k, mode := range it.Override {
		modes, ok := allowed[k]
		if !ok {
			return fmt.Errorf("override of key %q is not supported for a %s", k, kind)
		}
		if !slices.Contains(modes, mode) {
			return fmt.Errorf("override of %q must be one of %v, got %q", k, modes, mode)
		}
		if !slices.Contains(keys, k) {
			return fmt.Errorf("override names key %q, which the item does not define", k)
		}
	}
	for _, k := range keys {
		if k == nameKey || k == "override" {
			continue
		}
		if _, ok := it.Override[k]; !ok {
			return fmt.Errorf("key %q is defined next to 'override' but not listed in it", k)
		}
	}
	return nil
}

func scalarItems(n *yaml.Node) ([]string, error) {
	if n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errors.New("items must be a sequence")
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: list items must be scalars", c.Line)
		}
		out = append(out, c.Value)
	}
	return out, nil
}

func (rs *Ruleset) loadList(pos Pos, it *item, keys []string) error {
	what := fmt.Sprintf("list %q", *it.List)
	fail := func(err error) error { return &LoadError{Pos: pos, Item: what, Err: err} }
	if *it.List == "" {
		return fail(errors.New("the list name is empty"))
	}
	if err := checkOverride("list", it, keys, map[string][]string{"items": {"append", "replace"}}, "list"); err != nil {
		return fail(err)
	}
	items, err := scalarItems(&it.Items)
	if err != nil {
		return fail(err)
	}
	if !slices.Contains(keys, "items") {
		return fail(errors.New("missing required key 'items'"))
	}
	existing := rs.list(*it.List)
	appendMode := (it.Append != nil && *it.Append) || it.Override["items"] == "append"
	replaceMode := it.Override["items"] == "replace"
	switch {
	case appendMode || replaceMode:
		if existing == nil {
			return fail(errors.New("appends to or overrides a list that is not defined earlier"))
		}
		if appendMode {
			existing.Items = append(existing.Items, items...)
		} else {
			existing.Items = items
		}
	case existing != nil:
		existing.Items, existing.Pos = items, pos
	default:
		rs.Lists = append(rs.Lists, &List{Name: *it.List, Items: items, Pos: pos})
	}
	rs.warnUnknown(pos, what, it)
	return nil
}

func (rs *Ruleset) loadMacro(pos Pos, it *item, keys []string) error {
	what := fmt.Sprintf("macro %q", *it.Macro)
	fail := func(err error) error { return &LoadError{Pos: pos, Item: what, Err: err} }
	if *it.Macro == "" {
		return fail(errors.New("the macro name is empty"))
	}
	if err := checkOverride("macro", it, keys, map[string][]string{"condition": {"append", "replace"}}, "macro"); err != nil {
		return fail(err)
	}
	if it.Condition == nil {
		return fail(errors.New("missing required key 'condition'"))
	}
	existing := rs.macro(*it.Macro)
	appendMode := (it.Append != nil && *it.Append) || it.Override["condition"] == "append"
	replaceMode := it.Override["condition"] == "replace"
	switch {
	case appendMode || replaceMode:
		if existing == nil {
			return fail(errors.New("appends to or overrides a macro that is not defined earlier"))
		}
		if appendMode {
			existing.Condition += " " + *it.Condition
		} else {
			existing.Condition = *it.Condition
		}
	case existing != nil:
		existing.Condition, existing.Pos = *it.Condition, pos
	default:
		rs.Macros = append(rs.Macros, &Macro{Name: *it.Macro, Condition: *it.Condition, Pos: pos})
	}
	rs.warnUnknown(pos, what, it)
	return nil
}

func (rs *Ruleset) warnUnknown(pos Pos, what string, it *item) {
	for k := range it.Extra {
		if ignoredRuleKeys[k] {
			continue
		}
		rs.Warnings = append(rs.Warnings, fmt.Sprintf("%s: %s: unknown key %q ignored", pos, what, k))
	}
}

func (rs *Ruleset) loadRule(pos Pos, it *item, keys []string) error {
	what := fmt.Sprintf("rule %q", *it.Rule)
	fail := func(err error) error { return &LoadError{Pos: pos, Item: what, Err: err} }
	if *it.Rule == "" {
		return fail(errors.New("the rule name is empty"))
	}
	if err := checkOverride("rule", it, keys, ruleOverride, "rule"); err != nil {
		return fail(err)
	}
	excs, err := parseExceptions(it.Exceptions)
	if err != nil {
		return fail(err)
	}
	var prio *Priority
	if it.Priority != nil {
		p, err := ParsePriority(*it.Priority)
		if err != nil {
			return fail(err)
		}
		prio = &p
	}
	existing := rs.Rule(*it.Rule)
	rs.warnUnknown(pos, what, it)

	// Legacy append: condition and exceptions are appended.
	if it.Append != nil && *it.Append {
		if existing == nil {
			return fail(errors.New("has 'append: true' but no rule by that name is defined earlier"))
		}
		if it.Condition != nil {
			existing.Condition += " " + *it.Condition
		}
		existing.Exceptions = mergeExceptions(existing.Exceptions, excs)
		if it.Enabled != nil {
			existing.Enabled = *it.Enabled
		}
		return nil
	}
	if it.Override != nil {
		if existing == nil {
			return fail(errors.New("overrides a rule that is not defined earlier"))
		}
		if err := applyRuleOverride(existing, it, excs, prio); err != nil {
			return fail(err)
		}
		return nil
	}
	// An item with only the name and "enabled" toggles an existing rule.
	if existing != nil && it.Enabled != nil && it.Condition == nil && it.Output == nil && it.Desc == nil && it.Priority == nil {
		existing.Enabled = *it.Enabled
		return nil
	}
	if existing == nil && it.Enabled != nil && len(keys) == 2 {
		return fail(errors.New("enables or disables a rule that is not defined earlier"))
	}
	for k, present := range map[string]bool{"condition": it.Condition != nil, "output": it.Output != nil, "desc": it.Desc != nil, "priority": prio != nil} {
		if !present {
			return fail(fmt.Errorf("missing required key %q", k))
		}
	}
	r := &Rule{
		Name:       *it.Rule,
		Desc:       *it.Desc,
		Condition:  *it.Condition,
		Output:     strings.TrimSpace(*it.Output),
		Priority:   *prio,
		Source:     "syscall",
		Tags:       it.Tags,
		Enabled:    true,
		Pos:        pos,
		Exceptions: excs,
	}
	if it.Source != nil {
		r.Source = *it.Source
	}
	if it.Enabled != nil {
		r.Enabled = *it.Enabled
	}
	if it.SkipIfUnknownFilter != nil {
		r.SkipIfUnknownFilter = *it.SkipIfUnknownFilter
	}
	if existing != nil {
		*existing = *r
		return nil
	}
	rs.Rules = append(rs.Rules, r)
	return nil
}

func applyRuleOverride(r *Rule, it *item, excs []Exception, prio *Priority) error {
	for k, present := range map[string]bool{
		"condition": it.Condition != nil, "output": it.Output != nil, "desc": it.Desc != nil,
		"priority": prio != nil, "enabled": it.Enabled != nil, "source": it.Source != nil,
		"skip-if-unknown-filter": it.SkipIfUnknownFilter != nil,
	} {
		if _, listed := it.Override[k]; listed && !present {
			return fmt.Errorf("override of %q: the key has no value", k)
		}
	}
	for k, mode := range it.Override {
		app := mode == "append"
		switch k {
		case "condition":
			r.Condition = joinOrReplace(r.Condition, *it.Condition, app)
		case "output":
			r.Output = strings.TrimSpace(joinOrReplace(r.Output, *it.Output, app))
		case "desc":
			r.Desc = joinOrReplace(r.Desc, *it.Desc, app)
		case "tags":
			if app {
				for _, t := range it.Tags {
					if !slices.Contains(r.Tags, t) {
						r.Tags = append(r.Tags, t)
					}
				}
			} else {
				r.Tags = it.Tags
			}
		case "exceptions":
			if app {
				r.Exceptions = mergeExceptions(r.Exceptions, excs)
			} else {
				r.Exceptions = excs
			}
		case "priority":
			r.Priority = *prio
		case "enabled":
			r.Enabled = *it.Enabled
		case "source":
			r.Source = *it.Source
		case "skip-if-unknown-filter":
			r.SkipIfUnknownFilter = *it.SkipIfUnknownFilter
		}
	}
	return nil
}

func joinOrReplace(old, s string, app bool) string {
	if app {
		return old + " " + s
	}
	return s
}

// mergeExceptions appends the values of exceptions with a known name and
// adds the others.
func mergeExceptions(base, add []Exception) []Exception {
	for _, a := range add {
		found := false
		for i := range base {
			if base[i].Name == a.Name {
				for _, tuple := range a.Values {
					// Values appended without fields were read as tuples;
					// for a single-field exception a sequence is one list.
					if !base[i].FieldsIsList && len(tuple) > 1 {
						ev := ExceptionValue{IsList: true}
						for _, x := range tuple {
							ev.Items = append(ev.Items, x.Items...)
						}
						tuple = []ExceptionValue{ev}
					}
					base[i].Values = append(base[i].Values, tuple)
				}
				found = true
				break
			}
		}
		if !found {
			base = append(base, a)
		}
	}
	return base
}

var validComps = map[string]bool{
	"=": true, "==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
	"in": true, "intersects": true, "pmatch": true, "contains": true, "icontains": true,
	"startswith": true, "endswith": true, "glob": true, "iglob": true, "regex": true,
	"bcontains": true, "bstartswith": true,
}

var listComps = map[string]bool{"in": true, "intersects": true, "pmatch": true}

func parseExceptions(in []exceptionYAML) ([]Exception, error) {
	out := make([]Exception, 0, len(in))
	for _, y := range in {
		if y.Name == "" {
			return nil, errors.New("an exception has no name")
		}
		e := Exception{Name: y.Name}
		fail := func(format string, a ...any) error {
			return fmt.Errorf("exception %q: %s", y.Name, fmt.Sprintf(format, a...))
		}
		switch y.Fields.Kind {
		case yaml.ScalarNode:
			e.Fields = []string{y.Fields.Value}
		case yaml.SequenceNode:
			e.FieldsIsList = true
			for _, c := range y.Fields.Content {
				e.Fields = append(e.Fields, c.Value)
			}
		case 0:
			// Appending values to an exception defined earlier.
		default:
			return nil, fail("fields must be a field name or a list of field names")
		}
		switch y.Comps.Kind {
		case yaml.ScalarNode:
			e.Comps = []string{y.Comps.Value}
		case yaml.SequenceNode:
			for _, c := range y.Comps.Content {
				e.Comps = append(e.Comps, c.Value)
			}
		case 0:
			for range e.Fields {
				if e.FieldsIsList {
					e.Comps = append(e.Comps, "=")
				} else {
					e.Comps = append(e.Comps, "in")
				}
			}
		}
		if len(e.Fields) > 0 && len(e.Comps) != len(e.Fields) {
			return nil, fail("%d fields but %d comps", len(e.Fields), len(e.Comps))
		}
		for _, c := range e.Comps {
			if !validComps[c] {
				return nil, fail("unknown comparison operator %q", c)
			}
		}
		if y.Values.Kind != 0 && y.Values.Kind != yaml.SequenceNode {
			return nil, fail("values must be a sequence")
		}
		for _, v := range y.Values.Content {
			tuple, err := parseTuple(v, e.FieldsIsList || (len(e.Fields) == 0 && v.Kind == yaml.SequenceNode))
			if err != nil {
				return nil, fail("%v", err)
			}
			if len(e.Fields) > 0 && len(tuple) != len(e.Fields) {
				return nil, fail("line %d: a value has %d elements, want one per field (%d)", v.Line, len(tuple), len(e.Fields))
			}
			e.Values = append(e.Values, tuple)
		}
		out = append(out, e)
	}
	return out, nil
}

func parseTuple(v *yaml.Node, fieldsIsList bool) ([]ExceptionValue, error) {
	if !fieldsIsList {
		if v.Kind == yaml.SequenceNode {
			var items []string
			for _, c := range v.Content {
				items = append(items, c.Value)
			}
			return []ExceptionValue{{Items: items, IsList: true}}, nil
		}
		return []ExceptionValue{{Items: []string{v.Value}}}, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: with a list of fields each value must be a list with one element per field", v.Line)
	}
	tuple := make([]ExceptionValue, 0, len(v.Content))
	for _, c := range v.Content {
		switch c.Kind {
		case yaml.ScalarNode:
			tuple = append(tuple, ExceptionValue{Items: []string{c.Value}})
		case yaml.SequenceNode:
			ev := ExceptionValue{IsList: true}
			for _, x := range c.Content {
				if x.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("line %d: nested values must be scalars", x.Line)
				}
				ev.Items = append(ev.Items, x.Value)
			}
			tuple = append(tuple, ev)
		default:
			return nil, fmt.Errorf("line %d: exception values must be scalars or lists", c.Line)
		}
	}
	return tuple, nil
}
