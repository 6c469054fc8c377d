package sqlite_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

func TestAlertStorageContract(t *testing.T) {
	alerttest.RunStorageContract(t, func(t *testing.T) alert.Storage {
		s := open(t, filepath.Join(t.TempDir(), "kubeward.db"))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// BenchmarkPutAlerts measures storing batches of 100 new alerts, the
// pipeline's write on ingest.
func BenchmarkPutAlerts(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "kubeward.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	benchmarkPutAlerts(b, s)
}

func benchmarkPutAlerts(b *testing.B, s alert.Storage) {
	ctx := context.Background()
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	batch := make([]alert.Alert, 100)
	n := 0
	for b.Loop() {
		for i := range batch {
			n++
			batch[i] = alert.Alert{
				Labels:      alert.LabelSet{"alertname": "Bench", "namespace": "prod", "pod": fmt.Sprintf("pod-%d", n), "severity": "high", "source": "detection"},
				Annotations: map[string]string{"summary": "benchmark alert"},
				Severity:    alert.SeverityHigh, Source: alert.SourceDetection,
				StartsAt: start, EndsAt: start.Add(time.Hour), UpdatedAt: start,
			}
		}
		if err := s.PutAlerts(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "alerts/s")
}

// TestAlertPipelineSurvivesRestart runs the real pipeline on the store,
// restarts it on the reopened database file and checks that the alerts
// are recovered and that what was already delivered is not sent again.
func TestAlertPipelineSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kubeward.db")
	clock := alerttest.NewClock(alerttest.Base)
	hook := alerttest.NewRecorder(t, clock)
	cfg, err := config.Load([]byte("route: {receiver: hook, group_by: [namespace], group_wait: 30s, group_interval: 5m, repeat_interval: 4h}\nreceivers:\n  - name: hook\n    webhook_configs: [{url: '" + hook.URL + "'}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	start := func() (*dispatch.Dispatcher, *sqlite.Store) {
		s := open(t, path)
		ints, err := cfg.Integrations(notify.Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		d, err := dispatch.New(dispatch.Options{Config: cfg, Storage: s, Integrations: ints, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		return d, s
	}
	d, s := start()
	var in []alert.Alert
	for _, a := range alerttest.SampleAlerts() {
		in = append(in, *a)
	}
	if _, err := d.Ingest(ctx, in...); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	d.Flush(ctx)
	if n := len(hook.Requests()); n != 1 {
		t.Fatalf("%d notifications before the restart, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	d, s = start()
	defer s.Close()
	if got := d.Stats().Alerts; got != len(in) {
		t.Fatalf("%d alerts recovered, want %d", got, len(in))
	}
	clock.Advance(time.Minute)
	d.Flush(ctx)
	if n := len(hook.Requests()); n != 1 {
		t.Fatalf("%d notifications after the restart, want still 1: the notification log must prevent a repeat", n)
	}
	// The recovered group is live: a change is notified on its next tick.
	resolved := in[0]
	resolved.EndsAt = clock.Now()
	if _, err := d.Ingest(ctx, resolved); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Minute)
	d.Flush(ctx)
	if n := len(hook.Requests()); n != 2 {
		t.Fatalf("%d notifications after resolving an alert, want 2", n)
	}
}
