package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/notify"
)

func TestLoadSeedRouting(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "seed-routing.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(data)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	root := cfg.Route
	if root.Receiver != "slack" || root.Channel != "#app-alerts" {
		t.Fatalf("root route = %q %q", root.Receiver, root.Channel)
	}
	if len(root.Routes) != 3 {
		t.Fatalf("root has %d child routes, want 3", len(root.Routes))
	}
	tests := []struct {
		child                  int
		channel                string
		groupBy                []string
		wait, interval, repeat time.Duration
		matches                alert.LabelSet
		line                   int
	}{
		{0, "#falco-alerts", []string{"alertname", "namespace"}, 10 * time.Second, 5 * time.Minute, 4 * time.Hour, alert.LabelSet{"source": "detection"}, 18},
		{1, "#qa", []string{"alertname", "namespace"}, 30 * time.Second, 5 * time.Minute, 4 * time.Hour, alert.LabelSet{"namespace": "qa-payments"}, 21},
		{2, "#deployments", []string{"alertname", "namespace", "workload"}, 30 * time.Second, 5 * time.Minute, 4 * time.Hour, alert.LabelSet{"source": "response"}, 23},
	}
	for _, tt := range tests {
		r := root.Routes[tt.child]
		if r.Channel != tt.channel || strings.Join(r.GroupBy, ",") != strings.Join(tt.groupBy, ",") ||
			r.GroupWait != tt.wait || r.GroupInterval != tt.interval || r.RepeatInterval != tt.repeat || r.Receiver != "slack" {
			t.Errorf("route %d = channel %q group_by %v timers %v/%v/%v receiver %q", tt.child, r.Channel, r.GroupBy, r.GroupWait, r.GroupInterval, r.RepeatInterval, r.Receiver)
		}
		if !r.Matchers.Matches(tt.matches) {
			t.Errorf("route %d does not match %v", tt.child, tt.matches)
		}
		if r.Line != tt.line {
			t.Errorf("route %d line = %d, want %d", tt.child, r.Line, tt.line)
		}
	}
	if len(cfg.InhibitRules) != 1 || cfg.InhibitRules[0].Equal[0] != "namespace" {
		t.Fatalf("inhibit rules = %+v", cfg.InhibitRules)
	}
	if got := cfg.Receiver("slack").SlackConfigs[0].APIURLFile; got != "/etc/kubeward/secrets/slack-webhook-url" {
		t.Fatalf("api_url_file = %q", got)
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := config.Load([]byte("route: {receiver: r}\nreceivers: [{name: r}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Route
	if r.GroupWait != config.DefaultGroupWait || r.GroupInterval != config.DefaultGroupInterval || r.RepeatInterval != config.DefaultRepeatInterval {
		t.Fatalf("defaults = %v %v %v", r.GroupWait, r.GroupInterval, r.RepeatInterval)
	}
	if r.Key != "{}" {
		t.Fatalf("root key = %q", r.Key)
	}
}

// TestLoadErrors checks that each invalid configuration is refused with
// the line at fault.
func TestLoadErrors(t *testing.T) {
	const receivers = "receivers:\n  - name: r\n"
	tests := []struct {
		name string
		yaml string
		want []string // "line N: substring"
	}{
		{"empty", "", []string{"configuration is empty"}},
		{"not a mapping", "- a\n", []string{"must be a mapping"}},
		{"syntax", "route:\n  receiver: r\n bad: [\n", []string{"line 2: did not find expected key"}},
		{"no route", receivers, []string{"route is required"}},
		{"unknown field", "route:\n  receiver: r\n  recever: x\n" + receivers, []string{`line 3: unknown field "recever"`}},
		{"old match", "route:\n  receiver: r\n  routes:\n    - match: {a: b}\n" + receivers, []string{`line 4: unknown field "match": use matchers`}},
		{"undefined receiver", "route:\n  receiver: r\n  routes:\n    - receiver: nope\n" + receivers, []string{`line 4: receiver "nope" is not defined`}},
		{"root without receiver", "route:\n  group_by: [a]\n" + receivers, []string{"line 1: the root route needs a receiver"}},
		{"root matchers", "route:\n  receiver: r\n  matchers: ['a=b']\n" + receivers, []string{"line 3: the root route must not have matchers"}},
		{"bad matcher", "route:\n  receiver: r\n  routes:\n    - matchers:\n        - 'a=b'\n        - 'severity=~\"(\"'\n" + receivers, []string{"line 6: matcher", "invalid regular expression"}},
		{"bad operator", "route:\n  receiver: r\n  routes:\n    - matchers: ['nooperator']\n" + receivers, []string{"line 4: matcher \"nooperator\""}},
		{"bad duration", "route:\n  receiver: r\n  group_wait: soon\n" + receivers, []string{`line 3: group_wait "soon"`}},
		{"zero interval", "route:\n  receiver: r\n  group_interval: 0s\n" + receivers, []string{"line 3: group_interval must be greater than zero"}},
		{"group_by all mixed", "route:\n  receiver: r\n  group_by: [a, '...']\n" + receivers, []string{"line 3: '...' groups by all labels"}},
		{"group_by invalid", "route:\n  receiver: r\n  group_by:\n    - a\n    - 'b-c'\n" + receivers, []string{`line 5: group_by label "b-c"`}},
		{"channel", "route:\n  receiver: r\n  channel: alerts\n" + receivers, []string{`line 3: channel "alerts" must start with #`}},
		{"duplicate receiver", "route: {receiver: r}\nreceivers:\n  - name: r\n  - name: r\n", []string{`line 4: receiver "r" is defined twice`}},
		{"unnamed receiver", "route: {receiver: r}\nreceivers:\n  - name: r\n  - slack_configs: []\n", []string{"line 4: receiver needs a name"}},
		{"slack url", "route: {receiver: r}\nreceivers:\n  - name: r\n    slack_configs:\n      - channel: '#a'\n        api_url: 'ftp://x'\n", []string{`line 6: receiver "r" slack_configs[0]: api_url: URL scheme "ftp"`}},
		{"slack no url", "route: {receiver: r}\nreceivers:\n  - name: r\n    slack_configs:\n      - channel: '#a'\n", []string{"line 5: ", "api_url or api_url_file is required"}},
		{"email addr", "route: {receiver: r}\nreceivers:\n  - name: r\n    email_configs:\n      - to: 'a@example.com'\n        from: 'not an address'\n        smarthost: 'mail:587'\n", []string{"line 6: ", "invalid sender address"}},
		{"email smarthost", "route: {receiver: r}\nreceivers:\n  - name: r\n    email_configs:\n      - to: 'a@example.com'\n        from: 'k@example.com'\n        smarthost: 'mail'\n", []string{"line 7: ", "want host:port"}},
		{"webhook", "route: {receiver: r}\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: 'http://x'\n        max_alerts: -1\n", []string{"line 6: ", "max_alerts: must not be negative"}},
		{"alertmanager", "route: {receiver: r}\nreceivers:\n  - name: r\n    alertmanager_configs:\n      - send_resolved: true\n", []string{"line 5: ", "url is required"}},
		{"falco", "route: {receiver: r}\nreceivers:\n  - name: r\n    falco_configs:\n      - url: 'x'\n", []string{"line 5: ", "falco_configs[0]"}},
		{"type error", "route:\n  receiver: r\n  continue: maybe\n" + receivers, []string{"line 3: "}},
		{"inhibit", "route: {receiver: r}\ninhibit_rules:\n  - target_matchers: ['a=b']\n    equal: ['x-y']\n" + receivers, []string{"line 3: inhibit rule needs source_matchers", `line 4: equal label "x-y"`}},
		{"duplicate key", "route:\n  receiver: r\n  receiver: s\n" + receivers, []string{"line 3: "}},
		{"multiple errors sorted", "route:\n  receiver: nope\n  group_wait: x\n" + receivers, []string{`line 2: receiver "nope"`, `line 3: group_wait "x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := alerttest.MetricValue(t, "kubeward_alert_config_load_failures_total", nil)
			cfg, err := config.Load([]byte(tt.yaml))
			if got := alerttest.MetricValue(t, "kubeward_alert_config_load_failures_total", nil) - before; got != 1 {
				t.Errorf("load failures counted %v times, want 1", got)
			}
			if err == nil {
				t.Fatalf("Load accepted the configuration: %+v", cfg)
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want config.Errors", err)
			}
			got := err.Error()
			pos := 0
			for _, w := range tt.want {
				i := strings.Index(got[pos:], w)
				if i < 0 {
					t.Fatalf("error\n%s\ndoes not contain %q (in order)", got, w)
				}
				pos += i + len(w)
			}
		})
	}
}

func TestReceiverIntegrations(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "url")
	if err := os.WriteFile(secret, []byte("https://hooks.slack.example/services/T/B/X\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]byte(`route: {receiver: all}
receivers:
  - name: all
    slack_configs: [{api_url_file: ` + secret + `}]
    webhook_configs: [{url: 'http://127.0.0.1:1/hook'}, {url: 'http://127.0.0.1:2/hook', send_resolved: false}]
    alertmanager_configs: [{url: 'http://127.0.0.1:9093'}]
    email_configs: [{to: 'a@example.com', from: 'k@example.com', smarthost: '127.0.0.1:25'}]
    falco_configs: [{url: 'http://127.0.0.1:2801'}]
`))
	if err != nil {
		t.Fatal(err)
	}
	ints, err := cfg.Integrations(notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range ints["all"] {
		s := in.Name()
		if in.SendResolved {
			s += "+resolved"
		}
		if in.RepeatEachTick {
			s += "+tick"
		}
		got = append(got, s)
	}
	want := "all/slack/0,all/webhook/0+resolved,all/webhook/1,all/alertmanager/0+resolved+tick,all/email/0,all/falco/0"
	if strings.Join(got, ",") != want {
		t.Fatalf("integrations = %v, want %v", got, want)
	}
	// A missing secret file is reported when building.
	cfg.Receivers[0].SlackConfigs[0].APIURLFile = filepath.Join(dir, "missing")
	if _, err := cfg.Integrations(notify.Options{}); err == nil || !strings.Contains(err.Error(), "api_url_file") {
		t.Fatalf("missing secret file: err = %v", err)
	}
}
