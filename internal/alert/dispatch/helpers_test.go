package dispatch_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
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
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// env is a pipeline under test: a config whose receivers post to
// recorders, an in-memory store and a fake clock.
type env struct {
	t       *testing.T
	clock   *alerttest.Clock
	store   *memstore.Store
	cfg     *config.Config
	servers map[string]*alerttest.Recorder
	d       *dispatch.Dispatcher
}

// newEnv loads cfgYAML after replacing every "URL(name)" with the URL of
// a recorder named name.
func newEnv(t *testing.T, cfgYAML string, names ...string) *env {
	t.Helper()
	e := &env{t: t, clock: alerttest.NewClock(t0), store: memstore.New(), servers: map[string]*alerttest.Recorder{}}
	for _, n := range names {
		e.servers[n] = alerttest.NewRecorder(t, e.clock)
		cfgYAML = strings.ReplaceAll(cfgYAML, "URL("+n+")", e.servers[n].URL)
	}
	cfg, err := config.Load([]byte(cfgYAML))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	e.cfg = cfg
	e.d = e.newDispatcher()
	return e
}

// newDispatcher starts a fresh dispatcher on the env's store, as after a
// restart.
func (e *env) newDispatcher() *dispatch.Dispatcher {
	e.t.Helper()
	ints, err := e.cfg.Integrations(notify.Options{Clock: e.clock})
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Options{
		Config: e.cfg, Storage: e.store, Integrations: ints, Clock: e.clock,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) ingest(alerts ...alert.Alert) {
	e.t.Helper()
	res, err := e.d.Ingest(context.Background(), alerts...)
	if err != nil || len(res.Rejected) > 0 {
		e.t.Fatalf("Ingest: %v %+v", err, res.Rejected)
	}
}

// at moves the clock to t0+d and flushes the due groups.
func (e *env) at(d time.Duration) {
	e.t.Helper()
	e.clock.Set(t0.Add(d))
	e.d.Flush(context.Background())
}

// messages decodes the webhook messages the recorder got.
func (e *env) messages(server string) []webhook.Message {
	e.t.Helper()
	var out []webhook.Message
	for _, r := range e.servers[server].Requests() {
		var m webhook.Message
		if err := json.Unmarshal(r.Body, &m); err != nil {
			e.t.Fatalf("request body is not a webhook message: %v", err)
		}
		out = append(out, m)
	}
	return out
}

// summary renders a message as "status: name=state name=state" with the
// alerts sorted by name, for compact assertions.
func summary(m webhook.Message) string {
	var parts []string
	for _, a := range m.Alerts {
		parts = append(parts, a.Labels["alertname"]+"="+a.Status)
	}
	slices.Sort(parts)
	return m.Status + ": " + strings.Join(parts, " ")
}

func summaries(ms []webhook.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = summary(m)
	}
	return out
}

func mk(name, ns string, sev alert.Severity, src alert.Source, start time.Duration) alert.Alert {
	return alert.Alert{
		Labels:   alert.LabelSet{"alertname": name, "namespace": ns},
		Severity: sev, Source: src,
		StartsAt: t0.Add(start),
	}
}

func resolved(a alert.Alert, end time.Duration) alert.Alert {
	a = a.Clone()
	a.EndsAt = t0.Add(end)
	return a
}

func assertSummaries(t *testing.T, got []webhook.Message, want ...string) {
	t.Helper()
	g := summaries(got)
	if len(want) == 0 {
		want = []string{}
	}
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("notifications:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}

func notifyOpts(e *env) notify.Options { return notify.Options{Clock: e.clock} }
