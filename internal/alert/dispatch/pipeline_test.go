package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/notify/slack"
	"github.com/kubeward/kubeward/internal/alert/silence"
)

func TestRestartMidGroup(t *testing.T) {
	e := newEnv(t, hookConfig, "hook")
	a := mk("A", "prod", alert.SeverityHigh, alert.SourceFinding, 0)
	e.ingest(a)
	e.at(10 * time.Second)

	// Crash during group_wait: the stored alert is recovered and sent once.
	e.d = e.newDispatcher()
	if err := e.d.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.at(39 * time.Second)
	assertSummaries(t, e.messages("hook")) // group_wait starts again at recovery
	e.at(40 * time.Second)
	assertSummaries(t, e.messages("hook"), "firing: A=firing")

	// B arrives; crash before the next tick: B is not lost, A not repeated.
	e.clock.Set(t0.Add(time.Minute))
	b := mk("B", "prod", alert.SeverityHigh, alert.SourceFinding, time.Minute)
	e.ingest(b)
	e.d = e.newDispatcher()
	if err := e.d.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.at(time.Minute + 30*time.Second)
	assertSummaries(t, e.messages("hook"), "firing: A=firing", "firing: A=firing B=firing")

	// Crash right after a delivery: nothing is repeated after recovery.
	for i := range 3 {
		e.d = e.newDispatcher()
		if err := e.d.Recover(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.at(time.Duration(2+i) * time.Minute)
	}
	assertSummaries(t, e.messages("hook"), "firing: A=firing", "firing: A=firing B=firing")

	// A resolution stored before a crash is delivered after it.
	e.clock.Set(t0.Add(10 * time.Minute))
	e.ingest(resolved(a, 10*time.Minute))
	e.d = e.newDispatcher()
	if err := e.d.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.at(10*time.Minute + 30*time.Second)
	assertSummaries(t, e.messages("hook"), "firing: A=firing", "firing: A=firing B=firing", "firing: A=resolved B=firing")
}

func TestFlapping(t *testing.T) {
	e := newEnv(t, hookConfig, "hook")
	a := mk("A", "prod", alert.SeverityHigh, alert.SourceDetection, 0)
	e.ingest(a)
	e.at(30 * time.Second)
	// A resolves and fires again every 20 seconds for the next 4 minutes.
	for s := 40; s < 270; s += 20 {
		e.clock.Set(t0.Add(time.Duration(s) * time.Second))
		if (s/20)%2 == 0 {
			e.ingest(resolved(a, time.Duration(s)*time.Second))
		} else {
			refire := a.Clone()
			refire.StartsAt = t0.Add(time.Duration(s) * time.Second)
			e.ingest(refire)
		}
		e.d.Flush(context.Background()) // not due: the group waits for its tick
	}
	// Only the state at the tick counts: A fires again, which the receiver
	// already knows, so the flapping produced no notification at all.
	e.at(5*time.Minute + 30*time.Second)
	assertSummaries(t, e.messages("hook"), "firing: A=firing")
	norm := a.Clone()
	if err := norm.Normalize(); err != nil {
		t.Fatal(err)
	}
	stored, err := e.store.GetAlert(context.Background(), norm.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	if !stored.EndsAt.IsZero() || !stored.StartsAt.Equal(t0.Add(260*time.Second)) {
		t.Fatalf("stored alert %v..%v, want the last episode, firing", stored.StartsAt, stored.EndsAt)
	}
	// Ending resolved at a tick is reported once.
	e.clock.Set(t0.Add(6 * time.Minute))
	e.ingest(resolved(a, 6*time.Minute))
	e.at(10*time.Minute + 30*time.Second)
	e.at(15*time.Minute + 30*time.Second)
	assertSummaries(t, e.messages("hook"), "firing: A=firing", "resolved: A=resolved")
}

const inhibitConfig = `
route:
  receiver: hook
  group_by: ['...']
  group_wait: 0s
  group_interval: 1m
receivers:
  - name: hook
    webhook_configs: [{url: 'URL(hook)'}]
inhibit_rules:
  - source_matchers: ['severity="critical"', 'source="detection"']
    target_matchers: ['severity=~"medium|low"']
    equal: [namespace]
`

func TestInhibition(t *testing.T) {
	e := newEnv(t, inhibitConfig, "hook")
	src := mk("Shell", "prod", alert.SeverityCritical, alert.SourceDetection, 0)
	target := mk("NoLimits", "prod", alert.SeverityMedium, alert.SourceFinding, 0)
	otherNS := mk("NoLimits", "dev", alert.SeverityMedium, alert.SourceFinding, 0)
	e.ingest(src, target, otherNS)
	e.at(0)
	names := func() []string {
		var out []string
		for _, m := range e.messages("hook") {
			out = append(out, m.Alerts[0].Labels["alertname"]+"@"+m.Alerts[0].Labels["namespace"]+"="+m.Alerts[0].Status)
		}
		return out
	}
	if got := strings.Join(names(), ","); !sameSet(got, "Shell@prod=firing,NoLimits@dev=firing") {
		t.Fatalf("notified %s; the prod medium alert must be inhibited", got)
	}
	// The source resolves: the target is no longer muted.
	e.clock.Set(t0.Add(2 * time.Minute))
	e.ingest(resolved(src, 2*time.Minute))
	e.at(2 * time.Minute)
	if got := strings.Join(names(), ","); !sameSet(got, "Shell@prod=firing,NoLimits@dev=firing,Shell@prod=resolved,NoLimits@prod=firing") {
		t.Fatalf("notified %s; the target must be sent once the source resolved", got)
	}
}

func sameSet(a, b string) bool {
	as, bs := strings.Split(a, ","), strings.Split(b, ",")
	if len(as) != len(bs) {
		return false
	}
	seen := map[string]int{}
	for _, x := range as {
		seen[x]++
	}
	for _, x := range bs {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestSilences(t *testing.T) {
	e := newEnv(t, hookConfig, "hook")
	ctx := context.Background()
	sil, err := e.d.Silences().Create(ctx, alert.Silence{
		Matchers:  []alert.Matcher{{Name: "namespace", Type: alert.MatchEqual, Value: "prod"}, {Name: "alertname", Type: alert.MatchRegexp, Value: "A|B"}},
		EndsAt:    t0.Add(20 * time.Minute),
		CreatedBy: "alice",
		Comment:   "node drain",
	})
	if err != nil {
		t.Fatal(err)
	}
	e.ingest(mk("A", "prod", alert.SeverityHigh, alert.SourceFinding, 0), mk("C", "prod", alert.SeverityHigh, alert.SourceFinding, 0))
	e.at(30 * time.Second)
	assertSummaries(t, e.messages("hook"), "firing: C=firing")
	// The silence expires on its own at 20m: A is sent at the next tick.
	e.at(15*time.Minute + 30*time.Second)
	assertSummaries(t, e.messages("hook"), "firing: C=firing")
	e.at(20*time.Minute + 30*time.Second)
	assertSummaries(t, e.messages("hook"), "firing: C=firing", "firing: A=firing C=firing")
	if got, err := e.d.Silences().List(ctx, silence.Filter{States: []silence.State{silence.StateExpired}}); err != nil || len(got) != 1 || got[0].ID != sil.ID {
		t.Fatalf("expired silences = %+v, %v", got, err)
	}

	// A silence expired by hand stops muting at once.
	s2, err := e.d.Silences().Create(ctx, alert.Silence{
		Matchers: []alert.Matcher{{Name: "alertname", Type: alert.MatchEqual, Value: "D"}}, EndsAt: t0.Add(48 * time.Hour), CreatedBy: "bob", Comment: "known",
	})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(t0.Add(21 * time.Minute))
	e.ingest(mk("D", "prod", alert.SeverityHigh, alert.SourceFinding, 21*time.Minute))
	e.at(25*time.Minute + 30*time.Second)
	if got := len(e.messages("hook")); got != 2 {
		t.Fatalf("silenced alert D was sent")
	}
	if _, err := e.d.Silences().Expire(ctx, s2.ID); err != nil {
		t.Fatal(err)
	}
	e.at(30*time.Minute + 30*time.Second)
	ms := e.messages("hook")
	if got := summary(ms[len(ms)-1]); got != "firing: A=firing C=firing D=firing" {
		t.Fatalf("after expiring the silence: %q", got)
	}
}

func TestSilenceValidation(t *testing.T) {
	e := newEnv(t, hookConfig, "hook")
	tests := []struct {
		name string
		s    alert.Silence
		want string
	}{
		{"no matchers", alert.Silence{EndsAt: t0.Add(time.Hour), CreatedBy: "a", Comment: "c"}, "at least one matcher"},
		{"bad regexp", alert.Silence{Matchers: []alert.Matcher{{Name: "a", Type: alert.MatchRegexp, Value: "("}}, EndsAt: t0.Add(time.Hour), CreatedBy: "a", Comment: "c"}, "invalid regular expression"},
		{"no author", alert.Silence{Matchers: []alert.Matcher{{Name: "a", Type: alert.MatchEqual, Value: "b"}}, EndsAt: t0.Add(time.Hour), Comment: "c"}, "createdBy is required"},
		{"no comment", alert.Silence{Matchers: []alert.Matcher{{Name: "a", Type: alert.MatchEqual, Value: "b"}}, EndsAt: t0.Add(time.Hour), CreatedBy: "a"}, "comment is required"},
		{"in the past", alert.Silence{Matchers: []alert.Matcher{{Name: "a", Type: alert.MatchEqual, Value: "b"}}, EndsAt: t0.Add(-time.Hour), CreatedBy: "a", Comment: "c"}, "endsAt must be after startsAt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.d.Silences().Create(context.Background(), tt.s)
			if !errors.Is(err, silence.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Create = %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

func TestSeedRoutingChannels(t *testing.T) {
	cfgYAML, err := os.ReadFile(filepath.Join("..", "testdata", "seed-routing.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(cfgYAML), "api_url_file: /etc/kubeward/secrets/slack-webhook-url", "api_url: 'URL(slack)/services/T/B/X'", 1)
	e := newEnv(t, y, "slack")
	e.ingest(
		mk("TerminalShell", "payments", alert.SeverityCritical, alert.SourceDetection, 0),
		mk("CVE-2024-3094", "qa-checkout", alert.SeverityHigh, alert.SourceFinding, 0),
		alert.Alert{Labels: alert.LabelSet{"alertname": "PrivilegedContainer", "namespace": "payments", "workload": "deployment/api"}, Severity: alert.SeverityHigh, Source: alert.SourceViolation, StartsAt: t0},
		mk("CVE-2023-44487", "payments", alert.SeverityHigh, alert.SourceFinding, 0),
		mk("UnusualEgress", "shop", alert.SeverityMedium, alert.SourceAnomaly, 0),
	)
	e.at(30 * time.Second)
	got := map[string]string{}
	for _, r := range e.servers["slack"].Requests() {
		var m slack.Message
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatal(err)
		}
		got[strings.SplitN(m.Text, "\n", 2)[0]] = m.Channel
	}
	want := map[string]string{
		"[FIRING:1] TerminalShell (namespace=payments)":                                "#falco-alerts",
		"[FIRING:1] CVE-2024-3094 (namespace=qa-checkout)":                             "#qa",
		"[FIRING:1] PrivilegedContainer (namespace=payments, workload=deployment/api)": "#deployments",
		"[FIRING:1] UnusualEgress (namespace=shop)":                                    "#app-alerts",
	}
	for title, ch := range want {
		if got[title] != ch {
			t.Errorf("%s went to %q, want %q (all: %v)", title, got[title], ch, got)
		}
	}
	// The medium anomaly in shop is not inhibited (no critical detection
	// there); the high finding in payments is not a target (high).
	if got["[FIRING:1] CVE-2023-44487 (namespace=payments)"] != "#app-alerts" {
		t.Errorf("CVE-2023-44487 routing: %v", got)
	}
}

func TestAlertmanagerRepostsEachTick(t *testing.T) {
	e := newEnv(t, `
route:
  receiver: am
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: am
    alertmanager_configs: [{url: 'URL(am)'}]
`, "am")
	a := mk("A", "prod", alert.SeverityHigh, alert.SourceFinding, 0)
	e.ingest(a)
	for m := range 4 {
		e.at(time.Duration(m) * time.Minute)
	}
	if got := len(e.servers["am"].Requests()); got != 4 {
		t.Fatalf("%d posts in 4 ticks, want one per tick", got)
	}
	e.clock.Set(t0.Add(3*time.Minute + 10*time.Second))
	e.ingest(resolved(a, 3*time.Minute+10*time.Second))
	e.at(4 * time.Minute)
	e.at(5 * time.Minute)
	reqs := e.servers["am"].Requests()
	if len(reqs) != 5 || !strings.Contains(string(reqs[4].Body), `"endsAt":"2026-11-23T12:03:10Z"`) {
		t.Fatalf("%d posts; last %s; want the resolution posted once with its endsAt", len(reqs), reqs[len(reqs)-1].Body)
	}
}

func TestIngestRejectsInvalid(t *testing.T) {
	e := newEnv(t, hookConfig, "hook")
	good := mk("A", "prod", alert.SeverityHigh, alert.SourceFinding, 0)
	noName := good.Clone()
	delete(noName.Labels, "alertname")
	badSev := good.Clone()
	badSev.Severity = "urgent"
	invalidBefore := alerttest.MetricValue(t, "kubeward_alert_received_total", map[string]string{"result": "invalid"})
	res, err := e.d.Ingest(context.Background(), noName, good, badSev)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || len(res.Rejected) != 2 || res.Rejected[0].Index != 0 || res.Rejected[1].Index != 2 {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(res.Rejected[1].Err.Error(), `severity "urgent" is invalid`) {
		t.Fatalf("rejection reason %v", res.Rejected[1].Err)
	}
	if got := alerttest.MetricValue(t, "kubeward_alert_received_total", map[string]string{"result": "invalid"}) - invalidBefore; got != 2 {
		t.Fatalf("invalid alerts counted %v times, want 2", got)
	}
}

func TestMaxAlerts(t *testing.T) {
	e := newEnv(t, hookConfig, "hook")
	ints, err := e.cfg.Integrations(notifyOpts(e))
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Options{Config: e.cfg, Storage: e.store, Integrations: ints, Clock: e.clock, MaxAlerts: 2})
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Ingest(context.Background(),
		mk("A", "prod", alert.SeverityHigh, alert.SourceFinding, 0),
		mk("B", "prod", alert.SeverityHigh, alert.SourceFinding, 0),
		mk("C", "prod", alert.SeverityHigh, alert.SourceFinding, 0),
		mk("A", "prod", alert.SeverityHigh, alert.SourceFinding, 0), // an update is always accepted
	)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 3 || len(res.Rejected) != 1 || !errors.Is(res.Rejected[0].Err, dispatch.ErrTooManyAlerts) {
		t.Fatalf("result %+v", res)
	}
}
