package dispatch_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/memstore"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

// TestAckSurvivesIngestInOtherProcess runs split roles on one storage: an
// ingest dispatcher holds the alert in memory, an API-only dispatcher
// acknowledges it in storage, and the ingest dispatcher's later updates
// must keep that acknowledgement until the alert resolves and fires again.
func TestAckSurvivesIngestInOtherProcess(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) alert.Storage
	}{
		{"memstore", func(*testing.T) alert.Storage { return memstore.New() }},
		{"sqlite", func(t *testing.T) alert.Storage {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "alerts.db"))
			if err != nil {
				t.Fatalf("open sqlite: %v", err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		}},
	}
	// Each step is done by the ingest process unless ack is set; wantAck
	// is who the stored acknowledgement names afterwards ("" for none).
	a := mk("A", "prod", alert.SeverityHigh, alert.SourceFinding, 0)
	a.Annotations = map[string]string{"summary": "v1"}
	update := a.Clone()
	update.Annotations = map[string]string{"summary": "v2"}
	steps := []struct {
		name    string
		at      time.Duration
		ingest  []alert.Alert
		ack     string
		wantAck string
	}{
		{name: "first ingest", at: 0, ingest: []alert.Alert{a}, wantAck: ""},
		{name: "api process acknowledges", at: time.Minute, ack: "alice", wantAck: "alice"},
		{name: "same alert re-sent", at: 2 * time.Minute, ingest: []alert.Alert{a}, wantAck: "alice"},
		{name: "annotations updated", at: 3 * time.Minute, ingest: []alert.Alert{update}, wantAck: "alice"},
		{name: "resolved", at: 4 * time.Minute, ingest: []alert.Alert{resolved(update, 4*time.Minute)}, wantAck: "alice"},
		{name: "fires again: new episode", at: 10 * time.Minute, ingest: []alert.Alert{mk("A", "prod", alert.SeverityHigh, alert.SourceFinding, 10*time.Minute)}, wantAck: ""},
		{name: "api process acknowledges the new episode", at: 11 * time.Minute, ack: "bob", wantAck: "bob"},
		{name: "re-sent in a batch twice", at: 12 * time.Minute, ingest: []alert.Alert{update, update}, wantAck: "bob"},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			storage := st.open(t)
			clock := alerttest.NewClock(t0)
			ingester := newSplitDispatcher(t, storage, clock)
			api := newSplitDispatcher(t, storage, clock)
			norm := a.Clone()
			if err := norm.Normalize(); err != nil {
				t.Fatal(err)
			}
			fp := norm.Fingerprint()
			for _, s := range steps {
				clock.Set(t0.Add(s.at))
				if s.ack != "" {
					if _, err := api.Acknowledge(ctx, fp, s.ack, "looking"); err != nil {
						t.Fatalf("%s: Acknowledge: %v", s.name, err)
					}
				}
				if len(s.ingest) > 0 {
					res, err := ingester.Ingest(ctx, s.ingest...)
					if err != nil || len(res.Rejected) > 0 {
						t.Fatalf("%s: Ingest: %v %+v", s.name, err, res.Rejected)
					}
				}
				got, err := storage.GetAlert(ctx, fp)
				if err != nil {
					t.Fatalf("%s: GetAlert: %v", s.name, err)
				}
				gotAck := ""
				if got.Ack != nil {
					gotAck = got.Ack.By
				}
				if gotAck != s.wantAck {
					t.Fatalf("%s: stored ack by %q, want %q (alert %+v)", s.name, gotAck, s.wantAck, got)
				}
			}
		})
	}
}

func newSplitDispatcher(t *testing.T, storage alert.Storage, clock *alerttest.Clock) *dispatch.Dispatcher {
	t.Helper()
	cfg, err := config.Load([]byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"))
	if err != nil {
		t.Fatal(err)
	}
	ints, err := cfg.Integrations(notify.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Options{Config: cfg, Storage: storage, Integrations: ints, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
