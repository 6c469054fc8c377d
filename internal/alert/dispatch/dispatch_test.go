package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
)

const hookConfig = `
route:
  receiver: hook
  group_by: [namespace]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{url: 'URL(hook)'}]
`

func TestGroupingTimers(t *testing.T) {
	e := newEnv(t, hookConfig, "hook")
	a := mk("A", "prod", alert.SeverityHigh, alert.SourceFinding, 0)
	b := mk("B", "prod", alert.SeverityHigh, alert.SourceFinding, 0)
	other := mk("A", "dev", alert.SeverityHigh, alert.SourceFinding, 0)
	e.ingest(a)
	e.at(10 * time.Second)
	e.ingest(b, other) // same group as a, and a new group (dev) at +10s
	e.at(29 * time.Second)
	assertSummaries(t, e.messages("hook")) // nothing before group_wait
	e.at(30 * time.Second)
	assertSummaries(t, e.messages("hook"), "firing: A=firing B=firing")
	e.at(40 * time.Second) // dev group waits 30s from +10s
	assertSummaries(t, e.messages("hook"), "firing: A=firing B=firing", "firing: A=firing")

	// Nothing changes: no notification on the group_interval ticks until
	// the repeat interval elapsed.
	for m := 5; m < 60; m += 5 {
		e.at(30*time.Second + time.Duration(m)*time.Minute)
	}
	if got := len(e.messages("hook")); got != 2 {
		t.Fatalf("%d notifications before repeat_interval, want 2", got)
	}
	e.at(30*time.Second + 60*time.Minute)
	assertSummaries(t, e.messages("hook"), "firing: A=firing B=firing", "firing: A=firing", "firing: A=firing B=firing")

	e.at(40*time.Second + 60*time.Minute) // the dev group repeats too
	prod := func() []string {
		var out []string
		for _, m := range e.messages("hook") {
			if m.GroupLabels["namespace"] == "prod" {
				out = append(out, summary(m))
			}
		}
		return out
	}
	if got := len(prod()); got != 2 {
		t.Fatalf("prod notifications %v, want 2", prod())
	}

	// A new alert in the group is sent at the next group_interval tick.
	c := mk("C", "prod", alert.SeverityHigh, alert.SourceFinding, 61*time.Minute)
	e.clock.Set(t0.Add(61 * time.Minute))
	e.ingest(c)
	e.at(64 * time.Minute)
	if got := len(prod()); got != 2 {
		t.Fatalf("new alert sent before the group_interval tick: %v", prod())
	}
	e.at(65*time.Minute + 30*time.Second)
	if got := prod(); got[len(got)-1] != "firing: A=firing B=firing C=firing" {
		t.Fatalf("prod notifications %v, want the new alert at the tick", got)
	}
}

func TestResolveNotifications(t *testing.T) {
	e := newEnv(t, `
route:
  receiver: both
  group_by: [namespace]
  group_wait: 30s
  group_interval: 5m
receivers:
  - name: both
    webhook_configs:
      - url: 'URL(resolved)'
      - url: 'URL(firingonly)'
        send_resolved: false
`, "resolved", "firingonly")
	a := mk("A", "prod", alert.SeverityHigh, alert.SourceFinding, 0)
	b := mk("B", "prod", alert.SeverityHigh, alert.SourceFinding, 0)
	e.ingest(a, b)
	e.at(30 * time.Second)
	e.clock.Set(t0.Add(time.Minute))
	e.ingest(resolved(a, time.Minute))
	e.at(5*time.Minute + 30*time.Second)
	e.clock.Set(t0.Add(6 * time.Minute))
	e.ingest(resolved(b, 6*time.Minute))
	e.at(10*time.Minute + 30*time.Second)
	e.at(15*time.Minute + 30*time.Second) // the group is gone: nothing more
	assertSummaries(t, e.messages("resolved"),
		"firing: A=firing B=firing",
		"firing: A=resolved B=firing",
		// A was dropped from the group once its resolution was delivered.
		"resolved: B=resolved")
	// Without send_resolved the resolution of A alone is not news, and the
	// final all-resolved state is recorded without a message.
	assertSummaries(t, e.messages("firingonly"), "firing: A=firing B=firing")
	entry, err := e.store.LastNotification(context.Background(), "both/webhook/1", `{}:{namespace="prod"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(entry.FiringAlerts) != 0 || len(entry.ResolvedAlerts) != 1 {
		t.Fatalf("log entry of firing-only integration = %+v, want all resolved", entry)
	}
}

func TestReceiverDownThenRecovers(t *testing.T) {
	e := newEnv(t, hookConfig, "hook")
	srv := e.servers["hook"]
	// Down for more than a whole group interval: every retry until the
	// next tick fails.
	down := alerttest.Response{Status: 503, Body: "down"}
	for range 30 {
		srv.Script(down)
	}
	labels := map[string]string{"receiver": "hook/webhook/0"}
	failedBefore := alerttest.MetricValue(t, "kubeward_alert_notifications_failed_total", labels)
	a := mk("A", "prod", alert.SeverityHigh, alert.SourceFinding, 0)
	e.ingest(a)
	e.at(30 * time.Second)
	failed := len(srv.Requests())
	if got := alerttest.MetricValue(t, "kubeward_alert_notifications_failed_total", labels) - failedBefore; got != float64(failed) {
		t.Fatalf("failed attempts counted %v, want %d", got, failed)
	}
	if failed < 2 {
		t.Fatalf("%d attempts during the first tick, want retries", failed)
	}
	if _, err := e.store.LastNotification(context.Background(), "hook/webhook/0", `{}:{namespace="prod"}`); err == nil {
		t.Fatal("a failed notification was recorded in the log")
	}
	for _, r := range srv.Requests() {
		if r.At.After(t0.Add(30*time.Second + 5*time.Minute)) {
			t.Fatalf("retry at %v, after the group's next tick", r.At)
		}
	}
	// While it is down, B arrives and A resolves.
	b := mk("B", "prod", alert.SeverityHigh, alert.SourceFinding, 0)
	e.ingest(b, resolved(a, 2*time.Minute))
	// Tick well past the scripted outage; the alerts are kept meanwhile.
	for tick := 1; tick <= 10; tick++ {
		e.at(30*time.Second + time.Duration(tick)*5*time.Minute)
	}
	ms := e.messages("hook")
	if len(ms) <= 30 {
		t.Fatalf("%d requests, want the 30 failures and a delivery", len(ms))
	}
	// The first delivery after the outage carries both changes, and
	// nothing is sent again afterwards.
	assertSummaries(t, ms[30:], "firing: A=resolved B=firing")
	if _, err := e.store.LastNotification(context.Background(), "hook/webhook/0", `{}:{namespace="prod"}`); err != nil {
		t.Fatalf("delivered notification not logged: %v", err)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t, `
route:
  receiver: slack
  group_wait: 0s
receivers:
  - name: slack
    slack_configs: [{api_url: 'URL(slack)/services/T/B/X', channel: '#qa'}]
`, "slack")
	srv := e.servers["slack"]
	srv.Script(alerttest.Response{Status: 429, Header: map[string]string{"Retry-After": "42"}, Body: "rate_limited"})
	e.ingest(mk("A", "qa", alert.SeverityHigh, alert.SourceFinding, 0))
	e.at(0)
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (429 then success)", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 42*time.Second {
		t.Fatalf("retried %v after a 429 with Retry-After: 42", gap)
	}
	if string(reqs[0].Body) != string(reqs[1].Body) {
		t.Fatal("the retry sent a different payload")
	}
}
