package auto_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/auto"
)

func TestLoadRulesExample(t *testing.T) {
	rules, err := auto.LoadRules(filepath.Join("testdata", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 {
		t.Fatalf("loaded %d rules, want 2", len(rules))
	}
	ban := rules[0]
	if ban.Name != "ban-brute-force" || ban.Source != alert.SourceAnomaly || ban.MinSeverity != alert.SeverityHigh ||
		ban.Kind != "ip-ban" || ban.TTL != time.Hour || ban.Enforce ||
		ban.Target != (respond.Target{Kind: "Ip", Name: "${source_ip}"}) || ban.Params["scenario"] != "brute force on ${service}" {
		t.Errorf("rule 0 = %+v", ban)
	}
	if got := ban.Matchers.Matchers(); len(got) != 2 || got[1] != (alert.Matcher{Name: "namespace", Type: alert.MatchRegexp, Value: "prod-.*"}) {
		t.Errorf("rule 0 matchers = %v", got)
	}
	if r := rules[1]; !r.Enforce || r.TTL != 30*time.Minute || r.Target.Namespace != "${namespace}" {
		t.Errorf("rule 1 = %+v", r)
	}
	if _, err := auto.New(nil, rules, nil, nil); err != nil {
		t.Errorf("New refuses loaded rules: %v", err)
	}
}

func TestParseRulesMatching(t *testing.T) {
	rules, err := auto.ParseRules([]byte(`
rules:
  - name: r
    match: {source: detection, minSeverity: high, labels: ['namespace=~"prod-.*"', 'pod!="debug"']}
    action: {kind: k, target: {name: x}}
    ttl: 1m
`))
	if err != nil {
		t.Fatal(err)
	}
	r := rules[0]
	tests := []struct {
		name string
		a    alert.Alert
		want bool
	}{
		{"all match", alert.Alert{Source: alert.SourceDetection, Severity: alert.SeverityCritical, Labels: alert.LabelSet{"namespace": "prod-eu"}}, true},
		{"exactly min severity", alert.Alert{Source: alert.SourceDetection, Severity: alert.SeverityHigh, Labels: alert.LabelSet{"namespace": "prod-eu"}}, true},
		{"below min severity", alert.Alert{Source: alert.SourceDetection, Severity: alert.SeverityMedium, Labels: alert.LabelSet{"namespace": "prod-eu"}}, false},
		{"other source", alert.Alert{Source: alert.SourceAnomaly, Severity: alert.SeverityCritical, Labels: alert.LabelSet{"namespace": "prod-eu"}}, false},
		{"regexp anchored", alert.Alert{Source: alert.SourceDetection, Severity: alert.SeverityCritical, Labels: alert.LabelSet{"namespace": "x-prod-eu"}}, false},
		{"negative matcher", alert.Alert{Source: alert.SourceDetection, Severity: alert.SeverityCritical, Labels: alert.LabelSet{"namespace": "prod-eu", "pod": "debug"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auto.Matches(r, tt.a); got != tt.want {
				t.Errorf("matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseRulesErrors(t *testing.T) {
	const action = `action: {kind: ip-ban, target: {kind: Ip, name: "${source_ip}"}}`
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"not yaml", "rules: [", []string{"invalid rules YAML"}},
		{"unknown field", "rules:\n- name: a\n  enforced: true\n  match: {source: anomaly}\n  " + action + "\n  ttl: 1h", []string{"enforced"}},
		{"no name", "rules:\n- match: {source: anomaly}\n  " + action + "\n  ttl: 1h", []string{"rule 0", "name: required"}},
		{"empty match", "rules:\n- name: a\n  " + action + "\n  ttl: 1h", []string{`rule 0 ("a")`, "match:"}},
		{"bad source", "rules:\n- name: a\n  match: {source: falco}\n  " + action + "\n  ttl: 1h", []string{`("a")`, "match.source", "falco"}},
		{"bad severity", "rules:\n- name: a\n  match: {minSeverity: urgent}\n  " + action + "\n  ttl: 1h", []string{"match.minSeverity", "urgent"}},
		{"bad matcher", "rules:\n- name: a\n  match: {labels: ['x~y']}\n  " + action + "\n  ttl: 1h", []string{"match.labels[0]"}},
		{"bad regexp", "rules:\n- name: a\n  match: {labels: ['x=~\"(\"']}\n  " + action + "\n  ttl: 1h", []string{"match.labels[0]", "regular expression"}},
		{"no kind", "rules:\n- name: a\n  match: {source: anomaly}\n  action: {target: {name: x}}\n  ttl: 1h", []string{"action.kind"}},
		{"no target name", "rules:\n- name: a\n  match: {source: anomaly}\n  action: {kind: ip-ban}\n  ttl: 1h", []string{"action.target.name"}},
		{"bad template", "rules:\n- name: a\n  match: {source: anomaly}\n  action: {kind: ip-ban, target: {name: '${source-ip}'}}\n  ttl: 1h", []string{"action.target.name", "source-ip"}},
		{"bad param template", "rules:\n- name: a\n  match: {source: anomaly}\n  action: {kind: ip-ban, target: {name: x}, params: {scenario: '${1x}'}}\n  ttl: 1h", []string{"action.params.scenario"}},
		{"no ttl", "rules:\n- name: a\n  match: {source: anomaly}\n  " + action, []string{"ttl: required"}},
		{"bad ttl", "rules:\n- name: a\n  match: {source: anomaly}\n  " + action + "\n  ttl: 1 hour", []string{"ttl:", "Go duration"}},
		{"negative ttl", "rules:\n- name: a\n  match: {source: anomaly}\n  " + action + "\n  ttl: -1h", []string{"ttl:", "not positive"}},
		{"duplicate", "rules:\n- name: a\n  match: {source: anomaly}\n  " + action + "\n  ttl: 1h\n- name: a\n  match: {source: anomaly}\n  " + action + "\n  ttl: 1h", []string{`rule 1 ("a")`, "duplicate"}},
		{"too large", "#" + strings.Repeat("x", auto.MaxRulesFileBytes), []string{"exceeds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auto.ParseRules([]byte(tt.yaml))
			if err == nil {
				t.Fatal("ParseRules succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseRulesEmpty(t *testing.T) {
	for _, doc := range []string{"", "rules: []", "# no rules\n"} {
		rules, err := auto.ParseRules([]byte(doc))
		if err != nil || len(rules) != 0 {
			t.Errorf("ParseRules(%q) = %v, %v; want no rules", doc, rules, err)
		}
	}
}

func TestLoadRulesMissingFile(t *testing.T) {
	_, err := auto.LoadRules(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want a not-exist error", err)
	}
}

func FuzzParseRules(f *testing.F) {
	f.Add([]byte("rules:\n- name: a\n  match: {source: anomaly, labels: ['x=~\"a.*\"']}\n  action: {kind: ip-ban, target: {kind: Ip, name: \"${source_ip}\"}}\n  ttl: 1h\n"))
	f.Add([]byte("rules: [{name: b, match: {minSeverity: high}, action: {kind: k, target: {name: '${n}'}, params: {p: '$x'}}, ttl: 1m, enforce: true}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := auto.ParseRules(data)
		if err != nil {
			return
		}
		// Whatever the loader accepts, the engine must accept too.
		if _, err := auto.New(nil, rules, nil, nil); err != nil {
			t.Fatalf("New refuses rules ParseRules accepted: %v", err)
		}
	})
}
