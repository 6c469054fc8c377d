package dispatch_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/memstore"
	"github.com/kubeward/kubeward/internal/alert/notify"
)

// printer is a Notifier that prints what it would send.
type printer struct{}

func (printer) Notify(ctx context.Context, receiver, groupKey string, alerts []*alert.Alert) (bool, error) {
	g, _ := notify.GroupFrom(ctx)
	fmt.Printf("%s %s channel=%s:", receiver, groupKey, g.Channel)
	for _, a := range alerts {
		fmt.Printf(" %s", a.Name())
	}
	fmt.Println()
	return false, nil
}

// Example wires the pipeline: load a configuration, build the receivers'
// integrations (here replaced by a printer), start a dispatcher on a
// storage, recover what a previous run left, ingest alerts and let the
// group timers fire. In production Run replaces the Flush calls.
func Example() {
	cfg, err := config.Load([]byte(`
route:
  receiver: chat
  group_by: [namespace]
  group_wait: 30s
  channel: '#app-alerts'
  routes:
    - matchers: ['source="detection"']
      channel: '#falco-alerts'
receivers:
  - name: chat
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	clock := alerttest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	d, err := dispatch.New(dispatch.Options{
		Config:       cfg,
		Storage:      memstore.New(),
		Integrations: map[string][]notify.Integration{"chat": {{Receiver: "chat", Kind: "print", Notifier: printer{}}}},
		Clock:        clock,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := d.Recover(ctx); err != nil {
		fmt.Println(err)
		return
	}
	_, err = d.Ingest(ctx,
		alert.Alert{Labels: alert.LabelSet{"alertname": "TerminalShell", "namespace": "prod"}, Severity: alert.SeverityCritical, Source: alert.SourceDetection, StartsAt: clock.Now()},
		alert.Alert{Labels: alert.LabelSet{"alertname": "CVE-2024-3094", "namespace": "prod"}, Severity: alert.SeverityHigh, Source: alert.SourceFinding, StartsAt: clock.Now()},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	clock.Advance(30 * time.Second)
	d.Flush(ctx)
	// Unordered output:
	// chat {}/{source="detection"}/0:{namespace="prod"} channel=#falco-alerts: TerminalShell
	// chat {}:{namespace="prod"} channel=#app-alerts: CVE-2024-3094
}
