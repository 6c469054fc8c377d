package inhibit_test

import (
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/inhibit"
)

func rules(t *testing.T, y string) []config.InhibitRule {
	t.Helper()
	cfg, err := config.Load([]byte("route: {receiver: r}\nreceivers: [{name: r}]\ninhibit_rules:\n" + y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.InhibitRules
}

func TestMutes(t *testing.T) {
	clock := alerttest.NewClock(alerttest.Base)
	in := inhibit.New(rules(t, `
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity=~"critical|high"']
    equal: [namespace]
`), clock)
	crit := &alert.Alert{Labels: alert.LabelSet{"alertname": "Shell", "severity": "critical", "namespace": "prod"}}
	critOther := &alert.Alert{Labels: alert.LabelSet{"alertname": "Escape", "severity": "critical", "namespace": "prod"}}
	in.Observe(crit)
	tests := []struct {
		name string
		ls   alert.LabelSet
		want bool
	}{
		{"target in same namespace", alert.LabelSet{"alertname": "X", "severity": "high", "namespace": "prod"}, true},
		{"target in other namespace", alert.LabelSet{"alertname": "X", "severity": "high", "namespace": "dev"}, false},
		{"not a target", alert.LabelSet{"alertname": "X", "severity": "low", "namespace": "prod"}, false},
		{"source does not mute itself", crit.Labels, false},
		{"an alert matching both sides is not muted by another such alert", critOther.Labels, false},
	}
	for _, tt := range tests {
		if got := in.Mutes(tt.ls); got != tt.want {
			t.Errorf("%s: Mutes = %v, want %v", tt.name, got, tt.want)
		}
	}
	// A source that resolves (now, or by its EndsAt passing) stops muting.
	timed := &alert.Alert{Labels: alert.LabelSet{"alertname": "Shell", "severity": "critical", "namespace": "stage"}, EndsAt: alerttest.Base.Add(time.Minute)}
	in.Observe(timed)
	target := alert.LabelSet{"alertname": "X", "severity": "high", "namespace": "stage"}
	if !in.Mutes(target) {
		t.Fatal("source with a future EndsAt does not mute")
	}
	clock.Advance(time.Minute)
	if in.Mutes(target) {
		t.Fatal("source past its EndsAt still mutes")
	}
	if n := in.Prune(); n != 1 {
		t.Fatalf("Prune dropped %d sources, want the expired one", n)
	}
	resolved := *crit
	resolved.EndsAt = alerttest.Base
	in.Observe(&resolved)
	if in.Mutes(alert.LabelSet{"alertname": "X", "severity": "high", "namespace": "prod"}) {
		t.Fatal("resolved source still mutes")
	}
}

func TestEqualMissingLabels(t *testing.T) {
	in := inhibit.New(rules(t, `
  - source_matchers: ['alertname="NodeDown"']
    target_matchers: ['alertname="PodDown"']
    equal: [node]
`), alerttest.NewClock(alerttest.Base))
	in.Observe(&alert.Alert{Labels: alert.LabelSet{"alertname": "NodeDown"}})
	// Both lack the equal label: equal as in Alertmanager.
	if !in.Mutes(alert.LabelSet{"alertname": "PodDown"}) {
		t.Fatal("missing equal label on both sides should count as equal")
	}
	if in.Mutes(alert.LabelSet{"alertname": "PodDown", "node": "n1"}) {
		t.Fatal("different node value muted")
	}
}
