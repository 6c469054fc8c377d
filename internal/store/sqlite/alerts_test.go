package sqlite_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
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

// TestQueryAlertsSeesOtherWriters checks that a store reading alerts
// (which keeps decoded alerts) sees what another store on the same
// database file, as another process would, writes.
func TestQueryAlertsSeesOtherWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kubeward.db")
	reader, writer := open(t, path), open(t, path)
	t.Cleanup(func() { reader.Close(); writer.Close() })
	data := alerttest.QueryDataset()[:20]
	if err := writer.PutAlerts(ctx, data); err != nil {
		t.Fatal(err)
	}
	q := alert.AlertQuery{Limit: 10}
	alerttest.AssertQuery(t, reader, data, q)
	changed := data[3].Clone()
	changed.Ack = &alert.Ack{By: "bob", Comment: "from another process", At: time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)}
	changed.Annotations["summary"] = "changed elsewhere"
	if err := writer.PutAlerts(ctx, []alert.Alert{changed}); err != nil {
		t.Fatal(err)
	}
	data[3] = changed
	alerttest.AssertQuery(t, reader, data, q)
}

// BenchmarkQueryAlerts measures reading the first page of 50 alerts, the
// newest first, out of 10,000 (and counting them), as GET /api/v1/alerts
// does: paged in SQL over the order index, the page's alerts decoded once
// and then served from the store's cache while they do not change.
//
//	go test ./internal/store/sqlite -run '^$' -bench QueryAlerts
func BenchmarkQueryAlerts(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "kubeward.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	alerts := make([]alert.Alert, 10_000)
	for i := range alerts {
		alerts[i] = alert.Alert{
			Labels:      alert.LabelSet{"alertname": fmt.Sprintf("A%02d", i%40), "namespace": fmt.Sprintf("ns-%02d", i%25), "pod": fmt.Sprintf("pod-%05d", i)},
			Annotations: map[string]string{"summary": fmt.Sprintf("alert %d", i)},
			Severity:    alert.SeverityHigh, Source: alert.SourceDetection,
			StartsAt: start.Add(-time.Duration(i) * time.Second), UpdatedAt: start,
		}
	}
	if err := s.PutAlerts(ctx, alerts); err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name string
		q    alert.AlertQuery
	}{
		{"first-page", alert.AlertQuery{Limit: 50}},
		{"namespace-page", alert.AlertQuery{Matchers: []alert.Matcher{{Name: "namespace", Type: alert.MatchEqual, Value: "ns-07"}}, Limit: 50}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				page, total, err := s.QueryAlerts(ctx, bm.q)
				if err != nil || len(page) != 50 || total == 0 {
					b.Fatalf("QueryAlerts: %d alerts of %d, err %v", len(page), total, err)
				}
			}
		})
	}
}

// TestQueryAlertsConcurrently reads pages from several goroutines while
// alerts are rewritten, so that the race detector checks the store's
// cache of decoded alerts, and checks every page read is whole and in
// order.
func TestQueryAlertsConcurrently(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "kubeward.db"))
	t.Cleanup(func() { s.Close() })
	data := alerttest.QueryDataset()
	if err := s.PutAlerts(ctx, data); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 5)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				page, total, err := s.QueryAlerts(ctx, alert.AlertQuery{Limit: 20, Offset: 5})
				switch {
				case err != nil:
					errs <- err
					return
				case total != len(data) || len(page) != 20:
					errs <- fmt.Errorf("page of %d alerts of %d, want 20 of %d", len(page), total, len(data))
					return
				case !slices.IsSortedFunc(page, func(a, b alert.Alert) int { return alert.AlertOrder(&a, &b) }):
					errs <- fmt.Errorf("page not in alert.AlertOrder")
					return
				}
				page[0].Labels["pod"] = "mutated" // a copy: must not matter
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			a := data[5+i%20].Clone()
			a.Annotations["summary"] = fmt.Sprintf("rewrite %d", i)
			if err := s.PutAlerts(ctx, []alert.Alert{a}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
