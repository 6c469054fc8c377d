package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/detect/condition"
)

// kv is a toy event: field name to value.
type kv map[string]string

func table() *condition.Table[kv] {
	var fs []*condition.Field[kv]
	for _, name := range []string{"user", "verb", "ns", "path"} {
		name := name
		fs = append(fs, &condition.Field[kv]{Name: name, Bind: func(string, bool) (condition.Extractor[kv], error) {
			return func(e kv, dst []condition.Value) ([]condition.Value, bool) {
				v, ok := e[name]
				if !ok {
					return dst, false
				}
				return append(dst, condition.Value{S: []byte(v)}), true
			}, nil
		}})
	}
	return condition.NewTable(fs...)
}

func env() Env[kv] {
	return Env[kv]{
		Plugins: []Plugin{{Name: "toy", Version: "1.4.2"}},
		Sources: map[string]*condition.Table[kv]{"toy": table()},
	}
}

func compile(t *testing.T, files ...string) *Compiled[kv] {
	t.Helper()
	var fs []File
	for i, f := range files {
		fs = append(fs, File{Name: "f" + string(rune('0'+i)) + ".yaml", Data: []byte(f)})
	}
	rs, err := Load(fs...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	c, err := Compile(rs, env())
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return c
}

// fired returns the names of the rules matching ev.
func fired(c *Compiled[kv], ev kv) []string {
	ctx := condition.NewCtx(c.Slots["toy"])
	ctx.Reset(ev)
	var out []string
	for _, r := range c.Rules {
		if r.Filter.Match(ctx) {
			out = append(out, r.Name+": "+r.Output.Render(ctx))
		}
	}
	return out
}

const base = `
- required_engine_version: 15
- required_plugin_versions:
    - name: other
      version: 2.0.0
      alternatives:
        - name: toy
          version: 1.2.0
- list: admins
  items: [root, admin]
- list: privileged
  items: [admins, operator]
- macro: is_privileged
  condition: user in (privileged)
- rule: Privileged Delete
  desc: a privileged user deletes
  condition: verb = delete and is_privileged
  output: delete by %user in %ns
  priority: WARNING
  source: toy
  tags: [a]
`

func TestSemantics(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		ev    kv
		want  string
	}{
		{"base fires", ``, kv{"verb": "delete", "user": "admin", "ns": "x"}, "Privileged Delete: delete by admin in x"},
		{"nested list", ``, kv{"verb": "delete", "user": "operator"}, "Privileged Delete: delete by operator in <NA>"},
		{"no match", ``, kv{"verb": "get", "user": "admin"}, ""},
		{"list append (legacy)", `
- list: admins
  items: [bob]
  append: true`, kv{"verb": "delete", "user": "bob"}, "Privileged Delete: delete by bob in <NA>"},
		{"list override replace", `
- list: admins
  items: [carol]
  override:
    items: replace`, kv{"verb": "delete", "user": "admin"}, ""},
		{"macro override append", `
- macro: is_privileged
  condition: and ns = prod
  override:
    condition: append`, kv{"verb": "delete", "user": "admin", "ns": "dev"}, ""},
		{"rule condition append", `
- rule: Privileged Delete
  condition: and ns != kube-system
  override:
    condition: append`, kv{"verb": "delete", "user": "admin", "ns": "kube-system"}, ""},
		{"rule output replace", `
- rule: Privileged Delete
  output: deleted (user=%user)
  override:
    output: replace`, kv{"verb": "delete", "user": "root"}, "Privileged Delete: deleted (user=root)"},
		{"legacy append", `
- rule: Privileged Delete
  condition: and ns = prod
  append: true`, kv{"verb": "delete", "user": "admin", "ns": "prod"}, "Privileged Delete: delete by admin in prod"},
		{"disable", `
- rule: Privileged Delete
  enabled: false`, kv{"verb": "delete", "user": "admin"}, ""},
		{"override enabled", `
- rule: Privileged Delete
  enabled: false
  override:
    enabled: replace`, kv{"verb": "delete", "user": "admin"}, ""},
		{"exception tuple excludes", `
- rule: Privileged Delete
  exceptions:
    - name: maintenance
      fields: [user, ns]
      comps: [=, in]
      values:
        - [admin, [maint, ops]]
  override:
    exceptions: append`, kv{"verb": "delete", "user": "admin", "ns": "ops"}, ""},
		{"exception tuple other ns", `
- rule: Privileged Delete
  exceptions:
    - name: maintenance
      fields: [user, ns]
      comps: [=, in]
      values:
        - [admin, [maint, ops]]
  override:
    exceptions: append`, kv{"verb": "delete", "user": "admin", "ns": "prod"}, "Privileged Delete: delete by admin in prod"},
		{"single-field exception default in", `
- rule: Privileged Delete
  exceptions:
    - name: trusted
      fields: user
      values: [root]
  override:
    exceptions: append`, kv{"verb": "delete", "user": "root"}, ""},
		{"exception values appended", `
- rule: Privileged Delete
  exceptions:
    - name: trusted
      fields: user
      values: [nobody]
  override:
    exceptions: append
- rule: Privileged Delete
  exceptions:
    - name: trusted
      values: [admin]
  append: true`, kv{"verb": "delete", "user": "admin"}, ""},
		{"exception pmatch", `
- rule: Privileged Delete
  exceptions:
    - name: paths
      fields: [path]
      comps: [pmatch]
      values:
        - [[/var/lib]]
  override:
    exceptions: append`, kv{"verb": "delete", "user": "admin", "path": "/var/lib/x"}, ""},
		{"redefinition replaces", `
- rule: Privileged Delete
  desc: replaced
  condition: verb = get
  output: get
  priority: INFO
  source: toy`, kv{"verb": "get"}, "Privileged Delete: get"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compile(t, base, tt.extra)
			got := strings.Join(fired(c, tt.ev), "|")
			if got != tt.want {
				t.Errorf("fired %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"not a sequence", "rule: x", "must be a YAML sequence"},
		{"unknown item", "- foo: bar", "unknown item"},
		{"missing output", "- rule: r\n  desc: d\n  condition: a = b\n  priority: INFO", `missing required key "output"`},
		{"bad priority", "- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: SEVERE", "unknown priority"},
		{"append to nothing", "- rule: r\n  condition: x\n  append: true", "no rule by that name"},
		{"override not listed", "- list: l\n  items: []\n- list: l\n  items: [a]\n  override: {}\n", ""},
		{"override unknown mode", "- list: l\n  items: []\n- list: l\n  items: [a]\n  override:\n    items: merge", "must be one of"},
		{"override key missing", "- macro: m\n  condition: a\n- macro: m\n  override:\n    condition: append", "which the item does not define"},
		{"override and append", "- macro: m\n  condition: a\n- macro: m\n  condition: b\n  append: true\n  override:\n    condition: append", "both 'append' and 'override'"},
		{"exception comps mismatch", "- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      fields: [a, b]\n      comps: [=]", "2 fields but 1 comps"},
		{"exception bad comp", "- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      fields: [a]\n      comps: [~=]", "unknown comparison operator"},
		{"exception tuple size", "- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      fields: [a, b]\n      values:\n        - [x]", "one per field"},
		{"bad engine version", "- required_engine_version: abc", "not major.minor.patch"},
		{"invalid yaml", "- rule: [", "invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(File{Name: "x.yaml", Data: []byte(tt.file)})
			if tt.want == "" {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			var le *LoadError
			if !errors.As(err, &le) || le.Pos.File != "x.yaml" {
				t.Errorf("error %v does not locate the file", err)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"engine too old", "- required_engine_version: 0.99.0", "require engine version 0.99.0"},
		{"plugin missing", "- required_plugin_versions:\n    - name: k8saudit\n      version: 0.1.0", "require plugin k8saudit 0.1.0"},
		{"plugin too new", "- required_plugin_versions:\n    - name: toy\n      version: 1.5.0", "require plugin toy 1.5.0"},
		{"plugin other major", "- required_plugin_versions:\n    - name: toy\n      version: 0.4.0", "require plugin toy 0.4.0"},
		{"unknown field", "- rule: r\n  desc: d\n  condition: nosuch = 1\n  output: o\n  priority: INFO\n  source: toy", `unknown field "nosuch"`},
		{"unknown output field", "- rule: r\n  desc: d\n  condition: user = 1\n  output: o %nosuch\n  priority: INFO\n  source: toy", `unknown field "nosuch"`},
		{"undefined macro", "- rule: r\n  desc: d\n  condition: nosuchmacro\n  output: o\n  priority: INFO\n  source: toy", `undefined macro "nosuchmacro"`},
		{"list cycle", "- list: a\n  items: [b]\n- list: b\n  items: [a]", "cycle"},
		{"bad macro syntax", "- macro: m\n  condition: a and", "syntax error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Load(File{Name: "x.yaml", Data: []byte(tt.file)})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			_, err = Compile(rs, env())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSkipAndWarnings(t *testing.T) {
	c := compile(t, `
- rule: disabled rules are not compiled
  desc: d
  condition: nosuch = 1
  output: o
  priority: INFO
  source: toy
  enabled: false
- rule: syscall rule
  desc: d
  condition: proc.name = sh
  output: o
  priority: INFO
- rule: skipped
  desc: d
  condition: nosuch.field = 1
  output: o
  priority: INFO
  source: toy
  skip-if-unknown-filter: true
  capture: true
- rule: kept
  desc: d
  condition: user = x
  output: o
  priority: info
  source: toy
  unknown_key: 1
`)
	if len(c.Rules) != 1 || c.Rules[0].Name != "kept" || c.Rules[0].Priority != Informational {
		t.Fatalf("rules = %+v", c.Rules)
	}
	w := strings.Join(c.Warnings, "\n")
	for _, s := range []string{`rule "skipped" skipped`, `1 rules of source "syscall" skipped`, `unknown key "unknown_key"`} {
		if !strings.Contains(w, s) {
			t.Errorf("warnings %q lack %q", w, s)
		}
	}
}

func TestPriority(t *testing.T) {
	for p := Emergency; p <= Debug; p++ {
		q, err := ParsePriority(strings.ToUpper(p.String()))
		if err != nil || q != p {
			t.Errorf("ParsePriority(%s) = %v, %v", p, q, err)
		}
	}
	if !Error.AtLeast(Warning) || Notice.AtLeast(Warning) {
		t.Error("AtLeast ordering is wrong")
	}
}
