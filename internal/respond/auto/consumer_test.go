package auto_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/source"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/condition"
	"github.com/kubeward/kubeward/internal/detect/rules"
	"github.com/kubeward/kubeward/internal/policy/admission"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/auto"
	"github.com/kubeward/kubeward/internal/respond/ipban"
	"github.com/kubeward/kubeward/internal/respond/respondtest"
)

// podKind is the kind of recordingExecutor: an action on a pod.
const podKind respond.Kind = "test-isolate-pod"

// recordingExecutor accepts every action and records the applied ones.
type recordingExecutor struct {
	mu      sync.Mutex
	applied []respond.Action
}

func (e *recordingExecutor) Validate(respond.Request) error { return nil }

func (e *recordingExecutor) Apply(_ context.Context, a respond.Action) (json.RawMessage, error) {
	if !a.DryRun {
		e.mu.Lock()
		e.applied = append(e.applied, a)
		e.mu.Unlock()
	}
	return json.RawMessage(`{}`), nil
}

func (e *recordingExecutor) Revert(context.Context, respond.Action) error { return nil }

const rulesYAML = `
rules:
  - name: ban-scanner
    match: {source: anomaly, minSeverity: high, labels: ['alertname="PortScan"']}
    action:
      kind: ip-ban
      target: {kind: Ip, name: "${source_ip}"}
      params: {scenario: "port scan from ${source_ip}"}
    ttl: 1h
  - name: isolate-shell
    match: {source: detection, minSeverity: critical, labels: ['alertname="Terminal shell in container"']}
    action:
      kind: test-isolate-pod
      target: {kind: Pod, namespace: "${namespace}", name: "${pod}"}
    ttl: 30m
`

// pipeline is an in-process bus feeding an auto responder.
type pipeline struct {
	bus       *inproc.Bus
	store     *respond.MemoryStore
	decisions *crowdsec.MemoryStore
	pods      *recordingExecutor
	clock     *respondtest.Clock
	mgr       *respond.Manager
}

func startPipeline(t *testing.T, enforce bool) *pipeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeline{bus: inproc.New(inproc.Options{}), store: respond.NewMemoryStore(), pods: &recordingExecutor{}, clock: respondtest.NewClock(t0)}
	p.decisions = crowdsec.NewMemoryStore(p.clock.Now)
	p.mgr = respond.NewManager(p.store, map[respond.Kind]respond.Executor{ipban.Kind: ipban.New(p.decisions), podKind: p.pods}, respond.Options{Now: p.clock.Now})
	ruleSet, err := auto.ParseRules([]byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ruleSet {
		ruleSet[i].Enforce = enforce
	}
	r, err := auto.New(p.mgr, ruleSet, p.clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := auto.ConsumeOptions()
	if err := p.bus.DeclareGroup(opts.Group, opts.Topics...); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.bus.Consume(ctx, opts, auto.NewHandler(r, source.Converter{}, nil)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
		p.bus.Close()
	})
	return p
}

// publish publishes msgs and waits until the responder handled them.
func (p *pipeline) publish(t *testing.T, msgs ...bus.Message) {
	t.Helper()
	ctx := context.Background()
	if err := p.bus.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := p.bus.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

func shellDetection(t *testing.T) bus.Message {
	t.Helper()
	d := detect.Detection{
		Rule: "Terminal shell in container", Priority: rules.Critical, Source: "syscall",
		Output: "A shell was spawned in a container (pod=web-1 ns=prod)",
		Fields: []condition.FieldValue{{Name: "k8s.ns.name", Value: "prod"}, {Name: "k8s.pod.name", Value: "web-1"}, {Name: "proc.name", Value: "bash"}},
		Time:   t0, Hostname: "node-1",
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return bus.Message{Topic: detect.Topic, Key: "node-1", Value: b}
}

func portScanAlert(t *testing.T, severity alert.Severity, ip string) bus.Message {
	t.Helper()
	a := alert.Alert{Labels: alert.LabelSet{alert.LabelAlertName: "PortScan", "source_ip": ip}, Severity: severity, Source: alert.SourceAnomaly, StartsAt: t0}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return bus.Message{Topic: source.TopicAlerts, Key: ip, Value: b}
}

func (p *pipeline) actions(t *testing.T, kind respond.Kind) []respond.Action {
	t.Helper()
	list, err := p.store.List(context.Background(), respond.Filter{Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func (p *pipeline) bans(t *testing.T) []crowdsec.Decision {
	t.Helper()
	ctx := context.Background()
	last, _ := p.decisions.LastID(ctx)
	bans, err := p.decisions.Active(ctx, p.clock.Now(), &crowdsec.Filter{}, 0, last)
	if err != nil {
		t.Fatal(err)
	}
	return bans
}

func TestConsumerDetection(t *testing.T) {
	tests := []struct {
		name        string
		enforce     bool
		wantState   respond.State
		wantApplied int
	}{
		{"dry run by default", false, respond.StateDryRun, 0},
		{"enforced", true, respond.StateApplied, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPipeline(t, tt.enforce)
			p.publish(t, shellDetection(t), shellDetection(t)) // a repeat within the TTL
			list := p.actions(t, podKind)
			if len(list) != 1 {
				t.Fatalf("recorded %d actions, want 1: %+v", len(list), list)
			}
			a := list[0]
			if a.State != tt.wantState || a.Target != (respond.Target{Kind: "Pod", Namespace: "prod", Name: "web-1"}) || a.Actor != "kubeward/auto/isolate-shell" || a.TTL != 30*time.Minute {
				t.Errorf("action = %+v", a)
			}
			if len(p.pods.applied) != tt.wantApplied {
				t.Errorf("executor applied %d actions, want %d", len(p.pods.applied), tt.wantApplied)
			}
		})
	}
}

func TestConsumerIPBan(t *testing.T) {
	tests := []struct {
		name      string
		enforce   bool
		msgs      func(t *testing.T) []bus.Message
		wantState []respond.State
		wantBans  []string
	}{
		{"dry run by default", false, func(t *testing.T) []bus.Message {
			return []bus.Message{portScanAlert(t, alert.SeverityHigh, "203.0.113.5")}
		}, []respond.State{respond.StateDryRun}, nil},
		{"enforced", true, func(t *testing.T) []bus.Message {
			return []bus.Message{portScanAlert(t, alert.SeverityCritical, "203.0.113.5")}
		}, []respond.State{respond.StateApplied}, []string{"203.0.113.5"}},
		{"not repeated within the TTL", true, func(t *testing.T) []bus.Message {
			return []bus.Message{portScanAlert(t, alert.SeverityHigh, "203.0.113.5"), portScanAlert(t, alert.SeverityHigh, "203.0.113.5")}
		}, []respond.State{respond.StateApplied}, []string{"203.0.113.5"}},
		{"below min severity", true, func(t *testing.T) []bus.Message {
			return []bus.Message{portScanAlert(t, alert.SeverityMedium, "203.0.113.5")}
		}, nil, nil},
		{"invalid address is not retried", true, func(t *testing.T) []bus.Message {
			return []bus.Message{portScanAlert(t, alert.SeverityHigh, "not-an-ip"), portScanAlert(t, alert.SeverityHigh, "198.51.100.7")}
		}, []respond.State{respond.StateApplied}, []string{"198.51.100.7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPipeline(t, tt.enforce)
			p.publish(t, tt.msgs(t)...)
			list := p.actions(t, ipban.Kind)
			if len(list) != len(tt.wantState) {
				t.Fatalf("recorded %d ip-ban actions, want %d: %+v", len(list), len(tt.wantState), list)
			}
			for i, a := range list {
				if a.State != tt.wantState[i] || a.Actor != "kubeward/auto/ban-scanner" {
					t.Errorf("action %d: state %s actor %s", i, a.State, a.Actor)
				}
			}
			bans := p.bans(t)
			if len(bans) != len(tt.wantBans) {
				t.Fatalf("bans = %+v, want %v", bans, tt.wantBans)
			}
			for i, b := range bans {
				if b.Value != tt.wantBans[i] || b.Scenario != "port scan from "+tt.wantBans[i] || !b.Until.Equal(t0.Add(time.Hour)) {
					t.Errorf("ban %d = %+v", i, b)
				}
			}
		})
	}
}

func TestConsumerBanRepeatsAfterTTL(t *testing.T) {
	p := startPipeline(t, true)
	p.publish(t, portScanAlert(t, alert.SeverityHigh, "203.0.113.5"))
	p.clock.Advance(time.Hour + time.Minute)
	if n, err := p.mgr.ReconcileOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("ReconcileOnce = %d, %v; want the expired ban reverted", n, err)
	}
	// The alert still fires (a ready-made alert without EndsAt).
	p.publish(t, portScanAlert(t, alert.SeverityHigh, "203.0.113.5"))
	if bans := p.bans(t); len(bans) != 1 || !bans[0].Until.Equal(p.clock.Now().Add(time.Hour)) {
		t.Fatalf("active bans after the TTL = %+v, want one new ban", bans)
	}
}

func TestHandlerRejectsMalformed(t *testing.T) {
	clock := respondtest.NewClock(t0)
	store := respond.NewMemoryStore()
	mgr := respond.NewManager(store, map[respond.Kind]respond.Executor{ipban.Kind: ipban.New(crowdsec.NewMemoryStore(clock.Now))}, respond.Options{Now: clock.Now})
	ruleSet, err := auto.ParseRules([]byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	r, err := auto.New(mgr, ruleSet, clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := auto.NewHandler(r, source.Converter{}, nil)
	batch := []bus.Message{
		{Topic: detect.Topic, Value: []byte(`{"rule":`)},
		portScanAlert(t, alert.SeverityHigh, "203.0.113.5"),
		{Topic: admission.TopicViolations, Value: []byte(`[]`)},
		{Topic: source.TopicAlerts, Value: []byte(`{"labels":{}}`)},
		{Topic: "elsewhere", Value: []byte(`{}`)},
	}
	err = h(context.Background(), batch)
	var rej *bus.RejectError
	if !errors.As(err, &rej) {
		t.Fatalf("handler returned %v, want a *bus.RejectError", err)
	}
	var got []int
	for _, x := range rej.Rejected {
		got = append(got, x.Index)
	}
	if want := []int{0, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("rejected %v, want %v", got, want)
	}
	if list, _ := store.List(context.Background(), respond.Filter{}); len(list) != 1 {
		t.Errorf("the valid message between malformed ones recorded %d actions, want 1", len(list))
	}
}
