package auto_test

import (
	"context"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/auto"
	"github.com/kubeward/kubeward/internal/respond/ipban"
	"github.com/kubeward/kubeward/internal/respond/respondtest"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func banRule(enforce bool) auto.Rule {
	return auto.Rule{Name: "ban-brute-force", Match: map[string]string{"alertname": "BruteForce"}, Kind: ipban.Kind,
		Target: respond.Target{Kind: ipban.TargetIP, Name: "${source_ip}"}, Params: map[string]string{ipban.ParamScenario: "brute force on ${service}"},
		TTL: time.Hour, Enforce: enforce}
}

func firing(labels alert.LabelSet) alert.Alert {
	return alert.Alert{Labels: labels, StartsAt: t0}
}

func TestHandle(t *testing.T) {
	brute := alert.LabelSet{"alertname": "BruteForce", "source_ip": "203.0.113.5", "service": "login"}
	tests := []struct {
		name      string
		enforce   bool
		alerts    []alert.Alert
		wantState []respond.State // of the actions recorded, in order
		wantBans  int
	}{
		{"dry run by default", false, []alert.Alert{firing(brute)}, []respond.State{respond.StateDryRun}, 0},
		{"dry run not repeated", false, []alert.Alert{firing(brute), firing(brute)}, []respond.State{respond.StateDryRun}, 0},
		{"enforced", true, []alert.Alert{firing(brute)}, []respond.State{respond.StateApplied}, 1},
		{"enforced once while live", true, []alert.Alert{firing(brute), firing(brute)}, []respond.State{respond.StateApplied}, 1},
		{"other alert", true, []alert.Alert{firing(alert.LabelSet{"alertname": "Other", "source_ip": "203.0.113.5"})}, nil, 0},
		{"missing label", true, []alert.Alert{firing(alert.LabelSet{"alertname": "BruteForce", "service": "login"})}, nil, 0},
		{"resolved", true, []alert.Alert{{Labels: brute, StartsAt: t0, EndsAt: t0}}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clock := respondtest.NewClock(t0)
			decisions := crowdsec.NewMemoryStore(clock.Now)
			store := respond.NewMemoryStore()
			mgr := respond.NewManager(store, map[respond.Kind]respond.Executor{ipban.Kind: ipban.New(decisions)}, respond.Options{Now: clock.Now})
			r, err := auto.New(mgr, []auto.Rule{banRule(tt.enforce)}, clock.Now, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.alerts {
				if _, err := r.Handle(ctx, a); err != nil {
					t.Fatalf("Handle: %v", err)
				}
			}
			list, _ := store.List(ctx, respond.Filter{})
			if len(list) != len(tt.wantState) {
				t.Fatalf("recorded %d actions, want %d: %+v", len(list), len(tt.wantState), list)
			}
			for i, a := range list {
				if a.State != tt.wantState[i] || a.Actor != "kubeward/auto/ban-brute-force" {
					t.Errorf("action %d: state %s actor %s", i, a.State, a.Actor)
				}
			}
			last, _ := decisions.LastID(ctx)
			bans, _ := decisions.Active(ctx, t0, &crowdsec.Filter{}, 0, last)
			if len(bans) != tt.wantBans {
				t.Fatalf("bans = %+v, want %d", bans, tt.wantBans)
			}
			if len(bans) == 1 && (bans[0].Value != "203.0.113.5" || bans[0].Scenario != "brute force on login") {
				t.Errorf("ban = %+v", bans[0])
			}
		})
	}
}

func TestDryRunRepeatsAfterTTL(t *testing.T) {
	ctx := context.Background()
	clock := respondtest.NewClock(t0)
	store := respond.NewMemoryStore()
	mgr := respond.NewManager(store, map[respond.Kind]respond.Executor{ipban.Kind: ipban.New(crowdsec.NewMemoryStore(clock.Now))}, respond.Options{Now: clock.Now})
	r, _ := auto.New(mgr, []auto.Rule{banRule(false)}, clock.Now, nil)
	a := firing(alert.LabelSet{"alertname": "BruteForce", "source_ip": "203.0.113.5", "service": "login"})
	r.Handle(ctx, a)
	clock.Advance(time.Hour)
	r.Handle(ctx, a)
	if list, _ := store.List(ctx, respond.Filter{}); len(list) != 2 {
		t.Fatalf("dry runs after the TTL = %d, want 2", len(list))
	}
}

func TestNewRejectsIncompleteRules(t *testing.T) {
	for _, r := range []auto.Rule{{}, {Name: "x", Kind: ipban.Kind, TTL: time.Hour}, {Name: "x", Match: map[string]string{"a": "b"}, Kind: ipban.Kind}} {
		if _, err := auto.New(nil, []auto.Rule{r}, nil, nil); err == nil {
			t.Errorf("New(%+v) succeeded", r)
		}
	}
}
