package service_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/memstore"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/notify/webhook"
	"github.com/kubeward/kubeward/internal/alert/service"
	"github.com/kubeward/kubeward/internal/alert/silence"
)

func setup(t *testing.T, responses ...alerttest.Response) (*service.Service, *dispatch.Dispatcher, *alerttest.Clock, *alerttest.Recorder) {
	t.Helper()
	clock := alerttest.NewClock(alerttest.Base)
	srv := alerttest.NewRecorder(t, clock, responses...)
	cfg, err := config.Load([]byte(`
route: {receiver: hook, group_by: [namespace]}
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="low"']
    equal: [namespace]
receivers:
  - name: hook
    webhook_configs: [{url: '` + srv.URL + `'}]
  - name: empty
`))
	if err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	ints, err := cfg.Integrations(notify.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Options{Config: cfg, Storage: store, Integrations: ints, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return service.New(d, store, cfg, ints, clock), d, clock, srv
}

func TestListAlertsFilters(t *testing.T) {
	s, d, clock, _ := setup(t)
	ctx := context.Background()
	in := []alert.Alert{
		{Labels: alert.LabelSet{"alertname": "Crit", "namespace": "prod"}, Severity: alert.SeverityCritical, Source: alert.SourceDetection, StartsAt: alerttest.Base},
		{Labels: alert.LabelSet{"alertname": "Low", "namespace": "prod"}, Severity: alert.SeverityLow, Source: alert.SourceFinding, StartsAt: alerttest.Base.Add(time.Minute)},
		{Labels: alert.LabelSet{"alertname": "Old", "namespace": "dev"}, Severity: alert.SeverityHigh, Source: alert.SourceFinding, StartsAt: alerttest.Base.Add(-time.Hour), EndsAt: alerttest.Base.Add(-time.Minute)},
		{Labels: alert.LabelSet{"alertname": "Quiet", "namespace": "dev"}, Severity: alert.SeverityMedium, Source: alert.SourceAnomaly, StartsAt: alerttest.Base.Add(2 * time.Minute)},
	}
	if _, err := d.Ingest(ctx, in...); err != nil {
		t.Fatal(err)
	}
	sil, err := s.CreateSilence(ctx, alert.Silence{Matchers: []alert.Matcher{{Name: "alertname", Type: alert.MatchEqual, Value: "Quiet"}}, EndsAt: clock.Now().Add(time.Hour), CreatedBy: "a", Comment: "c"})
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	tests := []struct {
		name string
		f    service.Filter
		want string
	}{
		{"all newest first", service.Filter{}, "Quiet,Low,Crit,Old"},
		{"firing", service.Filter{States: []string{"firing"}}, "Quiet,Low,Crit"},
		{"resolved", service.Filter{States: []string{"resolved"}}, "Old"},
		{"matchers", service.Filter{Matchers: []alert.Matcher{{Name: "namespace", Type: alert.MatchEqual, Value: "prod"}}}, "Low,Crit"},
		{"source", service.Filter{Sources: []alert.Source{alert.SourceFinding}}, "Low,Old"},
		{"severity", service.Filter{Severities: []alert.Severity{alert.SeverityCritical, alert.SeverityMedium}}, "Quiet,Crit"},
		{"muted", service.Filter{Muted: &yes}, "Quiet,Low"},
		{"not muted", service.Filter{Muted: &no}, "Crit,Old"},
		{"page", service.Filter{Limit: 2, Offset: 1}, "Low,Crit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.ListAlerts(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, v := range p.Items {
				names = append(names, v.Name())
			}
			if got := strings.Join(names, ","); got != tt.want {
				t.Fatalf("ListAlerts = %s, want %s", got, tt.want)
			}
		})
	}
	p, err := s.ListAlerts(ctx, service.Filter{Matchers: []alert.Matcher{{Name: "alertname", Type: alert.MatchEqual, Value: "Quiet"}}})
	if err != nil {
		t.Fatal(err)
	}
	if v := p.Items[0]; len(v.SilencedBy) != 1 || v.SilencedBy[0] != sil.ID {
		t.Fatalf("Quiet silenced by %v, want %s", v.SilencedBy, sil.ID)
	}
	if _, err := s.ListAlerts(ctx, service.Filter{States: []string{"open"}}); err == nil {
		t.Fatal("invalid state accepted")
	}
	if _, err := s.ListAlerts(ctx, service.Filter{Limit: 5000}); err == nil {
		t.Fatal("limit 5000 accepted")
	}
}

func TestAcknowledge(t *testing.T) {
	s, d, _, _ := setup(t)
	ctx := context.Background()
	a := alert.Alert{Labels: alert.LabelSet{"alertname": "X"}, Severity: alert.SeverityHigh, Source: alert.SourceFinding, StartsAt: alerttest.Base}
	if _, err := d.Ingest(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := a.Normalize(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Acknowledge(ctx, a.Fingerprint().String(), "alice", "on it")
	if err != nil {
		t.Fatal(err)
	}
	if got.Ack == nil || got.Ack.By != "alice" {
		t.Fatalf("ack = %+v", got.Ack)
	}
	// A later update of the same episode keeps the acknowledgement.
	if _, err := d.Ingest(ctx, a); err != nil {
		t.Fatal(err)
	}
	yes := true
	p, err := s.ListAlerts(ctx, service.Filter{Acknowledged: &yes})
	if err != nil || p.Total != 1 {
		t.Fatalf("acknowledged alerts = %+v, %v", p, err)
	}
	if _, err := s.Acknowledge(ctx, "0000000000000001", "alice", ""); err == nil {
		t.Fatal("acknowledging a missing alert succeeded")
	}
	if _, err := s.Acknowledge(ctx, "xyz", "alice", ""); err == nil {
		t.Fatal("invalid fingerprint accepted")
	}
}

func TestSilenceLifecycle(t *testing.T) {
	s, _, clock, _ := setup(t)
	ctx := context.Background()
	created, err := s.CreateSilence(ctx, alert.Silence{Matchers: []alert.Matcher{{Name: "a", Type: alert.MatchEqual, Value: "b"}}, EndsAt: clock.Now().Add(time.Hour), CreatedBy: "a", Comment: "c"})
	if err != nil {
		t.Fatal(err)
	}
	active, err := s.ListSilences(ctx, silence.Filter{States: []silence.State{silence.StateActive}})
	if err != nil || len(active) != 1 {
		t.Fatalf("active = %v, %v", active, err)
	}
	clock.Advance(time.Minute)
	exp, err := s.ExpireSilence(ctx, created.ID)
	if err != nil || !exp.EndsAt.Equal(clock.Now()) {
		t.Fatalf("expire = %+v, %v", exp, err)
	}
	active, err = s.ListSilences(ctx, silence.Filter{States: []silence.State{silence.StateActive}})
	if err != nil || len(active) != 0 {
		t.Fatalf("active after expiry = %v, %v", active, err)
	}
}

func TestSendTest(t *testing.T) {
	s, _, _, srv := setup(t, alerttest.Response{Status: 200}, alerttest.Response{Status: 500, Body: "boom"})
	ctx := context.Background()
	res, err := s.SendTest(ctx, "hook")
	if err != nil || len(res) != 1 || res[0].Integration != "hook/webhook/0" {
		t.Fatalf("SendTest = %+v, %v", res, err)
	}
	var m webhook.Message
	if err := json.Unmarshal(srv.Requests()[0].Body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Alerts[0].Labels["alertname"] != "KubewardTestNotification" || m.Status != "firing" {
		t.Fatalf("test message %+v", m)
	}
	res, err = s.SendTest(ctx, "hook")
	if err == nil || res[0].Error == "" {
		t.Fatalf("SendTest against a failing endpoint = %+v, %v", res, err)
	}
	if _, err := s.SendTest(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "configured receivers are [hook empty]") {
		t.Fatalf("unknown receiver: %v", err)
	}
	if _, err := s.SendTest(ctx, "empty"); err == nil {
		t.Fatal("receiver without integrations: no error")
	}
}
